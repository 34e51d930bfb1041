/**
 * `npm run demo [-- --once] [-- --timeout=SECONDS]`: eatr end to end on this machine, after only `npm ci`.
 *
 * Ensures the kube-apiserver/etcd binaries (built from source on first use: minutes), builds dist/ when it
 * is missing or older than src/, starts a local control plane and a local ECR endpoint, creates the host
 * namespace `ci-cd` with credential secrets for two registries and three labelled namespaces, runs
 * dist/main.js against them, waits until every namespace has its pull secrets and prints them.
 *
 * Then it stays up for kubectl until Ctrl-C; with --once it stops as soon as the secrets are there (exit 0),
 * or when they are not there in time (exit 1). Every exit path stops the controller, the ECR endpoint and
 * the control plane; a SIGKILLed demo is covered by the control plane's watchdog and by the controller
 * stopping itself when its stdin (a pipe from this process) closes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { ensureBinaries, startControlPlane } from "./control-plane.ts";
import { startEcrServer } from "./ecr-server.ts";
import { distFreshness } from "./dist-freshness.ts";
import { installCleanupHandlers, own, signalGroup } from "./processes.ts";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const HOST_NAMESPACE = "ci-cd";
const CREDENTIALS_PREFIX = "eatr-aws-credentials";
const EXPIRES_ANNOTATION = "eatr/token-expires-at";
const MANAGED_BY = "app.kubernetes.io/managed-by";

interface DemoRegistry {
  host: string;
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const REGISTRIES: readonly DemoRegistry[] = [
  {
    host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    accountId: "123456789012",
    accessKeyId: "AKIAEATRDEMOEUWEST01",
    secretAccessKey: "eatr-demo-secret-key-eu-west-1",
  },
  {
    host: "210987654321.dkr.ecr.us-east-1.amazonaws.com",
    accountId: "210987654321",
    accessKeyId: "AKIAEATRDEMOUSEAST01",
    secretAccessKey: "eatr-demo-secret-key-us-east-1",
  },
];
const [EU, US] = REGISTRIES as [DemoRegistry, DemoRegistry];

const NAMESPACES: readonly { name: string; registries: readonly DemoRegistry[] }[] = [
  { name: "demo-team-a", registries: [EU] },
  { name: "demo-team-b", registries: [US] },
  { name: "demo-team-c", registries: [EU, US] },
];

const started = performance.now();
function progress(line: string): void {
  process.stderr.write(`demo [${((performance.now() - started) / 1000).toFixed(1)}s]: ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Shutdown: one ordered, idempotent stop for every exit path (normal end, error, signal).

const stops: (() => Promise<void>)[] = [];
let stopping: Promise<void> | undefined;
/** Set when a signal (or a fatal error) handler of test/env/processes.ts runs stopAll and then exits. */
let signalled = false;

/** Waits for the signal handler to finish stopping and exit the process: nothing else to do here. */
function untilSignalHandlerExits(): Promise<never> {
  return new Promise<never>(() => setInterval(() => undefined, 60_000));
}

/** Stops what was started, newest first (controller, ECR endpoint, control plane). */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        progress(`while stopping: ${String(err)}`);
      }
    }
    if (stops.length > 0) progress("stopped the controller, the ECR endpoint and the control plane");
  })();
  return stopping;
}

// ---------------------------------------------------------------------------------------------
// Build

/** Runs tsc (npm run build) when dist/main.js is missing or older than src/ or the tsconfigs. */
async function ensureBuilt(): Promise<string> {
  const main = join(repoRoot, "dist", "main.js");
  const freshness = distFreshness(repoRoot, main);
  if (freshness === "fresh") return main;
  progress(
    freshness === "missing"
      ? "building the controller (dist/ is missing)"
      : "rebuilding the controller (src/ changed)",
  );
  const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
  const code = await new Promise<number>((resolveCode, reject) => {
    const child = spawn(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
      cwd: repoRoot,
      stdio: ["ignore", 2, 2],
    });
    child.once("error", reject);
    child.once("exit", (exitCode) => {
      resolveCode(exitCode ?? 1);
    });
  });
  if (code !== 0) throw new Error(`npm run build failed (tsc exit ${code}); see the errors above`);
  return main;
}

// ---------------------------------------------------------------------------------------------
// Cluster objects

async function createDemoObjects(core: CoreV1Api): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: HOST_NAMESPACE } } });
  for (const r of REGISTRIES) {
    await core.createNamespacedSecret({
      namespace: HOST_NAMESPACE,
      body: {
        metadata: { name: `${CREDENTIALS_PREFIX}-${r.host}` },
        type: "Opaque",
        stringData: { aws_access_key_id: r.accessKeyId, aws_secret_access_key: r.secretAccessKey },
      },
    });
  }
  for (const ns of NAMESPACES) {
    const labels = Object.fromEntries(ns.registries.map((r) => [r.host, "true"]));
    await core.createNamespace({ body: { metadata: { name: ns.name, labels } } });
  }
}

interface Row {
  namespace: string;
  secret: string;
  expiresAt: string;
}

/** Polls until every demo namespace holds a managed pull secret per registry; returns them. */
async function waitForPullSecrets(core: CoreV1Api, deadline: number): Promise<Row[]> {
  for (;;) {
    const rows: Row[] = [];
    const missing: string[] = [];
    for (const ns of NAMESPACES) {
      for (const r of ns.registries) {
        const secret = await core
          .readNamespacedSecret({ name: r.host, namespace: ns.name })
          .catch(() => undefined);
        const expiresAt = secret?.metadata?.annotations?.[EXPIRES_ANNOTATION];
        if (secret?.metadata?.labels?.[MANAGED_BY] === "eatr" && expiresAt !== undefined) {
          rows.push({ namespace: ns.name, secret: r.host, expiresAt });
        } else {
          missing.push(`${ns.name}/${r.host}`);
        }
      }
    }
    if (missing.length === 0) return rows;
    if (Date.now() > deadline) throw new Error(`no pull secret yet for ${missing.join(", ")}`);
    await sleep(250);
  }
}

function printTable(rows: readonly Row[]): void {
  const now = Date.now();
  const cells = [
    ["NAMESPACE", "SECRET", "TOKEN EXPIRES"],
    ...rows.map((r) => {
      const hours = (Date.parse(r.expiresAt) - now) / 3_600_000;
      return [r.namespace, r.secret, `${r.expiresAt} (in ${hours.toFixed(1)} h)`];
    }),
  ];
  const widths = [0, 1].map((i) => Math.max(...cells.map((c) => (c[i] ?? "").length)));
  for (const c of cells) {
    process.stdout.write(
      `${(c[0] ?? "").padEnd(widths[0] ?? 0)}  ${(c[1] ?? "").padEnd(widths[1] ?? 0)}  ${c[2] ?? ""}\n`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The controller process

/**
 * Preloaded into the controller: when its stdin (our pipe) closes because this process died, however it
 * died, the controller stops itself as if Ctrl-C'd.
 */
const STOP_WHEN_ORPHANED =
  'process.stdin.on("end",()=>process.kill(process.pid,"SIGTERM"));' +
  'process.stdin.on("error",()=>{});process.stdin.resume();process.stdin.unref();';

interface RunningController {
  readonly pid: number;
  readonly logFile: string;
  /** The /metrics port, once the controller logged it. */
  readonly port: Promise<number>;
  /** Resolves with a description once the process exited. */
  readonly exited: Promise<string>;
  stop(): Promise<void>;
}

function startController(opts: {
  main: string;
  kubeconfig: string;
  ecrEndpoint: string;
  logFile: string;
}): RunningController {
  const log = createWriteStream(opts.logFile, { flags: "a" });
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--import",
      `data:text/javascript,${encodeURIComponent(STOP_WHEN_ORPHANED)}`,
      opts.main,
      "-config-file-path",
      opts.kubeconfig,
      "-ecr-endpoint",
      opts.ecrEndpoint,
      "-host-namespace",
      HOST_NAMESPACE,
      "-port",
      "0",
    ],
    // Own process group: a Ctrl-C in the terminal reaches the demo, which stops the controller once.
    { detached: true, stdio: ["pipe", "pipe", "pipe"], cwd: repoRoot },
  );
  const pid = child.pid ?? -1;
  const exited = new Promise<string>((resolveExit) => {
    child.once("exit", (code, signal) => {
      resolveExit(signal ? `was killed by ${signal}` : `exited with code ${String(code)}`);
    });
    child.once("error", (err) => {
      resolveExit(`failed to start: ${err.message}`);
    });
  });
  const port = new Promise<number>((resolvePort, reject) => {
    if (!child.stdout || !child.stderr) {
      reject(new Error("controller has no stdout"));
      return;
    }
    child.stderr.pipe(log, { end: false });
    createInterface({ input: child.stdout }).on("line", (line) => {
      log.write(`${line}\n`);
      try {
        const entry = JSON.parse(line) as { msg?: unknown; port?: unknown };
        if (entry.msg === "serving /metrics, /healthz and /readyz" && typeof entry.port === "number")
          resolvePort(entry.port);
      } catch {
        // not a log line
      }
    });
    void exited.then((how) => {
      reject(new Error(`the controller ${how} before serving /metrics`));
    });
  });
  port.catch(() => undefined); // observed by the caller; never an unhandled rejection
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && pid > 0) {
        signalGroup(pid, "SIGTERM");
        const killed = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
        if (killed) {
          signalGroup(pid, "SIGKILL");
          await exited;
        }
      }
      child.stdin?.destroy();
      await new Promise((resolveEnd) => log.end(resolveEnd));
    })();
    return stopped;
  };
  return { pid, logFile: opts.logFile, port, exited, stop };
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// ---------------------------------------------------------------------------------------------

async function main(once: boolean, timeoutMs: number): Promise<number> {
  let controllerPid = -1;
  // Joins the signal handlers of test/env/processes.ts (Ctrl-C, SIGTERM, SIGHUP, uncaught errors, exit).
  own({
    pgids: () => (controllerPid > 0 ? [controllerPid] : []),
    paths: () => [],
    stop: () => {
      signalled = true;
      return stopAll();
    },
  });

  progress("checking kube-apiserver and etcd (the first run builds them from source: several minutes)");
  const binaries = await ensureBinaries({ helm: false, log: progress });
  const mainJs = await ensureBuilt();

  progress("starting etcd and kube-apiserver");
  const cp = await startControlPlane({ binaries, log: progress });
  stops.push(() => cp.stop());
  const ecr = await startEcrServer({
    keys: REGISTRIES.map((r) => ({
      accessKeyId: r.accessKeyId,
      secretAccessKey: r.secretAccessKey,
      accountId: r.accountId,
    })),
  });
  stops.push(() => ecr.close());
  progress(`kube-apiserver ${cp.version} at ${cp.server}; local ECR endpoint at ${ecr.endpoint}`);

  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  await createDemoObjects(core);
  progress(
    `created namespace ${HOST_NAMESPACE} with 2 credential secrets, and ${NAMESPACES.length} labelled namespaces`,
  );

  const controller = startController({
    main: mainJs,
    kubeconfig: cp.kubeconfigPath,
    ecrEndpoint: ecr.endpoint,
    logFile: join(cp.dir, "eatr.log"),
  });
  controllerPid = controller.pid;
  stops.push(() => controller.stop());
  const deadline = Date.now() + timeoutMs;
  let rows: Row[];
  let port: number;
  try {
    const died = controller.exited.then((how) => Promise.reject(new Error(`the controller ${how}`)));
    died.catch(() => undefined);
    const timeout = sleep(timeoutMs).then(() => Promise.reject(new Error("no /metrics port logged")));
    timeout.catch(() => undefined);
    port = await Promise.race([controller.port, died, timeout]);
    progress(`controller running (pid ${controller.pid}), waiting for the pull secrets`);
    rows = await Promise.race([waitForPullSecrets(core, deadline), died]);
  } catch (err) {
    if (signalled) return untilSignalHandlerExits();
    process.stderr.write(
      `demo: FAILED: ${err instanceof Error ? err.message : String(err)} ` +
        `(waited up to ${timeoutMs / 1000} s; --timeout=SECONDS changes that)\n` +
        `--- last lines of the controller log ${controller.logFile} ---\n${tail(controller.logFile)}\n`,
    );
    await stopAll();
    return 1;
  }

  process.stdout.write("\n");
  printTable(rows);
  process.stdout.write(`\nmetrics: http://127.0.0.1:${port}/metrics (also /healthz and /readyz)\n`);
  if (once) {
    progress("--once: every demo namespace has its pull secrets; stopping");
    await stopAll();
    return 0;
  }
  process.stdout.write(
    [
      `controller log: ${controller.logFile}`,
      `ECR endpoint: ${ecr.endpoint} (local; access keys ${REGISTRIES.map((r) => r.accessKeyId).join(", ")})`,
      "",
      "Poke around in another terminal:",
      `  export KUBECONFIG=${cp.kubeconfigPath}`,
      `  export PATH="${binaries.binDir}:$PATH"   # kubectl ${cp.version} (npm run testenv -- bin prints it too)`,
      `  kubectl get secrets -A -l ${MANAGED_BY}=eatr`,
      `  kubectl create namespace demo-new && kubectl label namespace demo-new ${EU.host}=true`,
      `  kubectl label namespace demo-team-c ${US.host}-   # the secret for that registry goes away`,
      "",
      "Ctrl-C stops the controller, the ECR endpoint and the control plane.",
      "",
    ].join("\n"),
  );
  const how = await controller.exited;
  if (signalled) return untilSignalHandlerExits();
  process.stderr.write(`demo: the controller ${how}; stopping\n${tail(controller.logFile)}\n`);
  await stopAll();
  return 1;
}

const USAGE = `usage: npm run demo [-- --once] [-- --timeout=SECONDS]
  --once             exit 0 as soon as every demo namespace has its pull secrets (1 on timeout)
  --timeout=SECONDS  how long to wait for the pull secrets once the controller runs (default 120)
`;

function parseOptions(): { once: boolean; timeoutMs: number } | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        once: { type: "boolean", default: false },
        timeout: { type: "string", default: "120" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    return undefined;
  }
  const seconds = Number(values.timeout);
  if (values.help || !(seconds > 0)) return undefined;
  return { once: values.once, timeoutMs: seconds * 1000 };
}

installCleanupHandlers({ fatal: true });
let code: number;
try {
  const options = parseOptions();
  if (options === undefined) {
    process.stderr.write(USAGE);
    code = 2;
  } else {
    code = await main(options.once, options.timeoutMs);
  }
} catch (err) {
  if (signalled) await untilSignalHandlerExits();
  process.stderr.write(`demo: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stopAll();
  code = 1;
}
// Leftover keep-alive sockets of the kube client must not keep a finished demo alive.
process.exit(code);
