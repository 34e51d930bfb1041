/**
 * The controller under test: `node dist/main.js` in its own process group, with the bench's kubeconfig and
 * ECR endpoint. Its /proc entries give CPU time and peak RSS; its /metrics give its own counters.
 *
 * Every controller started here is stopped on every exit path of the bench: by stop(), by the cleanup
 * handlers of test/env/processes.ts (signals, fatal errors, process exit) and, if the bench is SIGKILLed,
 * by the controller itself when its stdin (a pipe from the bench) closes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { own, signalGroup } from "../../test/env/processes.ts";
import { sumMetric } from "../../test/support/prometheus-text.ts";
import type { MemoryLimit } from "./memory-limit.ts";

/** Preloaded into the controller: it stops itself (SIGTERM) when the bench that owns its stdin dies. */
const STOP_WHEN_ORPHANED =
  'process.stdin.on("end",()=>process.kill(process.pid,"SIGTERM"));' +
  'process.stdin.on("error",()=>{});process.stdin.resume();process.stdin.unref();';

export interface ControllerOptions {
  mainJs: string;
  kubeconfig: string;
  ecrEndpoint: string;
  hostNamespace: string;
  /** Extra controller flags (appended: a repeated flag keeps its last value). */
  args: readonly string[];
  /** Extra node flags before the script, e.g. --cpu-prof. */
  nodeArgs?: readonly string[];
  /** Environment on top of the bench's own (the image's ENV). */
  env?: Readonly<Record<string, string>>;
  /** stdout+stderr of the controller are appended here. */
  logFile: string;
  /** Used for the data: preload and the node flags. */
  nodeBin?: string;
  /** Run the controller in a memory cgroup of its own with this limit (as in a pod). */
  memoryLimit?: MemoryLimit | undefined;
}

export interface ProcStats {
  /** utime + stime in seconds. */
  cpuSeconds: number;
  /** VmHWM (peak resident set) in MiB. */
  peakRssMb: number;
  /** VmRSS in MiB. */
  rssMb: number;
}

const CLOCK_TICKS = 100;

/** CPU seconds (utime + stime) of a process from /proc/<pid>/stat; 0 when it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** CPU time, peak and current RSS of a process from /proc. */
export function procStats(pid: number): ProcStats {
  let peakRssMb = 0;
  let rssMb = 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name: string): number =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    peakRssMb = kb("VmHWM") / 1024;
    rssMb = kb("VmRSS") / 1024;
  } catch {
    // gone
  }
  return { cpuSeconds: cpuSecondsOf(pid), peakRssMb, rssMb };
}

export class Controller {
  readonly pid: number;
  /** performance.now() when the process was spawned. */
  readonly spawnedAt: number;
  readonly exited: Promise<string>;
  readonly port: Promise<number>;
  private readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private readonly unown: () => void;
  private stopping: Promise<ProcStats> | undefined;
  private lastStats: ProcStats = { cpuSeconds: 0, peakRssMb: 0, rssMb: 0 };
  /** True when the kernel killed it at its memory limit. */
  oomKilled = false;

  constructor(o: ControllerOptions) {
    const log = createWriteStream(o.logFile, { flags: "a" });
    this.spawnedAt = performance.now();
    const node = o.nodeBin ?? process.execPath;
    const nodeArgv = [
      ...(o.nodeArgs ?? []),
      "--import",
      `data:text/javascript,${encodeURIComponent(STOP_WHEN_ORPHANED)}`,
      o.mainJs,
      "-config-file-path",
      o.kubeconfig,
      "-ecr-endpoint",
      o.ecrEndpoint,
      "-host-namespace",
      o.hostNamespace,
      "-port",
      "0",
      ...o.args,
    ];
    const limited = o.memoryLimit?.wrap(basename(o.logFile, ".log"), node, nodeArgv);
    this.child = spawn(limited?.command ?? node, limited?.args ?? nodeArgv, {
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...o.env },
    });
    this.pid = this.child.pid ?? -1;
    const pid = this.pid;
    this.unown = own({
      pgids: () => (pid > 0 && this.child.exitCode === null && this.child.signalCode === null ? [pid] : []),
      paths: () => [],
      stop: async () => {
        await this.stop();
      },
    });
    this.exited = new Promise<string>((resolve) => {
      this.child.once("exit", (code, signal) => {
        const oom = limited !== undefined && o.memoryLimit?.release(limited.cgroup).oomKilled === true;
        if (oom) this.oomKilled = true;
        resolve(
          oom
            ? `OOM-killed at its memory limit (${String(Math.round((o.memoryLimit?.bytes ?? 0) / 2 ** 20))} MiB)`
            : signal
              ? `killed by ${signal}`
              : `exited with code ${String(code)}`,
        );
      });
      this.child.once("error", (err) => {
        resolve(`failed to start: ${err.message}`);
      });
    });
    void this.exited.then(() => {
      this.unown();
      log.end();
    });
    const keep = (line: string): void => {
      log.write(`${line}\n`);
      this.tail.push(line);
      if (this.tail.length > 50) this.tail.shift();
    };
    this.port = new Promise<number>((resolve, reject) => {
      const { stdout, stderr } = this.child;
      if (!stdout || !stderr) {
        reject(new Error("controller has no stdout"));
        return;
      }
      createInterface({ input: stderr }).on("line", keep);
      createInterface({ input: stdout }).on("line", (line) => {
        keep(line);
        if (!line.includes('"port"')) return;
        try {
          const rec = JSON.parse(line) as { msg?: unknown; port?: unknown };
          if (typeof rec.port === "number" && typeof rec.msg === "string" && rec.msg.startsWith("serving"))
            resolve(rec.port);
        } catch {
          // not a log line
        }
      });
      void this.exited.then((how) => {
        reject(new Error(`the controller ${how} before serving /metrics\n${this.lastLines()}`));
      });
    });
    this.port.catch(() => undefined);
  }

  /** The last lines the controller wrote (for error messages). */
  lastLines(): string {
    return this.tail.join("\n");
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stats(): ProcStats {
    if (this.running()) this.lastStats = procStats(this.pid);
    return this.lastStats;
  }

  async url(path: string): Promise<string> {
    return `http://127.0.0.1:${await this.port}${path}`;
  }

  /** Resolves with performance.now() at the first /readyz 200; rejects on exit or timeout. */
  async waitReady(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    const port = await Promise.race([
      this.port,
      sleep(timeoutMs).then(() => Promise.reject(new Error("no port logged in time"))),
    ]);
    while (performance.now() < deadline) {
      if (!this.running()) throw new Error(`controller exited before ready\n${this.lastLines()}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) });
        await res.text();
        if (res.status === 200) return performance.now();
      } catch {
        // not yet
      }
      await sleep(20);
    }
    throw new Error(`controller not ready within ${timeoutMs} ms\n${this.lastLines()}`);
  }

  async metricsText(): Promise<string> {
    const res = await fetch(await this.url("/metrics"), { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
    return text;
  }

  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return sumMetric(await this.metricsText(), name, labels);
  }

  /**
   * Waits until the controller is idle: queue empty, no active worker, and the reconcile total unchanged
   * (and at least minReconciles) over `stablePolls` polls 200 ms apart. Returns the reconcile total.
   */
  async waitIdle(timeoutMs: number, minReconciles = 0, stablePolls = 5): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    let last = -1;
    let stable = 0;
    while (performance.now() < deadline) {
      const text = await this.metricsText();
      const total = sumMetric(text, "controller_runtime_reconcile_total");
      const busy = sumMetric(text, "workqueue_depth") + sumMetric(text, "controller_runtime_active_workers");
      stable = busy === 0 && total === last && total >= minReconciles ? stable + 1 : 0;
      last = total;
      if (stable >= stablePolls) return total;
      await sleep(200);
    }
    throw new Error(
      `controller not idle within ${timeoutMs} ms (reconciles ${last}, wanted ${minReconciles})`,
    );
  }

  /** Sends a signal to the controller alone (e.g. SIGUSR2 for a heap snapshot). */
  signal(signal: NodeJS.Signals): void {
    if (this.running()) this.child.kill(signal);
  }

  /** SIGKILL, without waiting. */
  kill(): void {
    if (this.running() && this.pid > 0) signalGroup(this.pid, "SIGKILL");
  }

  /** SIGTERM (SIGKILL after 10 s); resolves with the last /proc stats read before it exited. */
  stop(signal: NodeJS.Signals = "SIGTERM"): Promise<ProcStats> {
    this.stopping ??= (async () => {
      const stats = this.stats();
      if (this.running() && this.pid > 0) {
        signalGroup(this.pid, signal);
        const late = await Promise.race([this.exited.then(() => false), sleep(10_000).then(() => true)]);
        if (late) {
          signalGroup(this.pid, "SIGKILL");
          await this.exited;
        }
      }
      this.child.stdin?.destroy();
      return stats;
    })();
    return this.stopping;
  }
}
