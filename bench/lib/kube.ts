/**
 * A deliberately thin Kubernetes client for the bench: HTTPS with keep-alive and the admin client certificate
 * of the bench's own control plane, JSON in and out, every request bounded by a timeout. Thin on purpose, so
 * the bench's own overhead stays small next to what it measures (the controller uses @kubernetes/client-node).
 */
import { readFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { readControlPlaneState, type ControlPlane } from "../../test/env/control-plane.ts";

export interface ApiResponse {
  status: number;
  body: string;
}

export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;
  readonly body: string;
  constructor(method: string, path: string, status: number, body: string) {
    super(`${method} ${path}: HTTP ${status}: ${body.slice(0, 300)}`);
    this.status = status;
    this.body = body;
  }
}

export interface KubeObject {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
}

export interface ListResult<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export class Kube {
  readonly server: string;
  /** Process ids of kube-apiserver and etcd (for CPU accounting). */
  readonly apiServerPid: number;
  readonly etcdPid: number;
  private readonly ca: Buffer;
  private readonly cert: Buffer;
  private readonly key: Buffer;
  private readonly agent: Agent;

  /** With a bearer token (a ServiceAccount's): no client certificate, so the server sees that identity. */
  private readonly token: string | undefined;

  constructor(cp: ControlPlane, maxSockets = 64, token?: string) {
    const state = readControlPlaneState(cp.stateFile);
    this.server = state.server;
    this.apiServerPid = state.apiServer.pid;
    this.etcdPid = state.etcd.pid;
    this.ca = readFileSync(state.caFile);
    this.cert = readFileSync(state.clientCertFile);
    this.key = readFileSync(state.clientKeyFile);
    this.token = token;
    this.agent = new Agent(
      token === undefined
        ? { keepAlive: true, maxSockets, ca: this.ca, cert: this.cert, key: this.key }
        : { keepAlive: true, maxSockets, ca: this.ca },
    );
  }

  /** One request; resolves with status and body whatever the status. */
  request(
    method: string,
    path: string,
    body?: unknown,
    options: { contentType?: string; timeoutMs?: number } = {},
  ): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        new URL(path, this.server),
        {
          method,
          agent: this.agent,
          timeout: timeoutMs,
          headers: {
            accept: "application/json",
            ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
            ...(payload === undefined
              ? {}
              : {
                  "content-type": options.contentType ?? "application/json",
                  "content-length": Buffer.byteLength(payload),
                }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => {
        req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`));
      });
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** A request that must answer 2xx (or one of `allow`); returns the parsed body. */
  async json<T>(
    method: string,
    path: string,
    body?: unknown,
    options: { contentType?: string; timeoutMs?: number; allow?: number[] } = {},
  ): Promise<T | undefined> {
    const res = await this.request(method, path, body, options);
    if (res.status >= 200 && res.status < 300) return JSON.parse(res.body) as T;
    if (options.allow?.includes(res.status)) return undefined;
    throw new ApiError(method, path, res.status, res.body);
  }

  /** Lists a collection page by page (limit 500); returns every item and the list's resourceVersion. */
  async listAll<T>(path: string, query: Record<string, string> = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont = "";
    let resourceVersion = "";
    for (let page = 0; page < 100_000; page++) {
      const params = new URLSearchParams({ ...query, limit: "500" });
      if (cont !== "") params.set("continue", cont);
      const list = await this.json<ListResult<T>>("GET", `${path}?${params.toString()}`, undefined, {
        timeoutMs: 120_000,
      });
      if (!list) break;
      items.push(...list.items);
      if (resourceVersion === "") resourceVersion = list.metadata?.resourceVersion ?? "";
      cont = list.metadata?.continue ?? "";
      if (cont === "") break;
    }
    return { metadata: { resourceVersion }, items };
  }

  /** The API server's own /metrics (Prometheus text). */
  async metricsText(): Promise<string> {
    const res = await this.request("GET", "/metrics", undefined, { timeoutMs: 30_000 });
    if (res.status !== 200) throw new ApiError("GET", "/metrics", res.status, res.body);
    return res.body;
  }

  /**
   * Streams watch events of `path` (a collection) from `resourceVersion`, calling `onEvent` with the arrival
   * time (performance.now()) of each event. Re-watches from the last seen resourceVersion when the server
   * ends the watch; stops on stop() or on a 410 Gone (reported through onError).
   */
  watch(
    path: string,
    query: Record<string, string>,
    resourceVersion: string,
    onEvent: (type: string, obj: KubeObject, at: number) => void,
    onError: (err: Error) => void,
  ): { stop(): void } {
    let stopped = false;
    let current: { destroy(): void } | undefined;
    let rv = resourceVersion;
    const start = (): void => {
      if (stopped) return;
      const params = new URLSearchParams({
        ...query,
        watch: "true",
        allowWatchBookmarks: "true",
        timeoutSeconds: "1800",
        resourceVersion: rv,
      });
      const req = httpsRequest(
        new URL(`${path}?${params.toString()}`, this.server),
        {
          method: "GET",
          ca: this.ca,
          cert: this.cert,
          key: this.key,
          headers: { accept: "application/json" },
        },
        (res) => {
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              onError(new ApiError("WATCH", path, res.statusCode ?? 0, Buffer.concat(chunks).toString()));
            });
            return;
          }
          let buffered = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            const at = performance.now();
            buffered += chunk;
            let nl = buffered.indexOf("\n");
            while (nl >= 0) {
              const line = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              nl = buffered.indexOf("\n");
              if (line.trim() === "") continue;
              const event = JSON.parse(line) as { type: string; object: KubeObject & { code?: number } };
              if (event.type === "ERROR") {
                stopped = true;
                onError(new Error(`watch ${path}: ${JSON.stringify(event.object).slice(0, 300)}`));
                req.destroy();
                return;
              }
              const eventRv = event.object.metadata?.resourceVersion;
              if (eventRv !== undefined && eventRv !== "") rv = eventRv;
              if (event.type !== "BOOKMARK") onEvent(event.type, event.object, at);
            }
          });
          res.on("end", () => {
            current = undefined;
            setTimeout(start, 10).unref();
          });
          res.on("error", () => undefined);
        },
      );
      req.on("error", (err) => {
        if (!stopped) onError(err);
      });
      req.end();
      current = req;
    };
    start();
    return {
      stop: () => {
        stopped = true;
        current?.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `fn` for every item with at most `concurrency` calls in flight; rejects on the first failure. */
export async function forEachLimit<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined) {
      const i = next++;
      if (i >= items.length) return;
      try {
        await fn(items[i] as T, i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failed !== undefined) throw failed instanceof Error ? failed : new Error("forEachLimit: a call failed");
}
