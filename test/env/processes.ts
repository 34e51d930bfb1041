/**
 * Process-tree helpers for the test environment.
 *
 * Every server is spawned `detached` (it leads its own process group) so it can be signalled as a
 * whole tree with `process.kill(-pgid, sig)`. Owned process groups are tracked here; the cleanup
 * handlers kill them on every exit path of the process that started them:
 *   - `exit` (normal exit, process.exit(), uncaught exception): synchronous SIGKILL + rm of temp dirs;
 *   - SIGINT / SIGTERM / SIGHUP: graceful async stop, then exit 130 / 143 / 129;
 *   - uncaughtException / unhandledRejection (only with `installCleanupHandlers({ fatal: true })`, for
 *     runners: a node:test file must keep node:test's own handlers in charge).
 * A SIGKILLed owner runs no handler at all: the orphan watchdog (see startOrphanWatchdog) covers that.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** True while a process with this pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // "<pid> (<comm>) <state> ...": comm may hold spaces and parentheses, so split at the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

/** Sends a signal to a whole process group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    try {
      process.kill(pgid, signal); // the leader may have left its group; signal it alone
      return true;
    } catch {
      return false;
    }
  }
}

/** True while any live (non-zombie) process of the group exists. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  // kill(-pgid, 0) also succeeds when only zombies are left: look for a live member in procfs.
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // fields after "(comm) ": state ppid pgrp ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
  }
  return false;
}

/**
 * Stops a process group: SIGTERM, wait up to `graceMs`, then SIGKILL and wait again.
 * `child` (when we are the parent) gives an exact exit signal; otherwise we poll.
 */
export async function stopGroup(pgid: number, graceMs = 10_000, child?: ChildProcess): Promise<void> {
  if (!signalGroup(pgid, "SIGTERM")) return;
  if (await waitGone(pgid, graceMs, child)) return;
  signalGroup(pgid, "SIGKILL");
  await waitGone(pgid, 5_000, child);
}

async function waitGone(pgid: number, timeoutMs: number, child?: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const leaderDone = child ? child.exitCode !== null || child.signalCode !== null : !isAlive(pgid);
    if (leaderDone && !groupAlive(pgid)) return true;
    await sleep(50);
  }
  return false;
}

export interface SpawnedServer {
  child: ChildProcess;
  pid: number;
  /** Resolves with a description once the process exits. */
  exited: Promise<string>;
}

/** Spawns `command` as the leader of a new process group with stdout+stderr appended to `logFile`. */
export function spawnServer(
  command: string,
  args: readonly string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
): SpawnedServer {
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(command, args, { detached: true, stdio: ["ignore", fd, fd], env });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => {
      resolve(signal ? `killed by ${signal}` : `exited with code ${String(code)}`);
    });
    child.once("error", (err) => {
      resolve(`failed to start: ${err.message}`);
    });
  });
  if (child.pid === undefined) {
    // spawn failed synchronously (e.g. ENOENT); the 'error' event carries the reason
    return { child, pid: -1, exited };
  }
  return { child, pid: child.pid, exited };
}

// ---------------------------------------------------------------------------------------------
// Registry of what this process owns, and the handlers that clean it up on every exit path.

interface Owned {
  /** Process groups to kill (synchronously on 'exit'). */
  pgids: () => number[];
  /** Paths to remove after killing. */
  paths: () => string[];
  /** Graceful async stop (signals). */
  stop: () => Promise<void>;
}

const owned = new Set<Owned>();
let handlersInstalled = false;
let fatalInstalled = false;
let stopping = false;

/** Registers something to clean up; returns the function that unregisters it. */
export function own(item: Owned): () => void {
  owned.add(item);
  installCleanupHandlers();
  return () => owned.delete(item);
}

/** Synchronous last-resort cleanup: SIGKILL every owned group, remove owned paths. */
export function killAllOwnedSync(): void {
  for (const item of owned) {
    for (const pgid of item.pgids()) signalGroup(pgid, "SIGKILL");
    for (const path of item.paths()) {
      try {
        rmSync(path, { recursive: true, force: true });
      } catch {
        // best effort on the way out
      }
    }
  }
  owned.clear();
}

/** Graceful cleanup of everything owned (used by signal and fatal-error handlers). */
export async function stopAllOwned(): Promise<void> {
  const items = [...owned];
  await Promise.allSettled(items.map((item) => item.stop()));
  owned.clear();
}

async function gracefulExit(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    const timer = setTimeout(() => {
      killAllOwnedSync();
      process.exit(code);
    }, 15_000);
    timer.unref();
    await stopAllOwned();
  }
  process.exit(code);
}

/**
 * Installs the cleanup handlers (idempotent). `fatal: true` also handles uncaughtException and
 * unhandledRejection (print, stop everything, exit 1): for runners and CLIs, not for test files.
 */
export function installCleanupHandlers(opts: { fatal?: boolean } = {}): void {
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on("exit", killAllOwnedSync);
    const onSignal = (signal: NodeJS.Signals, code: number): void => {
      if (stopping) {
        // a second Ctrl-C: do not wait any longer
        killAllOwnedSync();
        process.exit(code);
      }
      process.stderr.write(`\ntestenv: ${signal}: stopping the test control plane\n`);
      void gracefulExit(code);
    };
    process.on("SIGINT", () => {
      onSignal("SIGINT", 130);
    });
    process.on("SIGTERM", () => {
      onSignal("SIGTERM", 143);
    });
    process.on("SIGHUP", () => {
      onSignal("SIGHUP", 129);
    });
  }
  if (opts.fatal && !fatalInstalled) {
    fatalInstalled = true;
    const onFatal = (err: unknown): void => {
      process.stderr.write(
        `testenv: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      void gracefulExit(1);
    };
    process.on("uncaughtException", onFatal);
    process.on("unhandledRejection", onFatal);
  }
}

// ---------------------------------------------------------------------------------------------
// Orphan watchdog: covers an owner that dies without running any handler (SIGKILL, OOM kill).

const WATCHDOG_SOURCE = `
const fs = require("node:fs");
const [ownerPid, stateFile] = [Number(process.argv[1]), process.argv[2]];
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === "EPERM"; } };
const argv0 = (pid) => { try { return fs.readFileSync("/proc/" + pid + "/cmdline", "utf8").split("\\0")[0]; } catch { return null; } };
const ours = (pgid, commands) => !commands || commands.includes(argv0(pgid));
const kill = (pgid, sig) => { try { process.kill(-pgid, sig); } catch { try { process.kill(pgid, sig); } catch {} } };
const read = () => { try { return JSON.parse(fs.readFileSync(stateFile, "utf8")); } catch (e) { return e.code === "ENOENT" ? "gone" : null; } };
let last = read();
const timer = setInterval(() => {
  const now = read();
  if (now === "gone") process.exit(0); // stopped and cleaned up already
  if (now) last = now;
  if (alive(ownerPid)) return;
  clearInterval(timer);
  if (!last || last === "gone") return;
  const pgids = (last.pgids ?? []).filter((pgid) => ours(pgid, last.commands));
  for (const pgid of pgids) kill(pgid, "SIGTERM");
  setTimeout(() => {
    for (const pgid of pgids) kill(pgid, "SIGKILL");
    for (const p of last.paths ?? []) { try { fs.rmSync(p, { recursive: true, force: true }); } catch {} }
  }, 3000);
}, 1000);
`;

/** True when `pid` runs `command` (argv[0] as spawned), so a recycled pid is never signalled. */
export function runs(pid: number, command: string): boolean {
  if (!procfsMounted()) return isAlive(pid); // cannot tell: trust the pid
  try {
    return readFileSync(`/proc/${String(pid)}/cmdline`, "utf8").split("\0")[0] === command;
  } catch {
    return false; // no such process
  }
}

function procfsMounted(): boolean {
  try {
    readFileSync("/proc/self/stat");
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a tiny detached node process that, once `ownerPid` is gone, kills the process groups and
 * removes the paths listed in `stateFile` ({ "pgids": number[], "paths": string[], "commands"?:
 * string[] }, re-read every second so restarts are followed; with `commands`, a pgid whose leader runs
 * none of them is left alone: a recycled pid). It exits by itself once `stateFile` is removed. Returns its pid; stop it with process.kill(pid) when done.
 */
export function startOrphanWatchdog(ownerPid: number, stateFile: string): number {
  const child = spawn(process.execPath, ["-e", WATCHDOG_SOURCE, String(ownerPid), stateFile], {
    detached: true,
    stdio: "ignore",
  });
  child.unref();
  return child.pid ?? -1;
}
