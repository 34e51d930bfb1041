/**
 * moto (https://github.com/getmoto/moto) as an independent AWS peer for tests.
 *
 * ensureMoto() installs `moto[server]==MOTO_VERSION` once into a venv cached outside the repository:
 *   ${EATR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eatr}/moto-<version>/venv
 * A marker file makes it idempotent and a lock directory (moto-<version>.lock, stale locks of dead owners are
 * broken) makes concurrent runs safe. The Python used is $EATR_PYTHON, else `python3` (moto needs >= 3.10).
 *
 * startMoto() runs moto's server (the `moto_server` entry point) on 127.0.0.1 and a free port, in its own
 * process group. stop() kills that group; so does this process's exit. The child also watches a pipe from
 * this process and exits when it closes, so even a SIGKILLed test run leaves no moto_server behind.
 *
 * Known moto behaviour: ECR GetAuthorizationToken returns expiresAt = 2015-01-01T00:00:00Z (already expired),
 * password "<registryId>-auth-token", account 123456789012; credentials are not checked unless the server runs
 * with INITIAL_NO_AUTH_ACTION_COUNT (then SigV4 + IAM are enforced, errors as XML).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, homedir } from "node:os";
import { createServer, Socket } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** The pinned moto version (newest that installs on Python 3.11 when this was written). */
export const MOTO_VERSION = "5.2.5";

const MARKER = "eatr-installed.json";
const LOCK_WAIT_MS = 20 * 60_000;
const LOCK_STALE_NO_OWNER_MS = 60_000;

/** Root of eatr's test caches: $EATR_CACHE_DIR, else $XDG_CACHE_HOME/eatr, else ~/.cache/eatr. */
export function cacheRoot(): string {
  const explicit = process.env["EATR_CACHE_DIR"];
  if (explicit) return explicit;
  const xdg = process.env["XDG_CACHE_HOME"];
  return join(xdg || join(homedir(), ".cache"), "eatr");
}

/** Directory holding the venv for one moto version. */
export function motoDir(version: string = MOTO_VERSION): string {
  return join(cacheRoot(), `moto-${version}`);
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
    let output = "";
    const append = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on("data", append);
    child.stderr.on("data", append);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({ code, signal, output });
    });
  });
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes a directory lock; breaks it when its owner (same host) is dead. Returns the release function. */
async function acquireLock(lockDir: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  const host = hostname();
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, "owner"), JSON.stringify({ pid: process.pid, host }));
      return () => rm(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let stale = false;
    try {
      const owner = JSON.parse(await readFile(join(lockDir, "owner"), "utf8")) as {
        pid: number;
        host: string;
      };
      stale = owner.host === host && !pidAlive(owner.pid);
    } catch {
      // Owner file not written yet (or unreadable): stale only if the lock is old.
      try {
        stale = Date.now() - (await stat(lockDir)).mtimeMs > LOCK_STALE_NO_OWNER_MS;
      } catch {
        continue; // lock vanished: try again at once
      }
    }
    if (stale) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockDir}`);
    await sleep(250);
  }
}

function venvPaths(dir: string): { venv: string; python: string; motoServer: string; marker: string } {
  const venv = join(dir, "venv");
  return {
    venv,
    python: join(venv, "bin", "python"),
    motoServer: join(venv, "bin", "moto_server"),
    marker: join(dir, MARKER),
  };
}

async function isInstalled(dir: string, version: string): Promise<boolean> {
  const p = venvPaths(dir);
  // existsSync follows symlinks: a venv whose base Python vanished counts as not installed.
  if (!existsSync(p.python) || !existsSync(p.motoServer)) return false;
  try {
    const marker = JSON.parse(await readFile(p.marker, "utf8")) as { version?: string };
    return marker.version === version;
  } catch {
    return false;
  }
}

/**
 * Makes sure a venv with `moto[server]==version` exists in the cache and returns its directory
 * (the venv is `<dir>/venv`). Fast when already installed; concurrent callers wait for one install.
 */
export async function ensureMoto(version: string = MOTO_VERSION): Promise<string> {
  const dir = motoDir(version);
  if (await isInstalled(dir, version)) return dir;

  await mkdir(cacheRoot(), { recursive: true });
  const release = await acquireLock(`${dir}.lock`);
  try {
    if (await isInstalled(dir, version)) return dir; // another run finished while we waited
    await rm(dir, { recursive: true, force: true }); // leftovers of an interrupted install
    await mkdir(dir, { recursive: true });
    const p = venvPaths(dir);
    const python = process.env["EATR_PYTHON"] || "python3";
    const started = Date.now();
    process.stderr.write(`[moto] installing moto[server]==${version} into ${p.venv} (one-time)\n`);

    const check = await run(python, [
      "-c",
      "import sys; assert sys.version_info >= (3, 10), sys.version; print(sys.version.split()[0])",
    ]);
    if (check.code !== 0) {
      throw new Error(`${python} is not a usable Python >= 3.10 for moto:\n${tail(check.output)}`);
    }
    const steps: [string, string[]][] = [
      [python, ["-m", "venv", p.venv]],
      [
        p.python,
        [
          "-m",
          "pip",
          "install",
          "--disable-pip-version-check",
          "--no-input",
          "--quiet",
          `moto[server]==${version}`,
        ],
      ],
      [p.python, ["-c", `import moto, flask; assert moto.__version__ == ${JSON.stringify(version)}`]],
    ];
    let log = "";
    for (const [cmd, args] of steps) {
      const res = await run(cmd, args, { ...process.env, PIP_REQUIRE_VIRTUALENV: "", VIRTUAL_ENV: p.venv });
      log += `$ ${cmd} ${args.join(" ")}\n${res.output}\n`;
      if (res.code !== 0) {
        await writeFile(join(dir, "install-failed.log"), log);
        await rm(p.venv, { recursive: true, force: true });
        throw new Error(
          `moto install step failed (${String(res.code ?? res.signal)}): ${cmd} ${args.join(" ")}\n${tail(res.output)}`,
        );
      }
    }
    const seconds = (Date.now() - started) / 1000;
    await writeFile(
      p.marker,
      JSON.stringify({
        version,
        python: check.output.trim(),
        installedAt: new Date().toISOString(),
        seconds,
      }),
    );
    process.stderr.write(`[moto] installed moto ${version} in ${seconds.toFixed(1)} s\n`);
    return dir;
  } finally {
    await release();
  }
}

export interface StartMotoOptions {
  /** Moto version to install and run (default MOTO_VERSION). */
  version?: string;
  /** Extra environment for the server, e.g. { INITIAL_NO_AUTH_ACTION_COUNT: "0" }. */
  env?: Record<string, string>;
  /** How long to wait for the server to answer HTTP (default 60 s). */
  startTimeoutMs?: number;
}

export interface MotoServer {
  /** e.g. "http://127.0.0.1:40123": pass as the AWS SDK client's `endpoint`. */
  readonly endpoint: string;
  readonly port: number;
  /** Pid (and process-group id) of the server process. */
  readonly pid: number;
  /** Recent server output (for diagnosing failures). */
  output(): string;
  /** Forgets every resource moto holds (POST /moto-api/reset). */
  reset(): Promise<void>;
  /** Kills the server's process group and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

// Runs moto's own server entry point, plus a watchdog thread: when our pipe on stdin closes (this process
// exited, however it died), the server's process group is killed.
const LAUNCHER = `
import os, signal, sys, threading
def _watch():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except Exception:
        pass
    try:
        if os.getpgid(0) == os.getpid():
            os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(1)
threading.Thread(target=_watch, daemon=True).start()
from moto.server import main
sys.argv[0] = "moto_server"
main(sys.argv[1:])
`;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) if (child.pid !== undefined) killGroup(child.pid, "SIGKILL");
  });
}

/** Asks the OS for a free TCP port on 127.0.0.1 (there is a small race until the server binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === "object") resolve(addr.port);
        else reject(new Error("no port"));
      });
    });
  });
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

async function startOnce(dir: string, port: number, opts: StartMotoOptions): Promise<MotoServer> {
  const { python } = venvPaths(dir);
  const child = spawn(python, ["-c", LAUNCHER, "-H", "127.0.0.1", "-p", String(port)], {
    detached: true, // own process group: stop() kills the whole group
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...opts.env, PYTHONUNBUFFERED: "1" },
  });
  const pid = child.pid;
  if (pid === undefined) {
    await new Promise((resolve) => child.once("error", resolve));
    throw new Error(`could not start moto with ${python}`);
  }
  live.add(child);
  installExitHook();

  let out = "";
  const append = (chunk: Buffer): void => {
    out += chunk.toString("utf8");
    if (out.length > 64_000) out = out.slice(-32_000);
  };
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  // Do not keep the test process alive because of the server: the exit hook and watchdog clean up.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr])
    if (stream instanceof Socket) stream.unref();

  const state = { exited: false };
  const exitedPromise = new Promise<void>((resolve) => {
    child.once("exit", () => {
      state.exited = true;
      live.delete(child);
      killGroup(pid, "SIGKILL"); // anything the server left in its group
      resolve();
    });
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (!state.exited) {
      killGroup(pid, "SIGTERM");
      const timer = setTimeout(() => {
        killGroup(pid, "SIGKILL");
      }, 5000);
      await exitedPromise;
      clearTimeout(timer);
    }
    child.stdin.destroy();
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (state.exited) throw new Error(`moto_server exited during start-up:\n${tail(out)}`);
    if (await answers(endpoint)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} in time:\n${tail(out)}`);
    }
    await sleep(100);
  }

  return {
    endpoint,
    port,
    pid,
    output: () => out,
    reset: async () => {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
    },
    stop,
  };
}

/** Installs moto if needed and starts a server on a free port of 127.0.0.1. */
export async function startMoto(opts: StartMotoOptions = {}): Promise<MotoServer> {
  const dir = await ensureMoto(opts.version ?? MOTO_VERSION);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(dir, await freePort(), opts);
    } catch (err) {
      lastError = err; // most likely the port was taken between freePort() and bind: try another
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
