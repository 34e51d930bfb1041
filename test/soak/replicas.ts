/**
 * The eatr replicas under test: `node <main.js>` each in its own process group, each talking to the API
 * server through its own TCP proxy (test/e2e/support/tcp-proxy.ts), so one can be cut off and healed.
 * Every line a replica writes goes to its own log file (scanned for secret material at the end).
 *
 * Stopped on every exit path: stopAll(), the cleanup handlers of test/env/processes.ts (signals, fatal
 * errors, process exit: SIGKILL by process group) and, if the soak itself is SIGKILLed, by each replica when
 * its stdin (a pipe from the soak) closes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parse, stringify } from "yaml";
import { own, signalGroup } from "../env/processes.ts";
import { startTcpProxy, type TcpProxy } from "../e2e/support/tcp-proxy.ts";

const STOP_WHEN_ORPHANED =
  'process.stdin.on("end",()=>process.kill(process.pid,"SIGTERM"));' +
  'process.stdin.on("error",()=>{});process.stdin.resume();process.stdin.unref();';

export interface Replica {
  /** r1, r2, … in start order. */
  readonly name: string;
  readonly proxy: TcpProxy;
  readonly logFile: string;
  readonly pid: number;
  /** From the "eatr starting" line: the Lease holder and the eatr/<identity> field manager. */
  identity: string | undefined;
  /** /metrics port, once logged. */
  port: number | undefined;
  exitCode: number | undefined;
  readonly exited: Promise<number>;
  signal(signal: NodeJS.Signals): void;
}

export interface ReplicaOptions {
  mainJs: string;
  adminKubeconfig: string;
  apiServer: { host: string; port: number };
  logsDir: string;
  /** Controller flags after -config-file-path. */
  args: readonly string[];
  onStart(r: Replica): void;
  onExit(r: Replica, code: number): void;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return 128 + (signal === null ? 0 : (numbers[signal] ?? 0));
}

export class Replicas {
  readonly all: Replica[] = [];
  private readonly o: ReplicaOptions;
  private started = 0;

  constructor(o: ReplicaOptions) {
    this.o = o;
  }

  live(): Replica[] {
    return this.all.filter((r) => r.exitCode === undefined);
  }

  byIdentity(identity: string | undefined): Replica | undefined {
    return identity === undefined || identity === ""
      ? undefined
      : this.live().find((r) => r.identity === identity);
  }

  /** Starts one replica behind a new proxy; resolves once it logged its identity and port (60 s at most; else it is killed). */
  async start(): Promise<Replica> {
    const name = `r${String(++this.started)}`;
    const proxy = await startTcpProxy(this.o.apiServer);
    const kubeconfig = await this.kubeconfigThrough(proxy.port, name);
    const logFile = join(this.o.logsDir, `${name}.log`);
    const log = createWriteStream(logFile, { flags: "a" });
    const child: ChildProcess = spawn(
      process.execPath,
      [
        "--import",
        `data:text/javascript,${encodeURIComponent(STOP_WHEN_ORPHANED)}`,
        this.o.mainJs,
        "-config-file-path",
        kubeconfig,
        ...this.o.args,
      ],
      { detached: true, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, POD_NAMESPACE: "" } },
    );
    const pid = child.pid ?? -1;
    const unown = own({
      pgids: () => (pid > 0 && child.exitCode === null && child.signalCode === null ? [pid] : []),
      paths: () => [],
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          signalGroup(pid, "SIGKILL");
          await exited;
        }
      },
    });
    const ready = Promise.withResolvers<undefined>();
    const exited = new Promise<number>((resolve) => {
      child.once("exit", (code, signal) => {
        const exitCode = exitCodeOf(code, signal);
        replica.exitCode = exitCode;
        unown();
        log.end();
        ready.reject(new Error(`${name} exited (${String(exitCode)}) before it was up; see ${logFile}`));
        this.o.onExit(replica, exitCode);
        resolve(exitCode);
      });
    });
    ready.promise.catch(() => undefined);
    const replica: Replica = {
      name,
      proxy,
      logFile,
      pid,
      identity: undefined,
      port: undefined,
      exitCode: undefined,
      exited,
      signal: (signal) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
    this.all.push(replica);
    const onLine = (line: string): void => {
      log.write(`${line}\n`);
      if (!line.startsWith("{")) return;
      try {
        const rec = JSON.parse(line) as { msg?: unknown; identity?: unknown; port?: unknown };
        if (rec.msg === "eatr starting" && typeof rec.identity === "string") replica.identity = rec.identity;
        if (typeof rec.msg === "string" && rec.msg.startsWith("serving") && typeof rec.port === "number")
          replica.port = rec.port;
        if (replica.identity !== undefined && replica.port !== undefined) ready.resolve(undefined);
      } catch {
        // not a log record
      }
    };
    if (child.stdout) createInterface({ input: child.stdout }).on("line", onLine);
    if (child.stderr) createInterface({ input: child.stderr }).on("line", onLine);
    const timer = setTimeout(() => {
      ready.reject(new Error(`${name} did not log its identity and port within 60 s; see ${logFile}`));
    }, 60_000);
    try {
      await ready.promise;
    } catch (err) {
      signalGroup(pid, "SIGKILL"); // never leave a half-started replica behind
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.o.onStart(replica);
    return replica;
  }

  /** SIGTERM to every live replica, SIGKILL after 10 s; closes every proxy. */
  async stopAll(): Promise<void> {
    const live = this.live();
    for (const r of live) r.signal("SIGTERM");
    await Promise.all(
      live.map(async (r) => {
        const timer = setTimeout(() => {
          signalGroup(r.pid, "SIGKILL");
        }, 10_000);
        await r.exited;
        clearTimeout(timer);
      }),
    );
    await Promise.all(this.all.map((r) => r.proxy.close()));
  }

  /** A copy of the admin kubeconfig whose server is the proxy (the serving cert covers 127.0.0.1). */
  private async kubeconfigThrough(port: number, name: string): Promise<string> {
    const config = parse(await readFile(this.o.adminKubeconfig, "utf8")) as {
      clusters?: { cluster?: { server?: string } }[];
    };
    for (const c of config.clusters ?? [])
      if (c.cluster) c.cluster.server = `https://127.0.0.1:${String(port)}`;
    const path = join(this.o.logsDir, `kubeconfig-${name}.yaml`);
    await writeFile(path, stringify(config), { mode: 0o600 });
    return path;
  }
}
