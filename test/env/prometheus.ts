/**
 * A real Prometheus server for tests (Debian's `prometheus` package, installed by .ci/run), on a free
 * 127.0.0.1 port with a static scrape config and a temp data dir:
 *
 *   const prom = await startPrometheus({ targets: ["127.0.0.1:5000"], ruleFiles: [rules] });
 *   await prom.query("secret_renewals_total");
 *   await prom.stop();
 *
 * The server leads its own process group and is registered with processes.ts, so it is killed on every
 * exit path of the test process (stop(), exit, signals); its temp dir goes with it.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify as toYaml } from "yaml";
import { own, spawnServer, stopGroup } from "./processes.ts";

export interface PrometheusOptions {
  /** host:port targets scraped at /metrics under job "eatr". */
  targets: string[];
  /** Labels added to every scraped series (e.g. { namespace: "eatr" }, as a ServiceMonitor would). */
  targetLabels?: Record<string, string>;
  /** Scrape and rule evaluation interval (default "1s"). */
  interval?: string;
  /** Rule files to load. */
  ruleFiles?: string[];
  /** The prometheus binary (default: `prometheus` on PATH, or EATR_PROMETHEUS). */
  binary?: string;
  /** Deadline for the server to become ready (default 30 s). */
  readyTimeoutMs?: number;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  /** An instant query; resolves with the vector's samples (throws on a query error). */
  query(expr: string): Promise<PromSample[]>;
  /** GET <url><path> as JSON (e.g. /api/v1/targets, /api/v1/rules). */
  api<T>(path: string): Promise<T>;
  /** Stops the server (TERM, then KILL) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** The binary to run, or undefined when Prometheus is not installed. */
export function prometheusBinary(): string | undefined {
  const explicit = process.env.EATR_PROMETHEUS;
  if (explicit) return explicit;
  const found = spawnSync("sh", ["-c", "command -v prometheus"], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** Starts Prometheus and resolves once /-/ready answers 200. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const binary = options.binary ?? prometheusBinary();
  if (binary === undefined) {
    throw new Error("prometheus is not installed (Debian package prometheus; .ci/run installs it)");
  }
  const interval = options.interval ?? "1s";
  const dir = await mkdtemp(join(tmpdir(), "eatr-prometheus-"));
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: [
      {
        job_name: "eatr",
        metrics_path: "/metrics",
        static_configs: [{ targets: options.targets, labels: options.targetLabels ?? {} }],
      },
    ],
  };
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, toYaml(config));
  const port = await freePort();
  const logFile = join(dir, "prometheus.log");
  const server = spawnServer(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--web.enable-lifecycle",
      "--log.level=warn",
    ],
    logFile,
  );
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    unown();
    if (server.pid > 0) await stopGroup(server.pid, 10_000, server.child);
    await rm(dir, { recursive: true, force: true });
  };
  const unown = own({
    pgids: () => (stopped || server.pid <= 0 ? [] : [server.pid]),
    paths: () => [dir],
    stop,
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  let exited: string | undefined;
  void server.exited.then((why) => {
    exited = why;
  });
  try {
    for (;;) {
      if (exited !== undefined) throw new Error(`prometheus ${exited}`);
      try {
        const res = await fetch(`${url}/-/ready`);
        await res.text();
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error("prometheus was not ready in time");
      await sleep(100);
    }
  } catch (err) {
    const log = await readFile(logFile, "utf8").catch(() => "");
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- prometheus log ---\n${log}`, {
      cause: err,
    });
  }

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status?: string; data?: T; error?: string };
    if (res.status !== 200 || body.status !== "success" || body.data === undefined) {
      throw new Error(`GET ${path}: HTTP ${res.status}: ${body.error ?? JSON.stringify(body)}`);
    }
    return body.data;
  };
  return {
    url,
    pid: server.pid,
    logFile,
    api,
    query: async (expr) => {
      const data = await api<{ resultType: string; result: PromSample[] }>(
        `/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      if (data.resultType !== "vector") throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
      return data.result;
    },
    stop,
  };
}
