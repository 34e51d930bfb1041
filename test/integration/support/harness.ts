/**
 * Shared helpers for integration tests that run the real controller (dist/main.js, built with
 * `npm run build`) against the real kube-apiserver of `npm run test:integration` and a local ECR endpoint.
 *
 * Every controller process and ECR server started here is stopped when the test file ends (node:test
 * `after`) and, failing that, killed when the process exits. Names carry a random suffix (`unique()`) so
 * tests in one file never collide; give each file its own host namespace (`uniqueHostNamespace()`).
 * Waits poll a condition with a generous deadline (`waitFor`); nothing sleeps for a fixed time.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after } from "node:test";
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  Observable,
  type ConfigurationOptions,
  type CoreV1Event,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  type V1Secret,
} from "@kubernetes/client-node";
import { sumMetric } from "../../support/prometheus-text.ts";
import { startEcrServer, type EcrKey, type EcrServer, type EcrServerOptions } from "../../env/ecr-server.ts";

/**
 * Absolute path of the built controller: dist/main.js, or EATR_TEST_MAIN_JS when set (e.g. a deliberately
 * broken build, to check that a test can fail).
 */
export const MAIN_JS =
  process.env.EATR_TEST_MAIN_JS ?? fileURLToPath(new URL("../../../dist/main.js", import.meta.url));

/** The label eatr puts on every pull secret it manages. */
export const MANAGED_BY = { key: "app.kubernetes.io/managed-by", value: "eatr" } as const;

/** The default credential secret prefix (flag -aws-credentials-secret-prefix). */
export const CREDENTIALS_PREFIX = "eatr-aws-credentials";

// ---- cluster ---------------------------------------------------------------------------------------------

/** The admin KUBECONFIG path given by test/env/run-integration.ts; throws when run any other way. */
export function kubeconfigPath(): string {
  const path = process.env.KUBECONFIG;
  if (path === undefined || path === "") {
    throw new Error("KUBECONFIG is not set: run this through npm run test:integration");
  }
  return path;
}

/** An admin client for the test cluster (from process.env.KUBECONFIG). */
export function kube(): { kc: KubeConfig; core: CoreV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return { kc, core: kc.makeApiClient(CoreV1Api) };
}

/** The HTTP status of a failed API call, or undefined for other errors. */
export function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

// ---- names -----------------------------------------------------------------------------------------------

/** `<prefix>-<8 random hex chars>`: a DNS-label-safe name no other test uses. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/** A host namespace name for one test file, e.g. `ci-cd-1a2b3c4d` (pass it as -host-namespace). */
export function uniqueHostNamespace(): string {
  return unique("ci-cd");
}

/** A random 12-digit AWS account id (first digit non-zero). */
export function randomAccountId(): string {
  let id = String(1 + ((randomBytes(1)[0] ?? 0) % 9));
  while (id.length < 12) id += String((randomBytes(1)[0] ?? 0) % 10);
  return id;
}

/** The ECR registry host of an account and region, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`. */
export function registryHost(accountId: string, region: string): string {
  const suffix = region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return `${accountId}.dkr.ecr.${region}.${suffix}`;
}

/** A fresh static access key for an account (`AKIA…` id, 40-character secret). */
export function newKey(accountId: string): EcrKey {
  return {
    accessKeyId: `AKIA${randomBytes(8).toString("hex").toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString("base64"),
    accountId,
  };
}

// ---- ECR -------------------------------------------------------------------------------------------------

const ecrServers = new Set<EcrServer>();

/** Starts a local ECR endpoint knowing `keys` (more with server.addKey); closed when the file ends. */
export async function startEcr(keys: EcrKey[] = [], options: EcrServerOptions = {}): Promise<EcrServer> {
  const server = await startEcrServer({ ...options, keys: [...keys, ...(options.keys ?? [])] });
  ecrServers.add(server);
  return server;
}

// ---- namespaces and secrets ------------------------------------------------------------------------------

/** Namespaces created through createNamespace, deleted when the file ends. */
const createdNamespaces = new Set<string>();

/**
 * Creates a namespace with labels; a namespace that already exists is left as it is. Namespaces created
 * here are deleted when the test file ends (they stay Terminating: without kube-controller-manager nothing
 * finalizes them, and eatr skips Terminating namespaces), so later files' controllers do not act on them.
 */
export async function createNamespace(
  core: CoreV1Api,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name, labels } } });
    createdNamespaces.add(name);
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
  }
}

/** Creates a namespace asking for each registry host (label `<host>: "true"`), plus any extra labels. */
export async function createLabelledNamespace(
  core: CoreV1Api,
  name: string,
  hosts: readonly string[],
  extraLabels: Record<string, string> = {},
): Promise<void> {
  const labels: Record<string, string> = { ...extraLabels };
  for (const host of hosts) labels[host] = "true";
  await createNamespace(core, name, labels);
}

/** Merge-patches a namespace's labels; a null value removes that label. */
export async function patchNamespaceLabels(
  core: CoreV1Api,
  name: string,
  labels: Record<string, string | null>,
): Promise<void> {
  await core.patchNamespace({ name, body: { metadata: { labels } } }, mergePatch());
}

/**
 * Deletes a namespace, ignoring 404 (gone) and 409 (already being deleted). Without
 * kube-controller-manager it stays Terminating.
 */
export async function deleteNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.deleteNamespace({ name });
  } catch (err) {
    const status = statusOf(err);
    if (status !== 404 && status !== 409) throw err;
  }
}

/** Per-call options that send the body as a JSON merge patch (client-node defaults to JSON Patch). */
export function mergePatch(): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (ctx: RequestContext) => {
      ctx.setHeaderParam("Content-Type", "application/merge-patch+json");
      return new Observable(Promise.resolve(ctx));
    },
    post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: "append" };
}

export interface CredentialsInput {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** aws_region; omitted = the registry host's region. */
  region?: string;
}

function credentialData(c: CredentialsInput): Record<string, string> {
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  const data: Record<string, string> = {
    aws_access_key_id: b64(c.accessKeyId),
    aws_secret_access_key: b64(c.secretAccessKey),
  };
  if (c.sessionToken !== undefined) data.aws_session_token = b64(c.sessionToken);
  if (c.region !== undefined) data.aws_region = b64(c.region);
  return data;
}

/** The name of a registry's credential secret: `eatr-aws-credentials-<host>`. */
export function credentialSecretName(host: string): string {
  return `${CREDENTIALS_PREFIX}-${host}`;
}

/** Creates the host namespace if needed and the registry's credential secret in it. */
export async function createCredentials(
  core: CoreV1Api,
  hostNs: string,
  host: string,
  credentials: CredentialsInput,
): Promise<V1Secret> {
  await createNamespace(core, hostNs);
  return core.createNamespacedSecret({
    namespace: hostNs,
    body: {
      metadata: { name: credentialSecretName(host) },
      type: "Opaque",
      data: credentialData(credentials),
    },
  });
}

/** Replaces the data of a registry's credential secret (a key rotation). */
export async function updateCredentials(
  core: CoreV1Api,
  hostNs: string,
  host: string,
  credentials: CredentialsInput,
): Promise<V1Secret> {
  const name = credentialSecretName(host);
  const current = await core.readNamespacedSecret({ name, namespace: hostNs });
  return core.replaceNamespacedSecret({
    name,
    namespace: hostNs,
    body: { ...current, data: credentialData(credentials) },
  });
}

/** Deletes a registry's credential secret. */
export async function deleteCredentials(core: CoreV1Api, hostNs: string, host: string): Promise<void> {
  await core.deleteNamespacedSecret({ name: credentialSecretName(host), namespace: hostNs });
}

/** Reads a secret; undefined when it does not exist. */
export async function readSecret(
  core: CoreV1Api,
  namespace: string,
  name: string,
): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/** What a pull secret's `.dockerconfigjson` says, for its only `auths` entry. */
export interface DecodedPullSecret {
  /** The `auths` key, e.g. https://123456789012.dkr.ecr.eu-west-1.amazonaws.com */
  url: string;
  /** The `auth` value: base64("AWS:<password>"). */
  auth: string;
  username: string;
  password: string;
  /** Every `auths` key, to check there is exactly one. */
  urls: string[];
}

/** Decodes a dockerconfigjson secret; throws when it is not one (or has no auths entry). */
export function decodePullSecret(secret: V1Secret): DecodedPullSecret {
  const raw = secret.data?.[".dockerconfigjson"];
  if (raw === undefined) throw new Error(`secret ${secret.metadata?.name ?? ""} has no .dockerconfigjson`);
  const config = JSON.parse(Buffer.from(raw, "base64").toString("utf8")) as {
    auths?: Record<string, { auth?: string }>;
  };
  const urls = Object.keys(config.auths ?? {});
  const url = urls[0];
  const auth = url === undefined ? undefined : config.auths?.[url]?.auth;
  if (url === undefined || auth === undefined) {
    throw new Error(`secret ${secret.metadata?.name ?? ""} has no auths entry`);
  }
  const decoded = Buffer.from(auth, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return {
    url,
    auth,
    username: colon < 0 ? decoded : decoded.slice(0, colon),
    password: colon < 0 ? "" : decoded.slice(colon + 1),
    urls,
  };
}

/**
 * Events with this reason (optionally about the object named `name`), across every namespace (eatr
 * records namespace events in "default" and credential-secret events in the host namespace).
 */
export async function listEvents(
  core: CoreV1Api,
  filter: { reason: string; name?: string; namespace?: string },
): Promise<CoreV1Event[]> {
  const list =
    filter.namespace === undefined
      ? await core.listEventForAllNamespaces({ fieldSelector: `reason=${filter.reason}` })
      : await core.listNamespacedEvent({
          namespace: filter.namespace,
          fieldSelector: `reason=${filter.reason}`,
        });
  return list.items.filter((e) => filter.name === undefined || e.involvedObject.name === filter.name);
}

// ---- waiting ---------------------------------------------------------------------------------------------

export interface WaitOptions {
  /** Deadline (default 30 s). */
  timeoutMs?: number;
  /** Poll period (default 100 ms). */
  intervalMs?: number;
  /** What was awaited, for the timeout error. */
  message?: string;
}

/**
 * Polls `fn` until it returns a value other than undefined, null or false, and returns that value.
 * A throw from `fn` counts as "not yet" (the last error is reported on timeout). Throws after the deadline.
 */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError === undefined ? "" : `; last error: ${errorText(lastError)}`;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${options.message ?? "a condition"}${why}`,
        {
          cause: lastError,
        },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---- metrics ---------------------------------------------------------------------------------------------

// ---- the controller process ------------------------------------------------------------------------------

export interface StartControllerOptions {
  /** The ECR endpoint (EcrServer.endpoint), passed as -ecr-endpoint. */
  ecrEndpoint: string;
  /** -host-namespace (default: the controller's default, ci-cd). */
  hostNamespace?: string;
  /** More flags, appended after the defaults (a repeated flag keeps its last value). */
  extraArgs?: string[];
  /** Extra environment (merged over process.env). */
  env?: Record<string, string>;
  /** Deadline for the port line and /readyz (default 30 s). */
  readyTimeoutMs?: number;
  /** Resolve once the port is logged, without waiting for /readyz 200 (for a controller meant not to be ready). */
  skipReadyWait?: boolean;
}

export interface ControllerProcess {
  readonly pid: number;
  /** Port of /metrics, /healthz and /readyz. */
  readonly port: number;
  /** Every stdout line so far (JSON log lines). */
  logs(): string[];
  /** Every stderr line so far. */
  stderr(): string[];
  /** Parsed JSON log lines (lines that are not JSON are skipped). */
  logRecords(): Record<string, unknown>[];
  /** The /metrics text. */
  metrics(): Promise<string>;
  /** Sum of the samples of a metric matching `labels` (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Sends `signal` and resolves with the exit code (128 + signal number when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** SIGKILL, without waiting. */
  kill(): void;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number>;
}

const controllers = new Set<ChildProcess>();
const allLogs: string[] = [];

/** Every stdout and stderr line of every controller this process started (for leak checks). */
export function allControllerLogs(): readonly string[] {
  return allLogs;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const signals: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return 128 + (signal === null ? 0 : (signals[signal] ?? 0));
}

/**
 * Starts `node dist/main.js -config-file-path $KUBECONFIG -port 0 -logging-verbosity-level 6
 * -ecr-endpoint <endpoint> [-host-namespace <ns>] <extraArgs>`, and resolves once it logged its port and
 * /readyz answers 200 (unless skipReadyWait). Rejects (and kills it) if it exits or is not ready in time.
 * The host namespace is created first when missing: it holds the leader election Lease by default, and
 * without it eatr is not ready (as deployed, eatr's own namespace always exists).
 */
export async function startController(options: StartControllerOptions): Promise<ControllerProcess> {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} does not exist: run npm run build first`);
  if (options.hostNamespace !== undefined) await createNamespace(kube().core, options.hostNamespace);
  const args = [
    MAIN_JS,
    "-config-file-path",
    kubeconfigPath(),
    "-port",
    "0",
    "-logging-verbosity-level",
    "6",
    "-ecr-endpoint",
    options.ecrEndpoint,
    ...(options.hostNamespace === undefined ? [] : ["-host-namespace", options.hostNamespace]),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  controllers.add(child);
  const out: string[] = [];
  const err: string[] = [];
  const portSeen = Promise.withResolvers<number>();
  const exited = new Promise<number>((resolve) => {
    child.once("exit", (code, signal) => {
      controllers.delete(child);
      const exitCode = exitCodeOf(code, signal);
      portSeen.reject(new Error(`controller exited (${exitCode}) before serving; stderr: ${err.join("\n")}`));
      resolve(exitCode);
    });
  });
  // The "exit" handler above rejects portSeen; keep that from being an unhandled rejection later.
  portSeen.promise.catch(() => undefined);
  createInterface({ input: child.stdout }).on("line", (line) => {
    out.push(line);
    allLogs.push(line);
    if (line.includes('"port"')) {
      try {
        const rec = JSON.parse(line) as { port?: unknown; msg?: unknown };
        if (typeof rec.port === "number" && typeof rec.msg === "string" && rec.msg.startsWith("serving")) {
          portSeen.resolve(rec.port);
        }
      } catch {
        // not JSON
      }
    }
  });
  createInterface({ input: child.stderr }).on("line", (line) => {
    err.push(line);
    allLogs.push(line);
  });

  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  let port: number;
  try {
    port = await Promise.race([
      portSeen.promise,
      new Promise<never>((_, reject) =>
        setTimeout(() => {
          reject(new Error(`controller did not log its port within ${timeoutMs} ms`));
        }, timeoutMs).unref(),
      ),
    ]);
    const base = `http://127.0.0.1:${port}`;
    if (options.skipReadyWait !== true)
      await waitFor(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) throw new Error("controller exited");
          const res = await fetch(`${base}/readyz`);
          await res.text();
          return res.status === 200;
        },
        { timeoutMs, message: "controller /readyz 200" },
      );
  } catch (e) {
    child.kill("SIGKILL");
    throw new Error(`${errorText(e)}\nstdout:\n${out.slice(-20).join("\n")}\nstderr:\n${err.join("\n")}`, {
      cause: e,
    });
  }

  const base = `http://127.0.0.1:${port}`;
  const metrics = async (): Promise<string> => {
    const res = await fetch(`${base}/metrics`);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
    return text;
  };
  return {
    pid: child.pid ?? -1,
    port,
    logs: () => [...out],
    stderr: () => [...err],
    logRecords: () =>
      out.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    metrics,
    metric: async (name, labels) => sumMetric(await metrics(), name, labels),
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
    exited,
  };
}

/**
 * Waits until the controller looks idle: queue depth 0, no active worker, and
 * controller_runtime_reconcile_total unchanged (and at least `minReconciles`) over `stablePolls`
 * consecutive polls. Items waiting for a delayed re-add (backoff, requeueAfter) are not counted.
 * Resolves with the reconcile total.
 */
export async function waitForIdle(
  controller: ControllerProcess,
  options: WaitOptions & { minReconciles?: number; stablePolls?: number } = {},
): Promise<number> {
  const stablePolls = options.stablePolls ?? 5;
  let last = -1;
  let stable = 0;
  return waitFor(
    async () => {
      const text = await controller.metrics();
      const total = sumMetric(text, "controller_runtime_reconcile_total");
      const busy = sumMetric(text, "workqueue_depth") + sumMetric(text, "controller_runtime_active_workers");
      stable = busy === 0 && total === last && total >= (options.minReconciles ?? 0) ? stable + 1 : 0;
      last = total;
      return stable >= stablePolls ? total : undefined;
    },
    { intervalMs: 100, message: "the controller to be idle", ...options },
  );
}

/**
 * Kills every controller still running, closes every ECR server and deletes every namespace started or
 * created through this module. Runs by itself when the test file ends.
 */
export async function stopEverything(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of controllers) {
    if (child.exitCode === null && child.signalCode === null) {
      waits.push(new Promise((resolve) => child.once("exit", resolve)));
      child.kill("SIGKILL");
    }
  }
  for (const server of ecrServers) waits.push(server.close());
  ecrServers.clear();
  await Promise.all(waits);
  if (createdNamespaces.size > 0) {
    const { core } = kube();
    await Promise.all([...createdNamespaces].map((name) => deleteNamespace(core, name)));
    createdNamespaces.clear();
  }
}

process.on("exit", () => {
  for (const child of controllers) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

// Registered on the root test of the importing file: runs once all of its tests are done.
after(stopEverything);
