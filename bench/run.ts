/**
 * `npm run bench -- [--scenario NAME[,NAME…]|all|scaling] [--namespaces N] [--registries R] [options]`
 *
 * Benchmarks eatr (dist/main.js) against its own local control plane (etcd + kube-apiserver, see
 * test/env) and a local ECR endpoint: cold start, the machine's own write ceiling, warm restart, churn,
 * latency of a new namespace, a forced token renewal under the default client rate limit, and (once the
 * controller has leader election) failover. Prints a table with the goals and writes
 * bench/results/latest.json plus a dated copy. `--scenario scaling` runs cold (and the ceiling) at
 * several sizes and draws docs/bench-scaling.svg. `--scenario sts` gives every registry an AssumeRole
 * credential secret, runs a local STS endpoint beside the ECR endpoint and counts STS calls per registry
 * at two namespace counts.
 *
 * Everything it starts is stopped on every exit path: try/finally, the signal and fatal-error handlers of
 * test/env/processes.ts, the control plane's orphan watchdog, and each controller stopping itself when its
 * stdin (a pipe from the bench) closes.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { distFreshness } from "../test/env/dist-freshness.ts";
import { installCleanupHandlers } from "../test/env/processes.ts";
import { Env, round, type EnvOptions } from "./lib/env.ts";
import {
  evaluateGoals,
  renderScalingSvg,
  renderTable,
  type Results,
  type ScalingPoint,
} from "./lib/report.ts";
import {
  baselineLoop,
  ceiling,
  churn,
  defaults,
  cold,
  failover,
  latency,
  leaderElectionAvailable,
  renewal,
  setup,
  sts,
  warm,
  type Params,
} from "./lib/scenarios.ts";
import type { Controller } from "./lib/controller.ts";
import {
  chartMemoryLimit,
  imageEnv,
  imageNodeFlags,
  memoryLimit,
  parseQuantity,
  type MemoryLimit,
} from "./lib/memory-limit.ts";

const repoRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));
/** The controller under test: dist/main.js, or --main. */
let MAIN_JS = join(repoRoot, "dist", "main.js");
/** The memory cgroup limit every controller runs under (undefined: none). */
let MEMORY_LIMIT: MemoryLimit | undefined;
/** --restricted: controllers run with -restrict-to-declared-registries (the registries in a config file). */
let RESTRICTED = false;
const ORDER = [
  "cold",
  "ceiling",
  "defaults",
  "baseline-loop",
  "warm",
  "churn",
  "latency",
  "failover",
  "renewal",
] as const;
type Scenario = (typeof ORDER)[number];
const NEEDS: Partial<Record<Scenario, Scenario[]>> = {
  ceiling: ["cold"],
  defaults: ["cold"],
  "baseline-loop": ["cold"],
  warm: ["cold"],
  churn: ["warm"],
  latency: ["warm"],
  failover: ["cold"],
  renewal: ["cold"],
};

/** Read once: the chart's default memory limit and the image's node flags (how the pod runs eatr). */
const CHART_MEMORY_LIMIT = chartMemoryLimit(repoRoot);
const IMAGE_NODE_FLAGS = imageNodeFlags(repoRoot);
const IMAGE_ENV = imageEnv(repoRoot);

const USAGE = `usage: npm run bench -- [options]
  --scenario NAMES        all (default), scaling, sts, or a comma list of ${ORDER.join(", ")}
                          (dependencies are added: e.g. latency runs cold and warm first). sts (not in
                          all): every registry's credential secret assumes a role (static keys +
                          aws_role_arn) from a local STS endpoint; at each --sts-sizes namespace count a
                          fresh control plane, a controller run for --sts-seconds with
                          -auth-token-renewal-interval 20s; reports STS calls per registry (measured, and
                          per hour by the caching rule: renewed 5 min before expiry, at most half the life)
                          defaults: after ceiling, eatr's pull secrets are deleted and a controller with
                          its DEFAULT -kube-api-qps/-kube-api-burst and a ServiceAccount token (subject to
                          API Priority and Fairness; admin is exempt) writes them again: seconds, and the
                          429s seen by eatr and counted by the API server (apiserver_flowcontrol_rejected_requests_total).
                          baseline-loop: the same N·R creates by a plain sequential loop (one at a time, as
                          nabsul/k8s-ecr-login-renew does) with that token, on the same API server
  --namespaces N          labelled namespaces (default 200)
  --registries R          registries each namespace asks for (default 3)
  --workers W             controller -workers and the ceiling's concurrency (default 4)
  --sizes A,B,C           sizes for --scenario scaling (default 1000,5000,10000)
  --churn-seconds S       churn duration (default 60)
  --churn-rate U          namespace updates per second during churn (default 50)
  --samples K             latency samples (default 50)
  --renewal-interval S    -auth-token-renewal-interval for the renewal scenario, seconds (default 60)
  --setup-concurrency C   concurrency of the bench's own setup requests (default 16)
  --service-accounts K    ServiceAccounts per namespace (default 0); above 0, cold runs eatr with
                          -service-accounts '*' and also waits for every one of them to be patched
  --restricted            run every controller with -restrict-to-declared-registries and a config file
                          declaring the bench's registries: one watch per registry by name (README:
                          Least privilege) instead of the label-selected one
  --profile               run controllers with --cpu-prof and take a heap snapshot at the end of cold
                          (written under bench/results/profiles/<run>/)
  --memory-limit Q|none   run each controller in a memory cgroup with this limit, as in a pod (default: the
                          chart's resources.limits.memory, ${CHART_MEMORY_LIMIT}; Node sizes its heap from it)
  --node-arg ARG          extra node flag for every controller (repeatable), after the image's own
                          (${IMAGE_NODE_FLAGS.join(" ") || "none"}, from the Dockerfile's ENTRYPOINT)
  --failover-kills K      leader kills per signal (SIGKILL and SIGTERM) in failover (default 10)
  --ceiling-client C      https (default: a minimal keep-alive client) or client-node (the controller's library)
  --sts-sizes A,B         namespace counts for --scenario sts (default 10,1000)
  --sts-seconds S         sts: how long each controller runs, from its start (default 45)
  --sts-duration S        sts: aws_role_duration_seconds of the credential secrets (default 900, the
                          smallest eatr and AWS accept)
  --svg-from FILE.json    only draw docs/bench-scaling.svg again from an earlier run's scaling results
  --svg-compare F.json    with --svg-from: draw another run's scaling results as a dashed baseline
  --main FILE             the controller script to run (default dist/main.js), e.g. a build of another commit
  --results DIR           where results go (default bench/results)
`;

const started = performance.now();
function log(line: string): void {
  process.stderr.write(`bench [${((performance.now() - started) / 1000).toFixed(1)}s]: ${line}\n`);
}

function gitHead(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

function nonNegativeInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${name} must be 0 or a positive integer, got ${value}`);
  return n;
}

function ceilingClient(value: string): "https" | "client-node" {
  if (value === "https" || value === "client-node") return value;
  throw new Error(`--ceiling-client must be https or client-node, got ${value}`);
}

interface Options {
  scenarios: Set<Scenario>;
  scaling: boolean;
  sts: { sizes: number[]; windowSeconds: number; credentialSeconds: number } | undefined;
  sizes: number[];
  failoverKills: number;
  svgFrom: string | undefined;
  main: string | undefined;
  /** A Kubernetes quantity, or undefined for no limit. */
  memoryLimit: string | undefined;
  svgCompare: string | undefined;
  params: Params;
  resultsDir: string;
  restricted: boolean;
}

function parseOptions(): Options | undefined {
  const { values } = parseArgs({
    options: {
      scenario: { type: "string", default: "all" },
      namespaces: { type: "string", default: "200" },
      registries: { type: "string", default: "3" },
      workers: { type: "string", default: "4" },
      sizes: { type: "string" },
      "churn-seconds": { type: "string", default: "60" },
      "churn-rate": { type: "string", default: "50" },
      samples: { type: "string", default: "50" },
      "renewal-interval": { type: "string", default: "60" },
      "setup-concurrency": { type: "string", default: "16" },
      "service-accounts": { type: "string", default: "0" },
      profile: { type: "boolean", default: false },
      restricted: { type: "boolean", default: false },
      "node-arg": { type: "string", multiple: true, default: [] },
      "memory-limit": { type: "string", default: CHART_MEMORY_LIMIT },
      "ceiling-client": { type: "string", default: "https" },
      "failover-kills": { type: "string", default: "10" },
      "sts-sizes": { type: "string", default: "10,1000" },
      "sts-seconds": { type: "string", default: "45" },
      "sts-duration": { type: "string", default: "900" },
      "svg-from": { type: "string" },
      main: { type: "string" },
      "svg-compare": { type: "string" },
      results: { type: "string", default: join(repoRoot, "bench", "results") },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  const wanted = values.scenario.split(",").map((x) => x.trim());
  const scenarios = new Set<Scenario>();
  let scaling = values.sizes !== undefined;
  let withSts = false;
  for (const w of wanted) {
    if (w === "all") ORDER.forEach((x) => scenarios.add(x));
    else if (w === "scaling") scaling = true;
    else if (w === "sts") withSts = true;
    else if ((ORDER as readonly string[]).includes(w)) scenarios.add(w as Scenario);
    else throw new Error(`unknown scenario ${w}`);
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const x of [...scenarios])
      for (const dep of NEEDS[x] ?? [])
        if (!scenarios.has(dep)) {
          scenarios.add(dep);
          changed = true;
        }
  }
  const stamp = new Date()
    .toISOString()
    .replace(/:/g, "-")
    .replace(/\.\d+Z$/, "Z");
  const resultsDir = resolve(values.results);
  const credentialSeconds = positiveInt("sts-duration", values["sts-duration"]);
  if (credentialSeconds < 900 || credentialSeconds > 43_200)
    throw new Error(
      `--sts-duration must be from 900 to 43200 seconds (what eatr accepts), got ${credentialSeconds}`,
    );
  return {
    scenarios,
    scaling,
    sts: withSts
      ? {
          sizes: values["sts-sizes"].split(",").map((x) => positiveInt("sts-sizes", x.trim())),
          windowSeconds: positiveInt("sts-seconds", values["sts-seconds"]),
          credentialSeconds,
        }
      : undefined,
    failoverKills: positiveInt("failover-kills", values["failover-kills"]),
    svgFrom: values["svg-from"],
    svgCompare: values["svg-compare"],
    main: values.main === undefined ? undefined : resolve(values.main),
    memoryLimit: values["memory-limit"] === "none" ? undefined : values["memory-limit"],
    sizes: (values.sizes ?? "1000,5000,10000").split(",").map((x) => positiveInt("sizes", x.trim())),
    resultsDir,
    restricted: values.restricted,
    params: {
      namespaces: positiveInt("namespaces", values.namespaces),
      registries: positiveInt("registries", values.registries),
      workers: positiveInt("workers", values.workers),
      fastQps: 10_000,
      setupConcurrency: positiveInt("setup-concurrency", values["setup-concurrency"]),
      churnSeconds: positiveInt("churn-seconds", values["churn-seconds"]),
      churnRate: positiveInt("churn-rate", values["churn-rate"]),
      samples: positiveInt("samples", values.samples),
      renewalIntervalSeconds: positiveInt("renewal-interval", values["renewal-interval"]),
      renewalQps: 200,
      renewalBurst: 1000,
      profileDir: values.profile ? join(resultsDir, "profiles", stamp) : undefined,
      nodeArgs: [...IMAGE_NODE_FLAGS, ...values["node-arg"]],
      ceilingClient: ceilingClient(values["ceiling-client"]),
      serviceAccounts: nonNegativeInt("service-accounts", values["service-accounts"]),
      log,
    },
  };
}

function envOptions(logsDir: string, registries: number, stsDurationSeconds?: number): EnvOptions {
  return {
    registries,
    mainJs: MAIN_JS,
    controllerEnv: IMAGE_ENV,
    logsDir,
    log,
    memoryLimit: MEMORY_LIMIT,
    restricted: RESTRICTED,
    ...(stsDurationSeconds === undefined ? {} : { sts: { durationSeconds: stsDurationSeconds } }),
  };
}

async function runMain(o: Options, results: Results, logsDir: string): Promise<string> {
  const p = o.params;
  const env = await Env.start(envOptions(logsDir, p.registries));
  const failed = new Set<Scenario>();
  let running: Controller | undefined;
  const version = env.cp.version;
  const attempt = async (name: Scenario, fn: () => Promise<void>): Promise<void> => {
    if (!o.scenarios.has(name)) return;
    const missing = (NEEDS[name] ?? []).filter((d) => failed.has(d) || !o.scenarios.has(d));
    if (missing.length > 0) {
      failed.add(name);
      (results as Record<string, unknown>)[name] = { error: `skipped: ${missing.join(", ")} failed` };
      return;
    }
    log(`scenario ${name}`);
    try {
      await fn();
    } catch (err) {
      failed.add(name);
      const message = err instanceof Error ? err.message : String(err);
      (results as Record<string, unknown>)[name] = { error: message };
      log(`scenario ${name} FAILED: ${message}`);
    }
  };
  try {
    log(`creating ${p.namespaces} namespaces × ${p.registries} registry labels`);
    const { result, names } = await setup(env, p);
    results.setup = result;
    await attempt("cold", async () => {
      results.cold = await cold(env, p, names);
      log(
        `cold: ${results.cold.seconds} s, peak RSS ${results.cold.peakRssMb} MiB` +
          (results.cold.serviceAccounts > 0
            ? `, ${results.cold.serviceAccounts} ServiceAccounts patched after ${results.cold.serviceAccountSeconds} s (${JSON.stringify(results.cold.serviceAccountUpdates)})`
            : ""),
      );
    });
    await attempt("ceiling", async () => {
      results.ceiling = await ceiling(env, p, names);
      if (results.cold) {
        results.cold.ceilingRatio = round(results.cold.writesPerSecond / results.ceiling.writesPerSecond, 2);
        results.cold.ceilingRatioWritePhase = round(
          results.cold.writesPerSecondWritePhase / results.ceiling.writesPerSecondWritePhase,
          2,
        );
      }
      log(`ceiling: ${results.ceiling.writesPerSecond}/s`);
    });
    await attempt("defaults", async () => {
      results.defaults = await defaults(env, p, names);
      log(
        `defaults: ${results.defaults.seconds} s at eatr's default limit, 429s: eatr ${results.defaults.throttledByEatr}, API server ${results.defaults.flowControl.rejectedTotal}`,
      );
    });
    await attempt("baseline-loop", async () => {
      const b = await baselineLoop(env, p, names);
      results["baseline-loop"] = b;
      log(`baseline-loop: ${b.seconds} s for ${b.secrets} sequential creates`);
    });
    await attempt("warm", async () => {
      const w = await warm(env, p, names);
      results.warm = w.result;
      running = w.controller;
      log(`warm: writes ${w.result.writes}, ready after ${w.result.secondsToReady} s`);
    });
    await attempt("churn", async () => {
      if (!running) throw new Error("no running controller");
      results.churn = await churn(env, p, names, running);
      log(`churn: writes ${results.churn.writes}, ecrCalls ${results.churn.ecrCalls}`);
    });
    await attempt("latency", async () => {
      if (!running) throw new Error("no running controller");
      results.latency = await latency(env, p, running);
      log(`latency: p50 ${results.latency.p50Ms} ms, p99 ${results.latency.p99Ms} ms`);
    });
    await running?.stop();
    running = undefined;
    await attempt("failover", async () => {
      if (!(await leaderElectionAvailable(MAIN_JS))) {
        results.failover = { available: false, note: "dist/main.js --help does not list -leader-elect" };
        process.stdout.write("failover: not available (dist/main.js has no -leader-elect)\n");
        return;
      }
      results.failover = await failover(env, p, o.failoverKills);
      log(
        `failover: SIGKILL median ${results.failover.sigkill?.medianMs ?? "-"} ms, ` +
          `SIGTERM median ${results.failover.sigterm?.medianMs ?? "-"} ms`,
      );
    });
    // Last: with a short renewal interval it leaves secrets holding tokens of several generations.
    await attempt("renewal", async () => {
      results.renewal = await renewal(env, p);
      log(`renewal: ${results.renewal.seconds} s, underRateLimit ${results.renewal.underRateLimit}`);
    });
  } finally {
    await running?.stop();
    log("stopping the controllers, the ECR endpoint and the control plane");
    await env.stop();
  }
  return version;
}

async function runScaling(o: Options, results: Results, logsDir: string): Promise<string> {
  const points: ScalingPoint[] = [];
  let version = "";
  for (const n of o.sizes) {
    const p: Params = { ...o.params, namespaces: n };
    log(`scaling: N=${n} × ${p.registries}: fresh control plane`);
    const env = await Env.start(envOptions(join(logsDir, `scaling-${n}`), p.registries));
    version = env.cp.version;
    try {
      const { names } = await setup(env, p);
      const c = await cold(env, p, names);
      const ceil = await ceiling(env, p, names);
      points.push({
        namespaces: n,
        registries: p.registries,
        coldSeconds: c.seconds,
        ceilingSeconds: ceil.seconds,
        ceilingRatio: round(c.writesPerSecond / ceil.writesPerSecond, 2),
        peakRssMb: c.peakRssMb,
        cpuSeconds: c.cpuSeconds,
        otherCpuSeconds: round(c.otherCpuSeconds + ceil.otherCpuSeconds, 2),
      });
      log(`scaling: N=${n}: cold ${c.seconds} s, ceiling ${ceil.seconds} s, peak RSS ${c.peakRssMb} MiB`);
    } finally {
      await env.stop();
    }
    results.scaling = points;
  }
  return version;
}

/** ECR renewal interval of the sts scenario: the smallest eatr accepts, so the window sees several. */
const STS_ECR_INTERVAL_SECONDS = 20;

async function runSts(o: Options, results: Results, logsDir: string): Promise<string> {
  const cfg = o.sts;
  if (!cfg) return "";
  let version = "";
  results.sts = [];
  for (const n of cfg.sizes) {
    const p: Params = { ...o.params, namespaces: n };
    log(`sts: N=${n} × ${p.registries}: fresh control plane, local ECR and STS`);
    const env = await Env.start(envOptions(join(logsDir, `sts-${n}`), p.registries, cfg.credentialSeconds));
    version = env.cp.version;
    try {
      const { names } = await setup(env, p);
      const r = await sts(env, p, names, {
        windowSeconds: cfg.windowSeconds,
        credentialSeconds: cfg.credentialSeconds,
        ecrIntervalSeconds: STS_ECR_INTERVAL_SECONDS,
      });
      results.sts.push(r);
      log(
        `sts: N=${n}: ${r.stsCalls} STS calls in ${r.windowSeconds} s for ${r.registries} registries ` +
          `(${r.ecrCalls} ECR calls); ${r.stsCallsPerRegistryPerHour}/registry/h`,
      );
    } finally {
      await env.stop();
    }
  }
  return version;
}

async function main(): Promise<number> {
  let o: Options | undefined;
  try {
    o = parseOptions();
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (!o) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (o.svgFrom !== undefined) return svgFrom(o.svgFrom, o.svgCompare);
  if (o.main !== undefined) MAIN_JS = o.main;
  RESTRICTED = o.restricted;
  if (!existsSync(MAIN_JS)) {
    process.stderr.write(`bench: ${MAIN_JS} is missing: run npm run build first\n`);
    return 2;
  }
  let memory: { requested: string | null; bytes: number | null; note: string } = {
    requested: null,
    bytes: null,
    note: "none (--memory-limit none)",
  };
  if (o.memoryLimit !== undefined && o.params.profileDir !== undefined) {
    log(`--profile: controllers run without the ${o.memoryLimit} memory limit (a heap snapshot needs room)`);
    memory = { requested: o.memoryLimit, bytes: null, note: "not applied: --profile" };
  } else if (o.memoryLimit !== undefined) {
    const bytes = parseQuantity(o.memoryLimit);
    const limit = memoryLimit(bytes);
    if (typeof limit === "string") {
      log(`warning: controllers run WITHOUT the ${o.memoryLimit} memory limit: ${limit}`);
      memory = { requested: o.memoryLimit, bytes: null, note: `not applied: ${limit}` };
    } else {
      MEMORY_LIMIT = limit;
      memory = { requested: o.memoryLimit, bytes, note: `${o.memoryLimit} memory cgroup per controller` };
    }
  }
  const olderThanSrc = distFreshness(repoRoot, MAIN_JS) === "stale";
  if (o.main === undefined && olderThanSrc)
    log("warning: dist/main.js is older than src/ (npm run build to measure the current code)");

  const controller = {
    main: MAIN_JS,
    builtAt: statSync(MAIN_JS).mtime.toISOString(),
    olderThanSrc,
    gitHead: gitHead(),
  };
  const startedAt = new Date();
  const stamp = startedAt
    .toISOString()
    .replace(/:/g, "-")
    .replace(/\.\d+Z$/, "Z");
  const logsDir = join(o.resultsDir, "logs", stamp);
  mkdirSync(logsDir, { recursive: true });
  const results: Results = {};
  const p = o.params;
  const machine = {
    cpus: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    loadAverageAtStart: loadavg().map((x) => round(x, 2)),
    node: process.version,
  };
  let version = "";
  let error: string | undefined;
  try {
    if (o.scenarios.size > 0) version = await runMain(o, results, logsDir);
    if (o.scaling) version = await runScaling(o, results, logsDir);
    if (o.sts) version = await runSts(o, results, logsDir);
  } catch (err) {
    error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`FAILED: ${error}`);
  }

  const goals = evaluateGoals(results, p.namespaces, p.registries);
  const command = `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim();
  const header = [
    `eatr bench: ${command}`,
    `${[o.scenarios.size > 0 ? `N=${p.namespaces} namespaces` : "", o.scaling ? `scaling N=${o.sizes.join(", ")}` : "", o.sts ? `sts N=${o.sts.sizes.join(", ")}` : ""].filter((x) => x !== "").join("; ")} × R=${p.registries} registries, workers ${p.workers}; kube-apiserver ${version || "?"}; ` +
      `${machine.cpus} CPUs, ${machine.memoryGiB} GiB, load ${machine.loadAverageAtStart.join(" ")} at start; node ${machine.node}`,
    `cold, ceiling and warm run the controller with -kube-api-qps ${p.fastQps} -kube-api-burst ${p.fastQps}: the ` +
      `client rate limit is not what they measure. renewal runs with the defaults (qps ${p.renewalQps}, burst ${p.renewalBurst}).`,
    `controller ${controller.main.replace(`${repoRoot}/`, "")} built ${controller.builtAt} (repo HEAD ${controller.gitHead}` +
      `${controller.olderThanSrc ? "; older than src/" : ""})${p.nodeArgs.length > 0 ? `; node flags ${p.nodeArgs.join(" ")}` : ""}` +
      `; memory limit: ${memory.note}; image env ${Object.entries(IMAGE_ENV)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`,
    "One run on a shared machine: numbers vary from run to run.",
  ];
  const text = renderTable(results, goals, header);
  process.stdout.write(`\n${text}\n`);

  const json = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command,
    kubernetesVersion: version,
    machine,
    params: { ...p, log: undefined, sizes: o.scaling ? o.sizes : undefined, sts: o.sts },
    controller,
    memoryLimit: memory,
    ...results,
    goals,
    error,
  };
  mkdirSync(o.resultsDir, { recursive: true });
  const body = `${JSON.stringify(json, null, 2)}\n`;
  writeFileSync(join(o.resultsDir, "latest.json"), body);
  writeFileSync(join(o.resultsDir, `${stamp}.json`), body);
  writeFileSync(join(o.resultsDir, "latest.txt"), `${text}\n`);
  log(`wrote ${join(o.resultsDir, "latest.json")} and ${stamp}.json (controller logs in ${logsDir})`);
  if (results.scaling && results.scaling.length > 0)
    writeScalingSvg(results.scaling, startedAt, p.registries, p.workers, machine.cpus);
  return error === undefined ? 0 : 1;
}

function writeScalingSvg(
  points: ScalingPoint[],
  startedAt: Date,
  registries: number,
  workers: number,
  cpuCount: number,
  compare?: { label: string; points: ScalingPoint[]; self: string },
): void {
  const svg = renderScalingSvg(
    points,
    `eatr bench ${startedAt.toISOString().slice(0, 10)}, R=${registries}, workers ${workers}, ${cpuCount} CPUs (one run each)`,
    compare,
    compare?.self,
  );
  const svgPath = join(repoRoot, "docs", "bench-scaling.svg");
  mkdirSync(join(repoRoot, "docs"), { recursive: true });
  writeFileSync(svgPath, svg);
  log(`wrote ${svgPath}`);
}

interface ScalingRun {
  startedAt: string;
  scaling?: ScalingPoint[];
  params: { registries: number; workers: number };
  machine: { cpus: number };
  controller?: { gitHead: string };
}

/**
 * `--svg-from FILE.json [--svg-compare OTHER.json]`: draws docs/bench-scaling.svg again from the scaling
 * results of an earlier run, optionally with another run's cold start and RSS as a dashed baseline.
 */
function svgFrom(file: string, compareFile: string | undefined): number {
  const load = (f: string): ScalingRun => JSON.parse(readFileSync(f, "utf8")) as ScalingRun;
  const run = load(file);
  const other = compareFile === undefined ? undefined : load(compareFile);
  if (!run.scaling || run.scaling.length === 0 || (other && !other.scaling?.length)) {
    process.stderr.write("bench: no scaling results to draw\n");
    return 2;
  }
  const name = (r: ScalingRun): string => `eatr ${r.controller?.gitHead ?? "?"}`;
  writeScalingSvg(
    run.scaling,
    new Date(run.startedAt),
    run.params.registries,
    run.params.workers,
    run.machine.cpus,
    other?.scaling ? { label: name(other), points: other.scaling, self: name(run) } : undefined,
  );
  return 0;
}

installCleanupHandlers({ fatal: true });
const code = await main();
// Keep-alive sockets must not keep a finished bench alive.
process.exit(code);
