/**
 * The bench scenarios. Each one measures against the environment left by the previous ones (cold writes
 * the secrets warm, churn, latency and renewal start from) and returns a plain JSON object.
 */
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { parseLabels, sumMetric } from "../../test/support/prometheus-text.ts";
import type { Controller } from "./controller.ts";
import { benchRoleArn, ECR_PASSWORD_LENGTH, Env, nsName, round, type Costs } from "./env.ts";
import { forEachLimit } from "./kube.ts";
import { passwordOf, SecretTracker, type Registry } from "./tracker.ts";

const execFileAsync = promisify(execFile);

export interface Params {
  namespaces: number;
  registries: number;
  workers: number;
  /** Client-side limit given to the controller in cold, ceiling and warm (high: not what is measured). */
  fastQps: number;
  /** Concurrency of the bench's own setup requests (namespace creation, cleanup). */
  setupConcurrency: number;
  churnSeconds: number;
  churnRate: number;
  samples: number;
  renewalIntervalSeconds: number;
  renewalQps: number;
  renewalBurst: number;
  /** When set, controllers run with --cpu-prof and a heap snapshot is taken at the end of cold. */
  profileDir: string | undefined;
  /** "https": a minimal keep-alive HTTPS client; "client-node": @kubernetes/client-node's CoreV1Api. */
  ceilingClient: "https" | "client-node";
  /** Extra node flags for every controller. */
  nodeArgs: readonly string[];
  /**
   * ServiceAccounts per namespace (0: none). When above 0, setup creates them (sa-0 … sa-K-1) and cold runs
   * the controller with -service-accounts '*', so each one gets every registry's pull secret.
   */
  serviceAccounts: number;
  log: (line: string) => void;
}

// ---------------------------------------------------------------------------------------------
// helpers

/** Awaits `p`, failing on timeout, on the controller's exit and on a failed watch. */
async function within<T>(
  p: Promise<T>,
  timeoutMs: number,
  what: string,
  env: Env,
  controller?: Controller,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`));
    }, timeoutMs);
    poll = setInterval(() => {
      const err = env.tracker.failure();
      if (err) reject(new Error(`the bench's watch failed while waiting for ${what}: ${err.message}`));
      if (controller && !controller.running())
        reject(new Error(`the controller exited while waiting for ${what}\n${controller.lastLines()}`));
    }, 500);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
  }
}

/** Generous deadline for `writes` writes at `rate` per second (at least 2 minutes). */
function deadlineMs(writes: number, rate: number): number {
  return 120_000 + Math.ceil((writes / rate) * 3_000);
}

function controllerArgs(p: Params, extra: readonly string[] = []): string[] {
  return [
    "-workers",
    String(p.workers),
    "-kube-api-qps",
    String(p.fastQps),
    "-kube-api-burst",
    String(p.fastQps),
    ...extra,
  ];
}

function nodeArgs(p: Params, name: string): string[] {
  if (p.profileDir === undefined) return [...p.nodeArgs];
  const dir = `${p.profileDir}/${name}`;
  mkdirSync(dir, { recursive: true });
  return [
    ...p.nodeArgs,
    "--cpu-prof",
    `--cpu-prof-dir=${dir}`,
    `--diagnostic-dir=${dir}`,
    "--heapsnapshot-signal=SIGUSR2",
  ];
}

interface WriteCounts {
  writes: number;
  writesByOutcome: Record<string, number>;
  reconciles: number;
}

async function writeCounts(c: Controller): Promise<WriteCounts> {
  const text = await c.metricsText();
  const byOutcome: Record<string, number> = {};
  for (const op of ["create", "update", "delete"]) {
    for (const result of ["success", "error", "already_exists", "conflict", "not_found"]) {
      const n = sumMetric(text, "eatr_pull_secret_writes_total", { operation: op, result });
      if (n > 0) byOutcome[`${op}/${result}`] = n;
    }
  }
  return {
    writes: sumMetric(text, "eatr_pull_secret_writes_total"),
    writesByOutcome: byOutcome,
    reconciles: sumMetric(text, "controller_runtime_reconcile_total"),
  };
}

const s = (ms: number): number => round(ms / 1000, 2);

/** eatr_service_account_updates_total by "operation/result" (only the non-zero ones). */
async function serviceAccountCounts(c: Controller): Promise<Record<string, number>> {
  const text = await c.metricsText();
  const out: Record<string, number> = {};
  for (const op of ["add", "remove", "update"]) {
    for (const result of ["success", "conflict", "not_found", "error"]) {
      const n = sumMetric(text, "eatr_service_account_updates_total", { operation: op, result });
      if (n > 0) out[`${op}/${result}`] = n;
    }
  }
  return out;
}

/** Resolves (with the time) once the controller counts `count` successful ServiceAccount updates. */
async function serviceAccountsPatched(c: Controller, count: number): Promise<number> {
  for (;;) {
    try {
      const text = await c.metricsText();
      if (sumMetric(text, "eatr_service_account_updates_total", { result: "success" }) >= count)
        return performance.now();
    } catch {
      // not serving yet
    }
    await sleep(100);
  }
}

/** Nearest-rank percentile. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? NaN;
}

// ---------------------------------------------------------------------------------------------
// setup

export interface SetupResult {
  namespaces: number;
  registries: number;
  seconds: number;
  namespacesPerSecond: number;
  concurrency: number;
}

export async function setup(env: Env, p: Params): Promise<{ result: SetupResult; names: string[] }> {
  const t0 = performance.now();
  const names = await env.createNamespaces("bench", p.namespaces, p.setupConcurrency);
  if (p.serviceAccounts > 0) {
    p.log(`creating ${p.serviceAccounts} ServiceAccounts in each namespace`);
    const accounts = names.flatMap((ns) =>
      Array.from({ length: p.serviceAccounts }, (_, i) => ({ ns, name: `sa-${i}` })),
    );
    await forEachLimit(accounts, p.setupConcurrency, async ({ ns, name }) => {
      await env.kube.json(
        "POST",
        `/api/v1/namespaces/${ns}/serviceaccounts`,
        { metadata: { name }, imagePullSecrets: [{ name: "a-users-own-secret" }] },
        { allow: [409] },
      );
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    names,
    result: {
      namespaces: names.length,
      registries: p.registries,
      seconds: round(seconds, 2),
      namespacesPerSecond: round(names.length / seconds, 1),
      concurrency: p.setupConcurrency,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// cold

export interface ColdResult extends Costs, WriteCounts {
  namespaces: number;
  registries: number;
  secrets: number;
  /** ServiceAccounts patched (serviceAccounts per namespace × namespaces; 0 without the feature). */
  serviceAccounts: number;
  /** ServiceAccount updates by operation/result (eatr_service_account_updates_total). */
  serviceAccountUpdates: Record<string, number>;
  /** Controller spawn → every ServiceAccount patched (0 without the feature). */
  serviceAccountSeconds: number;
  /** Controller spawn → every secret current (seen by the bench's watch). */
  seconds: number;
  secondsToReady: number;
  /** First → last secret becoming current. */
  writePhaseSeconds: number;
  writesPerSecond: number;
  writesPerSecondWritePhase: number;
  peakRssMb: number;
  cpuSeconds: number;
  cpuSecondsAtDone: number;
  kubeApiQps: number;
  /** Filled in by the ceiling scenario. */
  ceilingRatio?: number;
  ceilingRatioWritePhase?: number;
}

export async function cold(env: Env, p: Params, names: readonly string[]): Promise<ColdResult> {
  const expected = names.length * env.registries.length;
  env.tracker.resetTimes();
  const before = await env.snapshot();
  const accounts = names.length * p.serviceAccounts;
  const extra = accounts > 0 ? ["-service-accounts", "*"] : [];
  const c = env.startController("cold", controllerArgs(p, extra), nodeArgs(p, "cold"));
  const timeout = deadlineMs(expected + accounts, 20);
  const ready = c.waitReady(timeout);
  ready.catch(() => undefined);
  const secretsAt = await within(
    env.tracker.whenCount(expected),
    timeout,
    `${expected} pull secrets`,
    env,
    c,
  );
  const accountsAt =
    accounts === 0
      ? secretsAt
      : await within(serviceAccountsPatched(c, accounts), timeout, `${accounts} ServiceAccounts`, env, c);
  const doneAt = Math.max(secretsAt, accountsAt);
  const cpuAtDone = c.stats().cpuSeconds;
  const readyAt = await ready;
  await c.waitIdle(60_000, names.length);
  const counts = await writeCounts(c);
  const serviceAccountUpdates = await serviceAccountCounts(c);
  const after = await env.snapshot([c.pid]);
  // Read before a heap snapshot, which takes memory of its own.
  const stats = c.stats();
  if (p.profileDir !== undefined) {
    c.signal("SIGUSR2");
    await sleep(Math.min(30_000, 2_000 + expected));
  }
  await c.stop();
  const seconds = (doneAt - c.spawnedAt) / 1000;
  const phase = (env.tracker.lastCurrentAt - env.tracker.firstCurrentAt) / 1000;
  return {
    namespaces: names.length,
    registries: env.registries.length,
    secrets: expected,
    serviceAccounts: accounts,
    serviceAccountUpdates,
    serviceAccountSeconds: accounts === 0 ? 0 : s(accountsAt - c.spawnedAt),
    seconds: round(seconds, 2),
    secondsToReady: s(readyAt - c.spawnedAt),
    writePhaseSeconds: round(phase, 2),
    writesPerSecond: round(expected / seconds, 1),
    writesPerSecondWritePhase: round(phase > 0 ? (expected - 1) / phase : NaN, 1),
    ...counts,
    peakRssMb: round(stats.peakRssMb, 1),
    cpuSeconds: round(stats.cpuSeconds, 2),
    cpuSecondsAtDone: round(cpuAtDone, 2),
    kubeApiQps: p.fastQps,
    ...Env.costs(before, after),
  };
}

// ---------------------------------------------------------------------------------------------
// ceiling

export interface CeilingResult extends Costs {
  secrets: number;
  concurrency: number;
  client: string;
  seconds: number;
  writePhaseSeconds: number;
  writesPerSecond: number;
  writesPerSecondWritePhase: number;
  errors: number;
}

const CEILING_LABEL = "bench.eatr.io/ceiling";

/**
 * The same N·R secrets (same type, size, labels and annotations, named `ceiling-<host>`, labelled for the
 * bench and not for eatr) written by a plain loop: `workers` concurrent loops, each taking a namespace and
 * creating its R secrets one after the other, as the controller's workers do, over one keep-alive HTTPS
 * client. Timed like cold: until the bench's watch has seen every secret.
 */
export async function ceiling(env: Env, p: Params, names: readonly string[]): Promise<CeilingResult> {
  const expected = names.length * env.registries.length;
  // The same check as cold's (the secret's docker config decoded down to its ECR password), so the bench
  // spends the same CPU observing both runs on this 2-core machine.
  const tracker = new SecretTracker(
    env.kube,
    env.ecr,
    env.registries,
    `${CEILING_LABEL}=true`,
    (s) => passwordOf(s, (s.metadata?.name ?? "").replace(/^ceiling-/, "")) !== undefined,
  );
  await tracker.start();
  const bodies = env.registries.map((r) => ceilingSecret(env, r));
  let errors = 0;
  let create: (namespace: string, body: object) => Promise<boolean>;
  if (p.ceilingClient === "client-node") {
    const kc = new KubeConfig();
    kc.loadFromFile(env.cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    create = (namespace, body) =>
      core.createNamespacedSecret({ namespace, body }).then(
        () => true,
        () => false,
      );
  } else {
    create = (namespace, body) =>
      env.kube.request("POST", `/api/v1/namespaces/${namespace}/secrets`, body).then(
        (res) => res.status === 201,
        () => false,
      );
  }
  try {
    const before = await env.snapshot();
    const t0 = performance.now();
    await forEachLimit(names, p.workers, async (namespace) => {
      for (const body of bodies) if (!(await create(namespace, body))) errors++;
    });
    const doneAt = await within(tracker.whenCount(expected), 120_000, "the ceiling secrets", env);
    const after = await env.snapshot();
    const seconds = (doneAt - t0) / 1000;
    const phase = (tracker.lastCurrentAt - tracker.firstCurrentAt) / 1000;
    return {
      secrets: expected,
      concurrency: p.workers,
      client:
        p.ceilingClient === "client-node"
          ? "@kubernetes/client-node CoreV1Api.createNamespacedSecret"
          : "node:https keep-alive, JSON bodies",
      seconds: round(seconds, 2),
      writePhaseSeconds: round(phase, 2),
      writesPerSecond: round(expected / seconds, 1),
      writesPerSecondWritePhase: round(phase > 0 ? (expected - 1) / phase : NaN, 1),
      errors,
      ...Env.costs(before, after),
    };
  } finally {
    tracker.stop();
    // Not timed: remove them so later scenarios run against the same objects as a real cluster would hold.
    await deleteLabelledSecrets(env, p, names, `${CEILING_LABEL}=true`).catch((err: unknown) => {
      p.log(`removing the ceiling secrets failed: ${String(err)}`);
    });
  }
}

function ceilingSecret(env: Env, r: Registry): object {
  const token = env.ecr.lastToken(r.accessKeyId);
  const auth =
    token?.authorizationToken ?? Buffer.from(`AWS:${"x".repeat(ECR_PASSWORD_LENGTH)}`).toString("base64");
  const config = { auths: { [`https://${r.host}`]: { auth } } };
  const now = Date.now();
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: `ceiling-${r.host}`,
      labels: { [CEILING_LABEL]: "true" },
      annotations: {
        "eatr/registry": r.host,
        "eatr/token-fetched-at": new Date(now).toISOString(),
        "eatr/token-expires-at": new Date(now + 12 * 3600_000).toISOString(),
        "eatr/credentials-version": "0123456789abcdef",
      },
    },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(JSON.stringify(config)).toString("base64") },
  };
}

// ---------------------------------------------------------------------------------------------
// warm

export interface WarmResult extends Costs, WriteCounts {
  secondsToReady: number;
  /** Spawn → every namespace reconciled once and the queue empty. */
  secondsToIdle: number;
  peakRssMb: number;
  cpuSeconds: number;
}

/** Restarts the controller with every secret current. Returns it still running (for churn and latency). */
export async function warm(
  env: Env,
  p: Params,
  names: readonly string[],
): Promise<{ result: WarmResult; controller: Controller }> {
  const before = await env.snapshot();
  const c = env.startController("warm", controllerArgs(p), nodeArgs(p, "warm"));
  try {
    const readyAt = await c.waitReady(120_000);
    await c.waitIdle(deadlineMs(names.length, 50), names.length, 5);
    // waitIdle needs 5 stable polls 200 ms apart: idle began about a second earlier.
    const idleAt = performance.now() - 1_000;
    const counts = await writeCounts(c);
    const after = await env.snapshot([c.pid]);
    const stats = c.stats();
    return {
      controller: c,
      result: {
        secondsToReady: s(readyAt - c.spawnedAt),
        secondsToIdle: s(idleAt - c.spawnedAt),
        ...counts,
        peakRssMb: round(stats.peakRssMb, 1),
        cpuSeconds: round(stats.cpuSeconds, 2),
        ...Env.costs(before, after),
      },
    };
  } catch (err) {
    await c.stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// churn

export interface ChurnResult extends Costs {
  seconds: number;
  updates: number;
  updatesPerSecond: number;
  updateErrors: number;
  writes: number;
  reconciles: number;
  cpuSeconds: number;
}

/**
 * Unrelated label and annotation updates (merge patches) across the N namespaces, `churnRate` per second
 * for `churnSeconds`, at most 32 in flight. The running controller must write nothing and call ECR never.
 */
export async function churn(
  env: Env,
  p: Params,
  names: readonly string[],
  c: Controller,
): Promise<ChurnResult> {
  const total = Math.max(1, Math.round(p.churnRate * p.churnSeconds));
  const w0 = await writeCounts(c);
  const cpu0 = c.stats().cpuSeconds;
  const before = await env.snapshot([c.pid]);
  const t0 = performance.now();
  const hardStop = t0 + p.churnSeconds * 1000 + 30_000;
  const inflight = new Set<Promise<void>>();
  let done = 0;
  let errors = 0;
  for (let k = 0; k < total && performance.now() < hardStop; k++) {
    const due = t0 + (k * 1000) / p.churnRate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    while (inflight.size >= 32) await Promise.race(inflight);
    const name = names[k % names.length] ?? "";
    const patch = {
      metadata: {
        labels: { "bench.eatr.io/churn": String(k) },
        annotations: { "bench.eatr.io/churned-at": new Date().toISOString() },
      },
    };
    const req = env.kube
      .request("PATCH", `/api/v1/namespaces/${name}`, patch, { contentType: "application/merge-patch+json" })
      .then(
        (res) => {
          if (res.status === 200) done++;
          else errors++;
        },
        () => {
          errors++;
        },
      )
      .finally(() => inflight.delete(req));
    inflight.add(req);
  }
  await Promise.all(inflight);
  const seconds = (performance.now() - t0) / 1000;
  await c.waitIdle(120_000);
  const w1 = await writeCounts(c);
  const after = await env.snapshot([c.pid]);
  return {
    seconds: round(seconds, 2),
    updates: done,
    updatesPerSecond: round(done / seconds, 1),
    updateErrors: errors,
    writes: w1.writes - w0.writes,
    reconciles: w1.reconciles - w0.reconciles,
    cpuSeconds: round(c.stats().cpuSeconds - cpu0, 2),
    ...Env.costs(before, after),
  };
}

// ---------------------------------------------------------------------------------------------
// latency

export interface LatencyResult extends Costs {
  samples: number;
  background: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Every sample in creation order, ms. */
  latenciesMs: number[];
}

/**
 * Labelled namespaces created one by one (asking for every registry) while the N others exist: time from
 * just before the create request to the arrival, on the bench's watch, of the last of its R pull secrets.
 */
export async function latency(env: Env, p: Params, c: Controller): Promise<LatencyResult> {
  const labels = env.registryLabels();
  const out: number[] = [];
  const before = await env.snapshot([c.pid]);
  for (let i = 0; i < p.samples; i++) {
    const name = nsName("bench-lat", i);
    const arrived = env.tracker.whenCurrent(env.registries.map((r) => `${name}/${r.host}`));
    const t0 = performance.now();
    await env.kube.json("POST", "/api/v1/namespaces", { metadata: { name, labels } });
    const at = await within(arrived, 30_000, `the pull secrets of ${name}`, env, c);
    out.push(at - t0);
    await sleep(50);
  }
  const after = await env.snapshot([c.pid]);
  const sorted = [...out].sort((a, b) => a - b);
  return {
    samples: out.length,
    background: p.namespaces,
    p50Ms: round(percentile(sorted, 0.5), 1),
    p90Ms: round(percentile(sorted, 0.9), 1),
    p99Ms: round(percentile(sorted, 0.99), 1),
    maxMs: round(sorted[sorted.length - 1] ?? NaN, 1),
    meanMs: round(out.reduce((a, b) => a + b, 0) / out.length, 1),
    latenciesMs: out.map((x) => round(x, 1)),
    ...Env.costs(before, after),
  };
}

// ---------------------------------------------------------------------------------------------
// renewal

export interface RenewalResult extends Costs, WriteCounts {
  secrets: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  renewalIntervalSeconds: number;
  /** First rewrite → every secret holds a token minted after the controller started. */
  seconds: number;
  secondsFromStart: number;
  peakWritesPerSecond: number;
  /** Highest average over any window of at least 10 s. */
  peakSustainedWritesPerSecond: number;
  /** Largest (writes in a window of k seconds) − qps·k over all windows: must stay ≤ burst. */
  maxExcessOverQps: number;
  underRateLimit: boolean;
  /** ADDED/MODIFIED events per 1-second bucket from the first rewrite. */
  perSecond: number[];
  cpuSeconds: number;
  peakRssMb: number;
}

/**
 * A forced refresh of every registry's token, with the default client limit (qps 200, burst 1000). The
 * controller starts with -auth-token-renewal-interval 60s while every pull secret's token is older than
 * that: each registry's token is due at once, so all N·R secrets are rewritten. The bench waits until the
 * secrets are that old when they are not yet.
 */
export async function renewal(env: Env, p: Params): Promise<RenewalResult> {
  const intervalMs = p.renewalIntervalSeconds * 1000;
  const youngest = Math.max(...env.ecr.tokens().map((t) => t.issuedAt));
  const wait = youngest + intervalMs + 2_000 - Date.now();
  if (wait > 0) {
    p.log(
      `renewal: waiting ${Math.ceil(wait / 1000)} s until every token is older than the renewal interval`,
    );
    await sleep(wait);
  }
  env.tracker.raiseBaseline();
  env.tracker.resetTimes();
  const expected = env.tracker.size();
  const before = await env.snapshot();
  const c = env.startController(
    "renewal",
    [
      "-workers",
      String(p.workers),
      "-kube-api-qps",
      String(p.renewalQps),
      "-kube-api-burst",
      String(p.renewalBurst),
      "-auth-token-renewal-interval",
      `${p.renewalIntervalSeconds}s`,
      "-token-safety-margin",
      "1s",
    ],
    nodeArgs(p, "renewal"),
  );
  try {
    const doneAt = await within(
      env.tracker.whenCount(expected),
      deadlineMs(expected, p.renewalQps),
      `${expected} rewritten pull secrets`,
      env,
      c,
    );
    const counts = await writeCounts(c);
    const after = await env.snapshot([c.pid]);
    const stats = await c.stop();
    const times = env.tracker.writeTimes.filter((t) => t <= doneAt);
    const first = times[0] ?? doneAt;
    const buckets: number[] = [];
    for (const t of times) {
      const b = Math.floor((t - first) / 1000);
      buckets[b] = (buckets[b] ?? 0) + 1;
    }
    const perSecond = Array.from(buckets, (x) => x ?? 0);
    const { peak, sustained, excess } = rateProfile(perSecond, p.renewalQps);
    return {
      secrets: expected,
      kubeApiQps: p.renewalQps,
      kubeApiBurst: p.renewalBurst,
      renewalIntervalSeconds: p.renewalIntervalSeconds,
      seconds: s(doneAt - first),
      secondsFromStart: s(doneAt - c.spawnedAt),
      ...counts,
      peakWritesPerSecond: peak,
      peakSustainedWritesPerSecond: round(sustained, 1),
      maxExcessOverQps: round(excess, 1),
      // A tolerance of a quarter second of qps: event arrival times are not write times.
      underRateLimit: excess <= p.renewalBurst + p.renewalQps * 0.25,
      perSecond,
      ...Env.costs(before, after),
      cpuSeconds: round(stats.cpuSeconds, 2),
      peakRssMb: round(stats.peakRssMb, 1),
    };
  } finally {
    await c.stop();
  }
}

/** Peak 1-s bucket, highest mean over windows ≥ 10 s, and the largest excess over qps·k in any k-s window. */
export function rateProfile(
  perSecond: readonly number[],
  qps: number,
): { peak: number; sustained: number; excess: number } {
  let peak = 0;
  let sustained = 0;
  let excess = 0;
  const prefix = [0];
  for (const x of perSecond) prefix.push((prefix[prefix.length - 1] ?? 0) + x);
  const n = perSecond.length;
  for (let i = 0; i < n; i++) {
    peak = Math.max(peak, perSecond[i] ?? 0);
    for (let j = i + 1; j <= n; j++) {
      const count = (prefix[j] ?? 0) - (prefix[i] ?? 0);
      const k = j - i;
      excess = Math.max(excess, count - qps * k);
      if (k >= 10) sustained = Math.max(sustained, count / k);
    }
  }
  if (n < 10) sustained = n > 0 ? (prefix[n] ?? 0) / n : 0;
  return { peak, sustained, excess };
}

// ---------------------------------------------------------------------------------------------
// failover

export interface FailoverSamples {
  samples: number;
  medianMs: number;
  maxMs: number;
  minMs: number;
  /** Every sample in order, ms. */
  latenciesMs: number[];
}

export interface FailoverResult extends Partial<Costs> {
  available: boolean;
  note: string;
  replicas?: number;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  background?: number;
  /** Leader SIGKILLed, then a labelled namespace created: time until its R pull secrets are there. */
  sigkill?: FailoverSamples;
  /** Leader SIGTERMed (it releases the Lease), then a labelled namespace created. */
  sigterm?: FailoverSamples;
  ecrCalls?: number;
}

function summarize(samples: readonly number[]): FailoverSamples {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples: samples.length,
    medianMs: round(percentile(sorted, 0.5), 0),
    maxMs: round(sorted[sorted.length - 1] ?? NaN, 0),
    minMs: round(sorted[0] ?? NaN, 0),
    latenciesMs: samples.map((x) => round(x, 0)),
  };
}

/** The replica whose leader_election_master_status is 1, once exactly one says so. */
async function waitForLeader(replicas: readonly Controller[], timeoutMs: number): Promise<Controller> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const leaders: Controller[] = [];
    for (const c of replicas) {
      if (!c.running()) continue;
      try {
        if ((await c.metric("leader_election_master_status")) === 1) leaders.push(c);
      } catch {
        // not serving yet
      }
    }
    if (leaders.length === 1 && leaders[0]) return leaders[0];
    await sleep(100);
  }
  throw new Error(`no single leader among the replicas within ${timeoutMs} ms`);
}

/**
 * Three replicas with leader election (default timings: lease 15 s, renew deadline 10 s, retry 2 s). The
 * leader is killed `kills` times with SIGKILL and `kills` times with SIGTERM, alternately; right after each
 * signal a labelled namespace is created, and the time from the signal to the arrival of its R pull
 * secrets (on the bench's watch) is one sample. The killed replica is replaced and every replica is ready
 * before the next round.
 */
export async function failover(env: Env, p: Params, kills: number): Promise<FailoverResult> {
  const replicas: Controller[] = [];
  let spawned = 0;
  const spawn = (): Controller =>
    env.startController(`failover-${++spawned}`, controllerArgs(p), nodeArgs(p, "failover"));
  const samples: Record<"SIGKILL" | "SIGTERM", number[]> = { SIGKILL: [], SIGTERM: [] };
  const labels = env.registryLabels();
  const before = await env.snapshot();
  try {
    for (let i = 0; i < 3; i++) replicas.push(spawn());
    await Promise.all(replicas.map((c) => c.waitReady(120_000)));
    for (let k = 0; k < 2 * kills; k++) {
      const signal = k % 2 === 0 ? "SIGKILL" : "SIGTERM";
      const leader = await waitForLeader(replicas, 120_000);
      // Let the standbys see the leader's latest renewal, as they would in steady state.
      await sleep(3_000);
      const name = nsName("bench-fo", k);
      const arrived = env.tracker.whenCurrent(env.registries.map((r) => `${name}/${r.host}`));
      const t0 = performance.now();
      if (signal === "SIGKILL") leader.kill();
      else leader.signal("SIGTERM");
      await env.kube.json("POST", "/api/v1/namespaces", { metadata: { name, labels } });
      const at = await within(arrived, 120_000, `the pull secrets of ${name} after ${signal}`, env);
      samples[signal].push(at - t0);
      p.log(`failover ${k + 1}/${2 * kills}: ${signal} → served after ${Math.round(at - t0)} ms`);
      await within(leader.exited, 30_000, "the old leader to exit", env);
      const replacement = spawn();
      replicas[replicas.indexOf(leader)] = replacement;
      await replacement.waitReady(120_000);
    }
    const after = await env.snapshot();
    return {
      available: true,
      note: "3 replicas, default leader election timings",
      replicas: 3,
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
      background: p.namespaces,
      sigkill: summarize(samples.SIGKILL),
      sigterm: summarize(samples.SIGTERM),
      ...Env.costs(before, after),
    };
  } finally {
    await Promise.all(replicas.map((c) => c.stop()));
  }
}

/** Whether `node dist/main.js --help` lists -leader-elect. */
export async function leaderElectionAvailable(mainJs: string): Promise<boolean> {
  try {
    const { stdout } = await execFileAsync(process.execPath, [mainJs, "--help"], { timeout: 30_000 });
    return /^\s*-leader-elect\b/m.test(stdout);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// sts

/** Credentials are renewed this long before they expire, at most half their life (CredentialSources). */
const STS_REFRESH_MARGIN_S = 300;

export interface StsResult {
  namespaces: number;
  registries: number;
  /** aws_role_duration_seconds of every registry's credential secret. */
  credentialSeconds: number;
  /** Cached credentials are renewed by the first ECR call this long after they were obtained. */
  credentialsRenewAfterSeconds: number;
  /** -auth-token-renewal-interval the controller ran with: how often each registry makes an ECR call. */
  ecrRenewalIntervalSeconds: number;
  /** Spawn → every pull secret written. */
  secondsToAllSecrets: number;
  /** Spawn → end of the measured window. */
  windowSeconds: number;
  /** AssumeRole requests the local STS endpoint received, in all and per registry (its own count). */
  stsCalls: number;
  stsCallsPerRegistry: Record<string, number>;
  /** eatr_sts_requests_total: success, and everything else. */
  stsSuccess: number;
  stsFailures: number;
  ecrCalls: number;
  ecrCallsPerRegistry: number;
  /** What the caching rule predicts per registry in the window: the first call plus one per renewal. */
  expectedStsCallsPerRegistry: number;
  /** Every registry made exactly the predicted number of STS calls. */
  matchesRule: boolean;
  /** Extrapolated by the caching rule: STS calls per registry per hour at this ECR renewal interval. */
  stsCallsPerRegistryPerHour: number;
  /** The same at the default -auth-token-renewal-interval (6h). */
  stsCallsPerRegistryPerHourAtDefaultInterval: number;
  pullSecretWrites: number;
  peakRssMb: number;
}

/** STS calls per registry per hour: one per ECR call made once the cached credentials are due. */
export function stsCallsPerHour(renewAfterS: number, ecrIntervalS: number): number {
  const period = ecrIntervalS * Math.max(1, Math.ceil(renewAfterS / ecrIntervalS));
  return 3600 / period;
}

/**
 * AssumeRole credentials on every registry (env started with `sts`): the controller runs for a bounded
 * window with a short ECR renewal interval, so each registry makes several ECR calls, and the local STS
 * endpoint counts the AssumeRole calls per registry. They depend on the credentials' lifetime and the ECR
 * interval, not on the number of namespaces.
 */
export async function sts(
  env: Env,
  p: Params,
  names: readonly string[],
  o: { windowSeconds: number; credentialSeconds: number; ecrIntervalSeconds: number },
): Promise<StsResult> {
  const server = env.sts;
  if (!server) throw new Error("the sts scenario needs an env started with an STS endpoint");
  const expected = names.length * env.registries.length;
  server.resetCounts();
  env.ecr.resetCounts();
  env.tracker.resetTimes();
  const c = env.startController(
    "sts",
    controllerArgs(p, ["-auth-token-renewal-interval", `${o.ecrIntervalSeconds}s`]),
    nodeArgs(p, "sts"),
  );
  try {
    const allAt = await within(
      env.tracker.whenCount(expected),
      deadlineMs(expected, 20),
      `${expected} pull secrets`,
      env,
      c,
    );
    const end = c.spawnedAt + o.windowSeconds * 1000;
    if (end > performance.now()) await sleep(end - performance.now());
    const text = await c.metricsText();
    const windowMs = performance.now() - c.spawnedAt;
    const stats = await c.stop();
    const renewAfter = o.credentialSeconds - Math.min(STS_REFRESH_MARGIN_S, o.credentialSeconds / 2);
    // ECR calls happen at 0, I, 2I…; the cached credentials are renewed by the first one at or after
    // renewAfter, then again `period` later.
    const period = o.ecrIntervalSeconds * Math.max(1, Math.ceil(renewAfter / o.ecrIntervalSeconds));
    const expectedPerRegistry = 1 + Math.floor(windowMs / 1000 / period);
    const perRegistry = Object.fromEntries(
      env.registries.map((r) => [r.host, server.calls(benchRoleArn(r))]),
    );
    const stsSuccess = sumMetric(text, "eatr_sts_requests_total", { result: "success" });
    return {
      namespaces: names.length,
      registries: env.registries.length,
      credentialSeconds: o.credentialSeconds,
      credentialsRenewAfterSeconds: renewAfter,
      ecrRenewalIntervalSeconds: o.ecrIntervalSeconds,
      secondsToAllSecrets: s(allAt - c.spawnedAt),
      windowSeconds: s(windowMs),
      stsCalls: server.calls(),
      stsCallsPerRegistry: perRegistry,
      stsSuccess,
      stsFailures: sumMetric(text, "eatr_sts_requests_total") - stsSuccess,
      ecrCalls: env.ecr.totalCalls(),
      ecrCallsPerRegistry: round(env.ecr.totalCalls() / env.registries.length, 2),
      expectedStsCallsPerRegistry: expectedPerRegistry,
      matchesRule: Object.values(perRegistry).every((n) => n === expectedPerRegistry),
      stsCallsPerRegistryPerHour: round(stsCallsPerHour(renewAfter, o.ecrIntervalSeconds), 3),
      stsCallsPerRegistryPerHourAtDefaultInterval: round(stsCallsPerHour(renewAfter, 6 * 3600), 3),
      pullSecretWrites: sumMetric(text, "eatr_pull_secret_writes_total"),
      peakRssMb: round(stats.peakRssMb, 1),
    };
  } finally {
    await c.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// defaults and baseline-loop (issue 13: the default write rate, chosen by measurement)

/** API Priority and Fairness counters of the API server's /metrics, summed (see flowControl()). */
export interface FlowControl {
  /** apiserver_flowcontrol_rejected_requests_total: requests answered 429, by "priority_level/reason". */
  rejected: Record<string, number>;
  rejectedTotal: number;
  /** apiserver_flowcontrol_dispatched_requests_total of the bench ServiceAccount's level, by "flow_schema/priority_level". */
  dispatched: Record<string, number>;
}

function flowControlCounters(text: string): {
  rejected: Map<string, number>;
  dispatched: Map<string, number>;
} {
  const rejected = new Map<string, number>();
  const dispatched = new Map<string, number>();
  for (const line of text.split("\n")) {
    for (const [name, into, key] of [
      [
        "apiserver_flowcontrol_rejected_requests_total{",
        rejected,
        (l: Record<string, string>) => `${l.priority_level ?? "?"}/${l.reason ?? "?"}`,
      ],
      [
        "apiserver_flowcontrol_dispatched_requests_total{",
        dispatched,
        (l: Record<string, string>) => `${l.flow_schema ?? "?"}/${l.priority_level ?? "?"}`,
      ],
    ] as const) {
      if (!line.startsWith(name)) continue;
      const close = line.indexOf("}");
      const labels = parseLabels(line.slice(name.length, close));
      const value = Number(
        line
          .slice(close + 1)
          .trim()
          .split(" ")[0],
      );
      const k = key(labels);
      into.set(k, (into.get(k) ?? 0) + value);
    }
  }
  return { rejected, dispatched };
}

/** What API Priority and Fairness did between two /metrics texts of the API server. */
export function flowControl(beforeText: string, afterText: string): FlowControl {
  const b = flowControlCounters(beforeText);
  const a = flowControlCounters(afterText);
  const delta = (x: Map<string, number>, y: Map<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [k, v] of y) {
      const d = v - (x.get(k) ?? 0);
      if (d > 0) out[k] = d;
    }
    return out;
  };
  const rejected = delta(b.rejected, a.rejected);
  const dispatched = Object.fromEntries(
    Object.entries(delta(b.dispatched, a.dispatched)).filter(([k]) => k.startsWith("service-accounts/")),
  );
  return { rejected, rejectedTotal: Object.values(rejected).reduce((x, y) => x + y, 0), dispatched };
}

export interface DefaultsResult extends Costs, WriteCounts {
  secrets: number;
  /** The controller's -kube-api-qps/-kube-api-burst: its own defaults (no flag given). */
  kubeApiQps: string;
  identity: string;
  /** Controller spawn → every secret current. */
  seconds: number;
  writePhaseSeconds: number;
  writesPerSecond: number;
  /** eatr_kube_api_throttled_total: writes eatr saw answered 429. */
  throttledByEatr: number;
  /** The API server's own count of requests it answered 429 in the window (every client). */
  flowControl: FlowControl;
  peakRssMb: number;
  cpuSeconds: number;
}

const MANAGED = "app.kubernetes.io/managed-by=eatr";

/** Deletes the secrets matching labelSelector in each of `names` (one collection DELETE per namespace). */
async function deleteLabelledSecrets(
  env: Env,
  p: Params,
  names: readonly string[],
  labelSelector: string,
): Promise<void> {
  await forEachLimit(names, p.setupConcurrency, async (namespace) => {
    await env.kube.request(
      "DELETE",
      `/api/v1/namespaces/${namespace}/secrets?labelSelector=${encodeURIComponent(labelSelector)}`,
    );
  });
}

/** Deletes eatr's pull secrets in `names` (not timed) and waits until the bench's watch has seen them go. */
async function deletePullSecrets(env: Env, p: Params, names: readonly string[]): Promise<void> {
  await deleteLabelledSecrets(env, p, names, MANAGED);
  const deadline = performance.now() + 300_000;
  while (env.tracker.size() > 0) {
    if (performance.now() > deadline) throw new Error(`${env.tracker.size()} pull secrets still there`);
    await sleep(200);
  }
}

/**
 * Cold start at the controller's DEFAULT client limit, as a pod runs it: eatr's pull secrets are deleted,
 * then a controller without -kube-api-qps/-kube-api-burst starts with a ServiceAccount token (subject to
 * API Priority and Fairness, unlike the admin certificate of the other scenarios). Seconds until every
 * secret is current, the 429s eatr saw and the 429s the API server counted (apiserver_flowcontrol_rejected_requests_total).
 */
export async function defaults(env: Env, p: Params, names: readonly string[]): Promise<DefaultsResult> {
  const expected = names.length * env.registries.length;
  await deletePullSecrets(env, p, names);
  const sa = await env.serviceAccountClient();
  env.tracker.resetTimes();
  const before = await env.snapshot();
  const metricsBefore = await env.kube.metricsText();
  const c = env.startController(
    "defaults",
    ["-workers", String(p.workers)],
    nodeArgs(p, "defaults"),
    sa.kubeconfig,
  );
  try {
    const doneAt = await within(
      env.tracker.whenCount(expected),
      deadlineMs(expected, 20),
      `${expected} pull secrets at the default limit`,
      env,
      c,
    );
    await c.waitIdle(60_000, names.length);
    const counts = await writeCounts(c);
    const text = await c.metricsText();
    const after = await env.snapshot([c.pid]);
    const metricsAfter = await env.kube.metricsText();
    const stats = c.stats();
    const seconds = (doneAt - c.spawnedAt) / 1000;
    return {
      secrets: expected,
      kubeApiQps: "eatr's defaults",
      identity: "ServiceAccount ci-cd/eatr-bench (token)",
      seconds: round(seconds, 2),
      writePhaseSeconds: s(env.tracker.lastCurrentAt - env.tracker.firstCurrentAt),
      writesPerSecond: round(expected / seconds, 1),
      throttledByEatr: sumMetric(text, "eatr_kube_api_throttled_total"),
      flowControl: flowControl(metricsBefore, metricsAfter),
      ...counts,
      peakRssMb: round(stats.peakRssMb, 1),
      cpuSeconds: round(stats.cpuSeconds, 2),
      ...Env.costs(before, after),
    };
  } finally {
    await c.stop();
  }
}

export interface BaselineLoopResult extends Costs {
  secrets: number;
  identity: string;
  /** First create sent → every secret seen current on the bench's watch. */
  seconds: number;
  writesPerSecond: number;
  errors: number;
  flowControl: FlowControl;
}

const BASELINE_LABEL = "bench.eatr.io/baseline-loop";

/**
 * A plain sequential loop, as nabsul/k8s-ecr-login-renew's one-shot run does it: one create after the
 * other, one at a time, no client limit, with the same ServiceAccount identity as `defaults`, of N·R
 * secrets of the same size and shape (named `baseline-<host>`, not eatr's). Timed like cold, by a watch.
 */
export async function baselineLoop(
  env: Env,
  p: Params,
  names: readonly string[],
): Promise<BaselineLoopResult> {
  const expected = names.length * env.registries.length;
  const sa = await env.serviceAccountClient();
  const tracker = new SecretTracker(
    env.kube,
    env.ecr,
    env.registries,
    `${BASELINE_LABEL}=true`,
    (x) => passwordOf(x, (x.metadata?.name ?? "").replace(/^baseline-/, "")) !== undefined,
  );
  await tracker.start();
  const bodies = env.registries.map((r) => {
    const body = ceilingSecret(env, r) as { metadata: { name: string; labels: Record<string, string> } };
    body.metadata.name = `baseline-${r.host}`;
    body.metadata.labels = { [BASELINE_LABEL]: "true" };
    return body;
  });
  let errors = 0;
  try {
    const before = await env.snapshot();
    const metricsBefore = await env.kube.metricsText();
    const t0 = performance.now();
    for (const namespace of names) {
      for (const body of bodies) {
        const res = await sa.kube
          .request("POST", `/api/v1/namespaces/${namespace}/secrets`, body)
          .catch(() => ({ status: 0 }));
        if (res.status !== 201) errors++;
      }
    }
    const doneAt = await within(tracker.whenCount(expected), 120_000, "the baseline-loop secrets", env);
    const after = await env.snapshot();
    const metricsAfter = await env.kube.metricsText();
    const seconds = (doneAt - t0) / 1000;
    return {
      secrets: expected,
      identity: "ServiceAccount ci-cd/eatr-bench (token)",
      seconds: round(seconds, 2),
      writesPerSecond: round(expected / seconds, 1),
      errors,
      flowControl: flowControl(metricsBefore, metricsAfter),
      ...Env.costs(before, after),
    };
  } finally {
    tracker.stop();
    await deleteLabelledSecrets(env, p, names, `${BASELINE_LABEL}=true`).catch((err: unknown) => {
      p.log(`removing the baseline-loop secrets failed: ${String(err)}`);
    });
  }
}
