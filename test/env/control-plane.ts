/**
 * A real Kubernetes control plane for tests: etcd + kube-apiserver (+ kubectl and helm on the side),
 * built from their published Go modules at pinned versions (see test/env/build.sh) or taken from
 * KUBEBUILDER_ASSETS / TEST_ASSET_* like controller-runtime's envtest.
 *
 *   const binaries = await ensureBinaries();          // builds on first use (minutes), cached after
 *   const cp = await startControlPlane({ binaries });  // etcd + kube-apiserver on free loopback ports
 *   ... new KubeConfig().loadFromFile(cp.kubeconfigPath) ...
 *   await cp.stop();
 *
 * Test files run by test/env/run-integration.ts do not own the control plane: they get a handle with
 * connectControlPlane() (from EATR_TEST_STATE_FILE) that can restart the API server, compact etcd and
 * mint token kubeconfigs too.
 *
 * The state of a running control plane lives in <dir>/state.json (pids, args, paths). It is the source
 * of truth for every stop path: the owner's exit handlers, the orphan watchdog, `testenv stop`.
 */
import { execFile, spawn } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { access, mkdir, mkdtemp, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { createConnection, createServer, type Server } from "node:net";
import { homedir, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify as toYaml } from "yaml";
import {
  isAlive,
  own,
  runs,
  spawnServer,
  startOrphanWatchdog,
  stopGroup,
  type SpawnedServer,
} from "./processes.ts";

const execFileAsync = promisify(execFile);

/** Pinned versions built from the Go module proxy (newest that build here, checked 2026-11). */
export const KUBERNETES_VERSION = "v1.37.2";
export const ETCD_VERSION = "v3.6.16";
export const HELM_VERSION = "v3.22.0";

const BUILD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "build.sh");

export type Logger = (line: string) => void;
const defaultLog: Logger = (line) => {
  process.stderr.write(`testenv: ${line}\n`);
};

/** `${EATR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eatr}` */
export function cacheDir(): string {
  const explicit = process.env.EATR_CACHE_DIR;
  if (explicit) return resolve(explicit);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg ? resolve(xdg) : join(homedir(), ".cache"), "eatr");
}

/** The root of the checkout this file belongs to. */
const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/**
 * The state file of the control plane `testenv start` started from the checkout at `repoRoot` (default:
 * this one): `<cache>/testenv-state/<folder name>-<hash of its path>.json`, a symlink to that control
 * plane's state.json. One per checkout, so checkouts sharing the cache (a CI run beside a test run) never
 * stop, clean up or refuse each other's control plane.
 */
export function defaultStateFile(repoRoot: string = REPO_ROOT): string {
  let root = resolve(repoRoot);
  try {
    root = realpathSync(root);
  } catch {
    // not there (any more): its path still names it
  }
  const key = createHash("sha256").update(root).digest("hex").slice(0, 12);
  return join(cacheDir(), "testenv-state", `${basename(root)}-${key}.json`);
}

// ---------------------------------------------------------------------------------------------
// Binaries

export interface Binaries {
  kubeApiServer: string;
  etcd: string;
  /** Absent only when KUBEBUILDER_ASSETS lacks it (envtest's assets may not ship kubectl). */
  kubectl: string | undefined;
  /** Absent only with ensureBinaries({ helm: false }). */
  helm: string | undefined;
  /** One folder holding kube-apiserver, etcd, kubectl and helm (symlinks where needed). */
  binDir: string;
  /** "env": KUBEBUILDER_ASSETS / TEST_ASSET_*; "cache": built here from pinned versions. */
  source: "env" | "cache";
}

export interface EnsureOptions {
  /** Also ensure helm (default true). */
  helm?: boolean;
  log?: Logger;
}

async function isExecutable(path: string | undefined): Promise<boolean> {
  if (!path) return false;
  try {
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function fromAssetEnv(name: string, envVar: string): Promise<string | undefined> {
  const explicit = process.env[envVar];
  if (explicit) {
    if (!(await isExecutable(explicit))) {
      throw new Error(`${envVar}=${explicit} is not an executable file`);
    }
    return resolve(explicit);
  }
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) {
    const candidate = join(resolve(assets), name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

type Component = "k8s" | "etcd" | "helm";

/**
 * Revision of each component's recipe in test/env/build.sh. Bump it with any recipe change that changes
 * the binary: the cache key changes with it, so a binary built by the old recipe is never reused (and a
 * checkout still on the old recipe keeps its own). Revision 1 keeps the original key.
 * helm 2: Helm's release ldflags (default Kubernetes version for `helm template` and `helm lint`).
 */
const RECIPE_REVISION: Record<Component, number> = { k8s: 1, etcd: 1, helm: 2 };

/** Directory of one built component, e.g. ~/.cache/eatr/k8s-v1.37.2, ~/.cache/eatr/helm-v3.22.0-r2 */
function componentDir(component: Component, version: string): string {
  const revision = RECIPE_REVISION[component];
  return join(cacheDir(), `${component}-${version}${revision > 1 ? `-r${String(revision)}` : ""}`);
}

async function buildComponent(component: Component, version: string, log: Logger): Promise<string> {
  const out = componentDir(component, version);
  if (await pathExists(join(out, ".complete"))) return out;
  const started = Date.now();
  log(`building ${component} ${version} into ${out} (cold builds take minutes; progress follows)`);
  const code = await new Promise<number>((resolvePromise, reject) => {
    const child = spawn("bash", [BUILD_SCRIPT, component, version, out], {
      stdio: ["ignore", 2, 2],
      env: process.env,
    });
    child.once("error", reject);
    child.once("exit", (exitCode, signal) => {
      resolvePromise(exitCode ?? (signal ? 128 : 1));
    });
  });
  if (code !== 0) {
    throw new Error(`building ${component} ${version} failed (exit ${code}); see the output above`);
  }
  log(`${component} ${version} ready after ${((Date.now() - started) / 1000).toFixed(0)}s`);
  return out;
}

/** Makes `dir/name` a symlink to `target` (atomically replacing what was there). */
async function linkInto(dir: string, name: string, target: string): Promise<void> {
  const path = join(dir, name);
  try {
    if ((await readlink(path)) === target) return;
  } catch {
    // missing or not a symlink
  }
  const tmp = `${path}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  await rename(tmp, path);
}

/**
 * Returns ready binaries: from TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD / TEST_ASSET_KUBECTL /
 * TEST_ASSET_HELM or KUBEBUILDER_ASSETS when they point at them, otherwise built into the cache at
 * the pinned versions (the first call takes many minutes; concurrent callers wait on a lock).
 */
export async function ensureBinaries(opts: EnsureOptions = {}): Promise<Binaries> {
  const log = opts.log ?? defaultLog;
  const wantHelm = opts.helm ?? true;
  const envApiServer = await fromAssetEnv("kube-apiserver", "TEST_ASSET_KUBE_APISERVER");
  const envEtcd = await fromAssetEnv("etcd", "TEST_ASSET_ETCD");

  let binaries: Omit<Binaries, "binDir">;
  let binDir: string;
  if (envApiServer || envEtcd) {
    if (!envApiServer || !envEtcd) {
      throw new Error(
        `found ${envApiServer ? "kube-apiserver" : "etcd"} via KUBEBUILDER_ASSETS/TEST_ASSET_* but not ` +
          `${envApiServer ? "etcd" : "kube-apiserver"}: point them at both, or unset them to build both`,
      );
    }
    let helm = await fromAssetEnv("helm", "TEST_ASSET_HELM");
    if (!helm && wantHelm) helm = join(await buildComponent("helm", HELM_VERSION, log), "helm");
    binaries = {
      kubeApiServer: envApiServer,
      etcd: envEtcd,
      kubectl: await fromAssetEnv("kubectl", "TEST_ASSET_KUBECTL"),
      helm,
      source: "env",
    };
    const assets = process.env.KUBEBUILDER_ASSETS ? resolve(process.env.KUBEBUILDER_ASSETS) : undefined;
    const allInAssets =
      assets !== undefined &&
      [binaries.kubeApiServer, binaries.etcd, binaries.kubectl, binaries.helm].every(
        (p) => p === undefined || dirname(p) === assets,
      );
    // One folder per combination of paths, so no stale link from another combination survives.
    const key = createHash("sha256")
      .update([binaries.kubeApiServer, binaries.etcd, binaries.kubectl, binaries.helm].join("\0"))
      .digest("hex")
      .slice(0, 12);
    binDir = allInAssets ? assets : join(cacheDir(), "bin", `env-${key}`);
  } else {
    const k8s = await buildComponent("k8s", KUBERNETES_VERSION, log);
    const etcd = await buildComponent("etcd", ETCD_VERSION, log);
    const helm = wantHelm ? await buildComponent("helm", HELM_VERSION, log) : undefined;
    binaries = {
      kubeApiServer: join(k8s, "kube-apiserver"),
      etcd: join(etcd, "etcd"),
      kubectl: join(k8s, "kubectl"),
      helm: helm ? join(helm, "helm") : undefined,
      source: "cache",
    };
    // Named after the component dirs (recipe revisions included): checkouts on other recipes never
    // relink each other's helm.
    const parts = [k8s, etcd, componentDir("helm", HELM_VERSION)];
    binDir = join(cacheDir(), "bin", parts.map((p) => basename(p)).join("_"));
  }
  for (const [name, path] of [
    ["kube-apiserver", binaries.kubeApiServer],
    ["etcd", binaries.etcd],
  ] as const) {
    if (!(await isExecutable(path))) throw new Error(`${name} at ${path} is not executable`);
  }
  if (binDir !== process.env.KUBEBUILDER_ASSETS) {
    await mkdir(binDir, { recursive: true });
    await linkInto(binDir, "kube-apiserver", binaries.kubeApiServer);
    await linkInto(binDir, "etcd", binaries.etcd);
    if (binaries.kubectl) await linkInto(binDir, "kubectl", binaries.kubectl);
    if (binaries.helm) await linkInto(binDir, "helm", binaries.helm);
  }
  return { ...binaries, binDir };
}

// ---------------------------------------------------------------------------------------------
// Control plane

export interface StartOptions {
  /** Binaries to run (default: await ensureBinaries()). */
  binaries?: Binaries;
  /** Extra kube-apiserver flags, e.g. ["--watch-cache=false"]. Later flags win. */
  apiServerArgs?: string[];
  /**
   * Keep kube-apiserver's ServiceAccount admission plugin on (default false: disabled, as there is no
   * kube-controller-manager to create `default` ServiceAccounts). With it on, a Pod must name an existing
   * ServiceAccount, and gets that ServiceAccount's imagePullSecrets at creation.
   */
  serviceAccountAdmission?: boolean;
  /** How long to wait for /readyz and namespace default (default 120 s). */
  readyTimeoutMs?: number;
  log?: Logger;
}

/** What state.json holds (also the well-known state file written by `testenv start`). */
export interface ControlPlaneState {
  format: 1;
  /** The process whose exit handlers / watchdog stop this control plane; null once detached. */
  ownerPid: number | null;
  watchdogPid: number | null;
  /** Unix socket on which the owner restarts kube-apiserver for other processes (null: no owner). */
  controlSocket: string | null;
  dir: string;
  etcdDataDir: string;
  kubeconfigPath: string;
  server: string;
  version: string;
  etcdUrl: string;
  binDir: string;
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  apiServer: ServerState;
  etcd: ServerState;
  /** Process groups to kill, apiserver first (read by the orphan watchdog). */
  pgids: number[];
  /** Paths to remove after the processes are gone (read by the orphan watchdog). */
  paths: string[];
  /** The servers' executables: a pid that runs neither is a recycled pid, never signalled. */
  commands: string[];
}

interface ServerState {
  pid: number;
  command: string;
  args: string[];
  logFile: string;
}

export interface ControlPlane {
  /** Admin kubeconfig (client certificate CN=admin, O=system:masters). */
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** gitVersion reported by /version, e.g. "v1.37.2". */
  readonly version: string;
  /** http://127.0.0.1:<port> */
  readonly etcdUrl: string;
  /** Temp dir with certificates, kubeconfigs, logs and state.json. */
  readonly dir: string;
  readonly stateFile: string;
  readonly apiServerLogFile: string;
  readonly etcdLogFile: string;
  /** Stops kube-apiserver then etcd (TERM, then KILL after 10 s) and removes the temp dirs. Idempotent. */
  stop(): Promise<void>;
  /** Stops kube-apiserver and starts it again on the same port, certs and etcd; resolves when ready. */
  restartApiServer(): Promise<void>;
  /** Compacts etcd to its current revision (watches from older resourceVersions get 410 Gone). */
  compactEtcd(): Promise<number>;
  /** Writes a kubeconfig for this server that authenticates with a bearer token; returns its path. */
  kubeconfigForToken(token: string, name?: string): Promise<string>;
  /** Lets the servers outlive this process (for `testenv start`): no exit handler, no watchdog. */
  detach(): Promise<ControlPlaneState>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => {
        resolvePort(port);
      });
    });
  });
}

async function tail(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    return text.split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

const OPENSSL_CONFIG = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n";

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args, { cwd });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT")
      throw new Error("openssl is needed to make the test certificates (apt-get install openssl)");
    throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr ?? e.message}`);
  }
}

interface CertFiles {
  caFile: string;
  servingCert: string;
  servingKey: string;
  clientCert: string;
  clientKey: string;
  saPublic: string;
  saPrivate: string;
}

/** CA, serving cert (localhost/127.0.0.1), admin client cert (CN=admin, O=system:masters), SA keys. */
async function makeCertificates(dir: string): Promise<CertFiles> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "openssl.cnf"), OPENSSL_CONFIG);
  const ec = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-config",
    "openssl.cnf",
  ];
  await openssl(dir, [
    "req", "-x509", ...ec, "-days", "30", "-keyout", "ca.key", "-out", "ca.crt",
    "-subj", "/CN=eatr-testenv-ca",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
  ]); // prettier-ignore
  await Promise.all([
    openssl(dir, [
      "req", "-x509", "-CA", "ca.crt", "-CAkey", "ca.key", ...ec, "-days", "30",
      "-keyout", "apiserver.key", "-out", "apiserver.crt", "-subj", "/CN=kube-apiserver",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-addext", "basicConstraints=critical,CA:FALSE",
      "-addext", "keyUsage=critical,digitalSignature",
      "-addext", "extendedKeyUsage=serverAuth",
    ]), // prettier-ignore
    openssl(dir, [
      "req", "-x509", "-CA", "ca.crt", "-CAkey", "ca.key", ...ec, "-days", "30",
      "-keyout", "admin.key", "-out", "admin.crt", "-subj", "/O=system:masters/CN=admin",
      "-addext", "basicConstraints=critical,CA:FALSE",
      "-addext", "keyUsage=critical,digitalSignature",
      "-addext", "extendedKeyUsage=clientAuth",
    ]), // prettier-ignore
  ]);
  const { publicKey, privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  await writeFile(join(dir, "sa.pub"), publicKey);
  await writeFile(join(dir, "sa.key"), privateKey, { mode: 0o600 });
  return {
    caFile: join(dir, "ca.crt"),
    servingCert: join(dir, "apiserver.crt"),
    servingKey: join(dir, "apiserver.key"),
    clientCert: join(dir, "admin.crt"),
    clientKey: join(dir, "admin.key"),
    saPublic: join(dir, "sa.pub"),
    saPrivate: join(dir, "sa.key"),
  };
}

interface HttpResult {
  status: number;
  body: string;
}

/** An HTTPS request to the API server authenticated as admin (client certificate). */
async function adminRequest(
  state: Pick<ControlPlaneState, "server" | "caFile" | "clientCertFile" | "clientKeyFile">,
  method: string,
  path: string,
  timeoutMs = 5_000,
): Promise<HttpResult> {
  const [ca, cert, key] = await Promise.all([
    readFile(state.caFile),
    readFile(state.clientCertFile),
    readFile(state.clientKeyFile),
  ]);
  return new Promise((resolveResult, reject) => {
    const req = httpsRequest(
      new URL(path, state.server),
      { method, ca, cert, key, timeout: timeoutMs, headers: { accept: "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          resolveResult({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => {
      req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`));
    });
    req.on("error", reject);
    req.end();
  });
}

async function etcdPost(etcdUrl: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(new URL(path, etcdUrl), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as unknown;
}

/**
 * Compacts etcd at `etcdUrl` to its current revision through etcd's JSON gateway, the way
 * kube-apiserver's own compactor does: record the revision in the `compact_rev_key` key (which every
 * kube-apiserver watches, so its watch cache prunes its snapshots within ~15 s), then compact
 * (physical: done when this resolves). Returns the compacted revision.
 *
 * Reads at a compacted resourceVersion that reach etcd get 410 Gone. Watches are served from the
 * watch cache's in-memory history, which compaction does not shorten: a watch from an old
 * resourceVersion still gets 410 only with --watch-cache=false, or after restartApiServer().
 */
export async function compactEtcd(etcdUrl: string): Promise<number> {
  const b64 = (text: string): string => Buffer.from(text).toString("base64");
  // A range over the key reads the store's current revision (and the key's CAS version).
  const range = (await etcdPost(etcdUrl, "/v3/kv/range", { key: b64(COMPACT_REV_KEY) })) as {
    header?: { revision?: string };
  };
  const current = Number(range.header?.revision);
  if (!Number.isSafeInteger(current) || current <= 0) {
    throw new Error(`etcd /v3/kv/range returned no revision: ${JSON.stringify(range)}`);
  }
  // The put creates revision current+1; compacting to `current` keeps the put itself readable.
  await etcdPost(etcdUrl, "/v3/kv/put", { key: b64(COMPACT_REV_KEY), value: b64(String(current)) });
  try {
    await etcdPost(etcdUrl, "/v3/kv/compaction", { revision: String(current), physical: true });
  } catch (err) {
    // Already compacted to exactly this revision: nothing left to do.
    if (!String(err).includes("required revision has been compacted")) throw err;
  }
  return current;
}

/** The etcd key kube-apiserver's compactor records the last compacted revision in. */
const COMPACT_REV_KEY = "compact_rev_key";

async function waitFor(
  what: string,
  timeoutMs: number,
  exited: Promise<string> | undefined,
  check: () => Promise<string | true>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitReason: string | undefined;
  void exited?.then((reason) => {
    exitReason = reason;
  });
  let last = "not tried";
  for (;;) {
    if (exitReason !== undefined) throw new Error(`${what}: process ${exitReason} (${last})`);
    try {
      const result = await check();
      if (result === true) return;
      last = result;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms (${last})`);
    await sleep(150);
  }
}

function writeStateSync(file: string, state: ControlPlaneState): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

function readStateSync(file: string): ControlPlaneState {
  return JSON.parse(readFileSync(file, "utf8")) as ControlPlaneState;
}

/** Reads a control plane's state file (state.json, or the well-known `testenv start` file). */
export function readControlPlaneState(file: string = defaultStateFile()): ControlPlaneState {
  return readStateSync(file);
}

async function writeKubeconfig(
  file: string,
  server: string,
  caFile: string,
  user: Record<string, string>,
  name: string,
): Promise<void> {
  const ca = await readFile(caFile);
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "eatr-testenv", cluster: { server, "certificate-authority-data": ca.toString("base64") } },
    ],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: "eatr-testenv", user: name, namespace: "default" } }],
    "current-context": name,
    preferences: {},
  };
  await writeFile(file, toYaml(config), { mode: 0o600 });
}

class ControlPlaneHandle implements ControlPlane {
  readonly stateFile: string;
  private readonly log: Logger;
  private readonly readyTimeoutMs: number;
  /** Children we spawned ourselves (pid -> spawned), for exact exit tracking. */
  private readonly children = new Map<number, SpawnedServer>();
  private unown: (() => void) | undefined;
  private control: Server | undefined;
  private stopped = false;
  private tokenConfigs = 0;

  constructor(stateFile: string, log: Logger, readyTimeoutMs: number) {
    this.stateFile = stateFile;
    this.log = log;
    this.readyTimeoutMs = readyTimeoutMs;
  }

  state(): ControlPlaneState {
    return readStateSync(this.stateFile);
  }

  get kubeconfigPath(): string {
    return this.state().kubeconfigPath;
  }
  get server(): string {
    return this.state().server;
  }
  get version(): string {
    return this.state().version;
  }
  get etcdUrl(): string {
    return this.state().etcdUrl;
  }
  get dir(): string {
    return this.state().dir;
  }
  get apiServerLogFile(): string {
    return this.state().apiServer.logFile;
  }
  get etcdLogFile(): string {
    return this.state().etcd.logFile;
  }

  /** Registers the exit handlers and the orphan watchdog (the owning process only). */
  takeOwnership(): void {
    let lastKnown = this.state();
    this.unown = own({
      pgids: () => {
        try {
          lastKnown = this.state();
        } catch {
          // keep the last known state
        }
        return [lastKnown.apiServer, lastKnown.etcd].filter((s) => runs(s.pid, s.command)).map((s) => s.pid);
      },
      paths: () => lastKnown.paths,
      stop: () => this.stop(),
    });
    const state = this.state();
    state.ownerPid = process.pid;
    state.watchdogPid = startOrphanWatchdog(process.pid, this.stateFile);
    state.controlSocket = this.serveControlSocket(join(state.dir, "control.sock"));
    writeStateSync(this.stateFile, state);
  }

  /**
   * Lets other processes (test files) ask the owner to restart kube-apiserver, so that the new
   * process is the owner's child like the first one: tracked exactly, reaped, stopped on every path.
   * Protocol: one line "restart-apiserver\n" in, one JSON line {"ok":true}|{"ok":false,"error":…} out.
   */
  private serveControlSocket(path: string): string {
    this.control = createServer((socket) => {
      let input = "";
      socket.setEncoding("utf8");
      socket.on("error", () => {
        // the requester went away; nothing to answer
      });
      socket.on("data", (chunk: string) => {
        input += chunk;
        if (!input.includes("\n")) return;
        const command = input.slice(0, input.indexOf("\n")).trim();
        const run =
          command === "restart-apiserver"
            ? this.restartApiServer()
            : Promise.reject(new Error(`unknown command ${command}`));
        run.then(
          () => socket.end(`${JSON.stringify({ ok: true })}\n`),
          (err: unknown) => socket.end(`${JSON.stringify({ ok: false, error: String(err) })}\n`),
        );
      });
    });
    this.control.unref(); // never keeps the owner alive
    this.control.listen(path);
    return path;
  }

  private closeControlSocket(): void {
    this.control?.close();
    this.control = undefined;
  }

  /** Asks the owning process to restart kube-apiserver; false when there is no owner to ask. */
  private async restartViaOwner(state: ControlPlaneState): Promise<boolean> {
    if (this.unown || !state.controlSocket || !state.ownerPid || !isAlive(state.ownerPid)) return false;
    const socketPath = state.controlSocket;
    const reply = await new Promise<string>((resolveReply, reject) => {
      const socket = createConnection(socketPath);
      let output = "";
      socket.setEncoding("utf8");
      socket.setTimeout(this.readyTimeoutMs + 30_000, () => {
        socket.destroy(new Error("no answer from the control plane's owner"));
      });
      socket.on("connect", () => socket.write("restart-apiserver\n"));
      socket.on("data", (chunk: string) => (output += chunk));
      socket.on("end", () => {
        resolveReply(output);
      });
      socket.on("error", reject);
    });
    const answer = JSON.parse(reply) as { ok: boolean; error?: string };
    if (!answer.ok) throw new Error(`restarting kube-apiserver failed: ${answer.error ?? "unknown error"}`);
    return true;
  }

  track(server: SpawnedServer): void {
    this.children.set(server.pid, server);
    void server.exited.then(() => this.children.delete(server.pid));
  }

  async detach(): Promise<ControlPlaneState> {
    const state = this.state();
    if (state.watchdogPid && state.watchdogPid > 0 && runs(state.watchdogPid, process.execPath)) {
      process.kill(state.watchdogPid, "SIGTERM");
    }
    state.ownerPid = null;
    state.watchdogPid = null;
    state.controlSocket = null;
    writeStateSync(this.stateFile, state);
    this.closeControlSocket();
    this.unown?.();
    this.unown = undefined;
    for (const child of this.children.values()) child.child.unref();
    this.children.clear();
    return Promise.resolve(state);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.closeControlSocket();
    let state: ControlPlaneState;
    try {
      state = this.state();
    } catch {
      this.unown?.();
      return; // already stopped by someone else
    }
    for (const server of [state.apiServer, state.etcd]) {
      const child = this.children.get(server.pid)?.child;
      // Our own child cannot be a recycled pid; for others, check what the pid runs.
      if (child || runs(server.pid, server.command)) await stopGroup(server.pid, 10_000, child);
    }
    if (state.watchdogPid && state.watchdogPid > 0 && runs(state.watchdogPid, process.execPath)) {
      try {
        process.kill(state.watchdogPid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    for (const path of state.paths) await rm(path, { recursive: true, force: true });
    this.unown?.();
    this.unown = undefined;
  }

  async restartApiServer(): Promise<void> {
    const state = this.state();
    if (await this.restartViaOwner(state)) return;
    const old = state.apiServer;
    this.log(`restarting kube-apiserver (pid ${old.pid}) on ${state.server}`);
    const oldChild = this.children.get(old.pid)?.child;
    if (oldChild || runs(old.pid, old.command)) await stopGroup(old.pid, 10_000, oldChild);
    await writeFile(old.logFile, `\n----- restart at ${new Date().toISOString()} -----\n`, { flag: "a" });
    const server = spawnServer(old.command, old.args, old.logFile);
    if (server.pid < 0) throw new Error(`kube-apiserver did not start: ${await server.exited}`);
    if (this.unown) this.track(server);
    else server.child.unref(); // no owner (`testenv start`): `testenv stop` stops it via state.json
    state.apiServer = { ...old, pid: server.pid };
    state.pgids = [server.pid, state.etcd.pid];
    writeStateSync(this.stateFile, state);
    await waitApiServerReady(state, this.readyTimeoutMs, server.exited);
  }

  compactEtcd(): Promise<number> {
    return compactEtcd(this.etcdUrl);
  }

  async kubeconfigForToken(token: string, name = "token-user"): Promise<string> {
    const state = this.state();
    this.tokenConfigs += 1;
    const file = join(
      state.dir,
      `kubeconfig-${name.replace(/[^a-zA-Z0-9_.-]/g, "_")}-${process.pid}-${this.tokenConfigs}.yaml`,
    );
    await writeKubeconfig(file, state.server, state.caFile, { token }, name);
    return file;
  }
}

async function waitApiServerReady(
  state: ControlPlaneState,
  timeoutMs: number,
  exited: Promise<string> | undefined,
): Promise<string> {
  try {
    await waitFor("kube-apiserver /readyz", timeoutMs, exited, async () => {
      const res = await adminRequest(state, "GET", "/readyz");
      return res.status === 200 ? true : `HTTP ${res.status}: ${res.body.slice(0, 300)}`;
    });
    await waitFor("namespace default", timeoutMs, exited, async () => {
      const res = await adminRequest(state, "GET", "/api/v1/namespaces/default");
      return res.status === 200 ? true : `HTTP ${res.status}`;
    });
    const res = await adminRequest(state, "GET", "/version");
    const version = (JSON.parse(res.body) as { gitVersion?: string }).gitVersion;
    if (res.status !== 200 || !version) throw new Error(`GET /version: HTTP ${res.status}: ${res.body}`);
    return version;
  } catch (err) {
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}\n--- last lines of ${state.apiServer.logFile} ---\n` +
        (await tail(state.apiServer.logFile)),
    );
  }
}

/**
 * Starts etcd and kube-apiserver on free loopback ports with fresh certificates and an admin
 * kubeconfig in a new temp dir. The calling process owns them: they are stopped by stop(), and on
 * process exit / SIGINT / SIGTERM / SIGHUP, and by a watchdog if this process is killed outright.
 */
export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? defaultLog;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;
  const binaries = opts.binaries ?? (await ensureBinaries({ log }));
  const dir = await mkdtemp(join(tmpdir(), "eatr-testenv-"));
  let etcdDataDir: string;
  try {
    etcdDataDir = await mkdtemp("/dev/shm/eatr-etcd-");
  } catch {
    etcdDataDir = join(dir, "etcd-data");
    await mkdir(etcdDataDir);
  }
  const stateFile = join(dir, "state.json");
  const handle = new ControlPlaneHandle(stateFile, log, readyTimeoutMs);
  // Until the state file exists, clean up by hand on failure.
  const early: SpawnedServer[] = [];
  const unownEarly = own({
    pgids: () => early.map((s) => s.pid).filter((pid) => pid > 0),
    paths: () => [dir, etcdDataDir],
    stop: async () => {
      for (const s of early.reverse()) await stopGroup(s.pid, 5_000, s.child);
      await rm(dir, { recursive: true, force: true });
      await rm(etcdDataDir, { recursive: true, force: true });
    },
  });
  try {
    const certs = await makeCertificates(join(dir, "pki"));
    const [etcdPort, peerPort, apiPort] = await distinctFreePorts(3);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const server = `https://127.0.0.1:${apiPort}`;

    const etcdArgs = [
      "--name=eatr",
      `--data-dir=${etcdDataDir}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=eatr=http://127.0.0.1:${peerPort}`,
      "--initial-cluster-state=new",
      "--unsafe-no-fsync",
      "--log-level=warn",
    ];
    const etcdLog = join(dir, "etcd.log");
    const etcd = spawnServer(binaries.etcd, etcdArgs, etcdLog);
    early.push(etcd);
    if (etcd.pid < 0) throw new Error(`etcd did not start: ${await etcd.exited}`);
    try {
      await waitFor("etcd /health", 30_000, etcd.exited, async () => {
        const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
        const body = await res.text();
        return res.ok && body.includes('"true"') ? true : `HTTP ${res.status}: ${body}`;
      });
    } catch (err) {
      throw new Error(`${String(err)}\n--- last lines of ${etcdLog} ---\n${await tail(etcdLog)}`);
    }

    const apiArgs = [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, "pki")}`,
      `--tls-cert-file=${certs.servingCert}`,
      `--tls-private-key-file=${certs.servingKey}`,
      `--client-ca-file=${certs.caFile}`,
      "--authorization-mode=RBAC",
      "--service-cluster-ip-range=10.0.0.0/24",
      "--allow-privileged=true",
      ...(opts.serviceAccountAdmission === true ? [] : ["--disable-admission-plugins=ServiceAccount"]),
      `--service-account-issuer=${server}/`,
      `--service-account-key-file=${certs.saPublic}`,
      `--service-account-signing-key-file=${certs.saPrivate}`,
      "--profiling=false",
      // No endpoint reconciler: it refuses a loopback advertise address (1.37), and without a
      // kube-controller-manager/kubelets nothing uses the `kubernetes` Service's endpoints.
      "--endpoint-reconciler-type=none",
      ...(opts.apiServerArgs ?? []),
    ];
    const apiLog = join(dir, "kube-apiserver.log");
    const api = spawnServer(binaries.kubeApiServer, apiArgs, apiLog);
    early.push(api);
    if (api.pid < 0) throw new Error(`kube-apiserver did not start: ${await api.exited}`);

    const kubeconfigPath = join(dir, "kubeconfig.yaml");
    const state: ControlPlaneState = {
      format: 1,
      ownerPid: process.pid,
      watchdogPid: null,
      controlSocket: null,
      dir,
      etcdDataDir,
      kubeconfigPath,
      server,
      version: "",
      etcdUrl,
      binDir: binaries.binDir,
      caFile: certs.caFile,
      clientCertFile: certs.clientCert,
      clientKeyFile: certs.clientKey,
      apiServer: { pid: api.pid, command: binaries.kubeApiServer, args: apiArgs, logFile: apiLog },
      etcd: { pid: etcd.pid, command: binaries.etcd, args: etcdArgs, logFile: etcdLog },
      pgids: [api.pid, etcd.pid],
      paths: [dir, etcdDataDir],
      commands: [binaries.kubeApiServer, binaries.etcd],
    };
    writeStateSync(stateFile, state);
    handle.track(etcd);
    handle.track(api);
    handle.takeOwnership();
    unownEarly();

    try {
      const version = await waitApiServerReady(state, readyTimeoutMs, api.exited);
      await writeKubeconfig(
        kubeconfigPath,
        server,
        certs.caFile,
        {
          "client-certificate-data": (await readFile(certs.clientCert)).toString("base64"),
          "client-key-data": (await readFile(certs.clientKey)).toString("base64"),
        },
        "admin",
      );
      const current = readStateSync(stateFile);
      current.version = version;
      writeStateSync(stateFile, current);
    } catch (err) {
      await handle.stop();
      throw err;
    }
    return handle;
  } catch (err) {
    // Whatever was started is stopped (a no-op for what handle.stop() already stopped).
    for (const s of [...early].reverse()) await stopGroup(s.pid, 5_000, s.child);
    rmSync(dir, { recursive: true, force: true });
    rmSync(etcdDataDir, { recursive: true, force: true });
    unownEarly();
    throw err;
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * A handle on a control plane started elsewhere (by the integration runner or `testenv start`),
 * from its state file (default: EATR_TEST_STATE_FILE, else the well-known `testenv start` file).
 * stop() on it stops that control plane for everyone.
 */
export function connectControlPlane(stateFile?: string, opts: { log?: Logger } = {}): ControlPlane {
  const given = stateFile ?? process.env.EATR_TEST_STATE_FILE ?? defaultStateFile();
  // The well-known file is a symlink to <dir>/state.json: follow it so updates land in the real one.
  const handle = new ControlPlaneHandle(realpathSync(given), opts.log ?? defaultLog, 120_000);
  handle.state();
  return handle;
}

/** The kube-apiserver version of a binary (`kube-apiserver --version` prints "Kubernetes vX.Y.Z"). */
export async function binaryVersion(kubeApiServer: string): Promise<string> {
  const { stdout } = await execFileAsync(kubeApiServer, ["--version"]);
  return stdout.trim().replace(/^Kubernetes\s+/, "");
}
