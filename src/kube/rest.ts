import { RequestContext, type KubeConfig } from "@kubernetes/client-node";
import { request, type Dispatcher } from "undici";

/** An error answer of the API server: statusCode is the HTTP status, body the server's text (a Status). */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  readonly statusCode: number;
  readonly body: string;
  /** The answer's Retry-After header, when it had one (a 429 from API Priority and Fairness does). */
  readonly retryAfter: string | undefined;

  constructor(method: string, path: string, statusCode: number, body: string, retryAfter?: string) {
    // The path and status only: bodies of failed writes may echo what was sent.
    super(`${method} ${path}: HTTP ${statusCode}`);
    this.statusCode = statusCode;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  /** Defaults to application/json. */
  readonly contentType?: string;
  /** Defaults to application/json; METADATA_ONLY asks for the answer's metadata only. */
  readonly accept?: string;
  /** Bounds the whole call (connect, headers and body); defaults to the client's timeout. */
  readonly timeoutMs?: number;
  /** Aborts the call at once (leadership lost, shutdown). */
  readonly signal?: AbortSignal;
}

/**
 * Accept header asking the API server to answer with the object's metadata only (a PartialObjectMetadata),
 * falling back to the whole object. Write answers then leave out what was just sent (a pull secret's data).
 */
export const METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/**
 * Accept header of a metadata-only list (a PartialObjectMetadataList: each item's metadata, managedFields
 * included), falling back to the whole list. A watch asks with METADATA_ONLY: each event's object is then
 * a PartialObjectMetadata.
 */
export const METADATA_ONLY_LIST =
  "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/** One page of a list: its items and the list's metadata. */
export interface ListPage<T> {
  readonly items: T[];
  readonly resourceVersion: string;
}

/**
 * A small JSON client for the API calls eatr makes often: pull secret writes, paged lists and watches.
 *
 * It sends plain JSON with undici's request() through the connection pool client-node's KubeConfig builds
 * for the cluster (src/kube/shared-connections.ts), with client-node's authentication (tokens, exec
 * plugins, rotated files, proxies all keep working), applied again every AUTH_REUSE_MS and after any 401.
 * It skips what makes client-node's generated API costly per call: the model (de)serialisation walk, the
 * middleware observables and fetch's Web-stream machinery. Objects come back exactly as the server sent
 * them (timestamps are strings, as on a watch). Leases and Events, a few calls a minute, still use
 * client-node's generated API.
 */
export class RestClient {
  private readonly kubeConfig: KubeConfig;
  /** The API server's URL from the kubeconfig, without a trailing slash. */
  readonly server: string;
  private readonly timeoutMs: number;
  private readonly watchIdleMs: number;
  /** Authentication applied recently: headers and connection pool, reused for AUTH_REUSE_MS. */
  private auth: { at: number; value: Promise<Auth> } | undefined;

  constructor(kubeConfig: KubeConfig, options: { timeoutMs?: number; watchIdleMs?: number } = {}) {
    const server = kubeConfig.getCurrentCluster()?.server;
    if (server === undefined || server === "")
      throw new Error("kubeconfig: the current context has no cluster");
    this.kubeConfig = kubeConfig;
    this.server = server.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.watchIdleMs = options.watchIdleMs ?? WATCH_IDLE_MS;
  }

  async get<T>(path: string, options?: RequestOptions): Promise<T> {
    return (await this.request("GET", path, options)) as T;
  }

  async post<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return (await this.request("POST", path, { ...options, body })) as T;
  }

  async put<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return (await this.request("PUT", path, { ...options, body })) as T;
  }

  async delete(path: string, options?: RequestOptions): Promise<void> {
    await this.request("DELETE", path, options);
  }

  /**
   * Lists a collection page by page (client-go's pager: limit 500, following `continue`), so a large
   * collection never arrives as one huge response. Each page is handed over as it comes; an expired
   * continue token is the server's 410, which callers treat like any expired resourceVersion.
   */
  async *listPages<T>(
    path: string,
    options: RequestOptions & { pageSize?: number } = {},
  ): AsyncGenerator<ListPage<T>> {
    let cont: string | undefined;
    do {
      const list = (await this.request("GET", path, {
        ...options,
        query: { ...options.query, limit: options.pageSize ?? 500, continue: cont },
      })) as { items?: T[] | null; metadata?: { resourceVersion?: string; continue?: string } };
      cont = list.metadata?.continue ?? undefined;
      if (cont === "") cont = undefined;
      yield { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? "" };
    } while (cont !== undefined);
  }

  /**
   * Watches a collection (client-node's Watch.watch contract, which the informers use): each event goes to
   * callback; done is called once, with undefined/null after a clean end (the server's timeoutSeconds),
   * a TimeoutError after WATCH_IDLE_MS without data, or the error (a KubeApiError for an HTTP status).
   * Lines are split and parsed straight from the response stream. options.accept sets the Accept header
   * (METADATA_ONLY: events carry PartialObjectMetadata objects).
   */
  async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (type: string, object: unknown, event: unknown) => void,
    done: (err: unknown) => void,
    options: { readonly accept?: string } = {},
  ): Promise<AbortController> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    let finished = false;
    const finish = (err: unknown): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      controller.abort();
      done(
        timedOut
          ? new DOMException(`watch ${path}: no data for ${this.watchIdleMs} ms`, "TimeoutError")
          : err,
      );
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.watchIdleMs);
    };
    try {
      arm();
      // bodyTimeout 0: the idle timer above watches the stream.
      const { body } = await this.send("GET", path, { ...queryParams, watch: true }, controller.signal, {
        bodyTimeout: 0,
        ...(options.accept === undefined ? {} : { headers: { Accept: options.accept } }),
      });
      arm();
      // Lines are found in the raw bytes and decoded one at a time: no decoded copy of every chunk, and a
      // partial line is kept as bytes until its end arrives (UTF-8 never has a newline byte inside a
      // multi-byte character, so splitting on byte 10 is safe).
      let partial: Buffer[] = [];
      body.on("data", (chunk: Buffer) => {
        arm();
        let start = 0;
        for (let end = chunk.indexOf(10); end !== -1; end = chunk.indexOf(10, start)) {
          let line: string;
          if (partial.length === 0) {
            line = chunk.toString("utf8", start, end);
          } else {
            partial.push(chunk.subarray(start, end));
            line = Buffer.concat(partial).toString("utf8");
            partial = [];
          }
          start = end + 1;
          if (line === "") continue;
          let event: { type?: unknown; object?: unknown };
          try {
            event = JSON.parse(line) as { type?: unknown; object?: unknown };
          } catch {
            continue; // not an event: skip it, as client-node does
          }
          try {
            callback(String(event.type), event.object, event);
          } catch (err) {
            finish(err); // a handler failed: end this watch with its error (the informer retries)
            return;
          }
        }
        if (start < chunk.length) partial.push(chunk.subarray(start));
      });
      body.on("end", () => {
        finish(null);
      });
      body.on("close", () => {
        finish(null);
      });
      body.on("error", finish);
    } catch (err) {
      finish(err);
    }
    return controller;
  }

  /** The kubeconfig's authentication, applied at most every AUTH_REUSE_MS (concurrent callers share one). */
  private authentication(): Promise<Auth> {
    const now = performance.now();
    if (this.auth !== undefined && now - this.auth.at < AUTH_REUSE_MS) return this.auth.value;
    const ctx = new RequestContext(this.server, "GET");
    const value = this.kubeConfig.applySecurityAuthentication(ctx).then(() => ({
      headers: ctx.getHeaders(),
      dispatcher: ctx.getDispatcher(),
    }));
    const entry = { at: now, value };
    this.auth = entry;
    value.catch(() => {
      if (this.auth === entry) this.auth = undefined;
    });
    return value;
  }

  /** One call; resolves with the parsed JSON answer (undefined when empty), rejects with KubeApiError. */
  async request(method: Method, path: string, options: RequestOptions = {}): Promise<unknown> {
    // One timer per call, cleared when it ends (AbortSignal.timeout would keep one alive per call).
    const abort = new AbortController();
    const timeoutMs = Math.max(1, Math.ceil(options.timeoutMs ?? this.timeoutMs));
    const timer = setTimeout(() => {
      abort.abort(new DOMException(`${method} ${path}: no answer within ${timeoutMs} ms`, "TimeoutError"));
    }, timeoutMs);
    const outer = options.signal;
    const onOuterAbort = (): void => {
      abort.abort(outer?.reason);
    };
    if (outer?.aborted) onOuterAbort();
    else outer?.addEventListener("abort", onOuterAbort, { once: true });
    try {
      const headers: Record<string, string> = { Accept: options.accept ?? "application/json" };
      let body: string | undefined;
      if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers["Content-Type"] = options.contentType ?? "application/json";
      }
      const res = await this.send(method, path, options.query, abort.signal, { headers, body });
      const text = await res.body.text();
      return text === "" ? undefined : (JSON.parse(text) as unknown);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuterAbort);
    }
  }

  /**
   * Sends one request with the kubeconfig's authentication on its connection pool. Resolves with a 2xx
   * answer (its body unread); any other status is read and thrown as KubeApiError, and a 401 makes the next
   * call read the credentials again (they were rotated).
   */
  private async send(
    method: Method,
    path: string,
    query: RequestOptions["query"],
    signal: AbortSignal,
    extra: { headers?: Record<string, string>; body?: string; bodyTimeout?: number } = {},
  ): Promise<Dispatcher.ResponseData> {
    const auth = await this.authentication();
    const res = await request(this.server + path + queryString(query), {
      method,
      headers: { ...auth.headers, Accept: "application/json", ...extra.headers },
      body: extra.body,
      signal,
      ...(extra.bodyTimeout === undefined ? {} : { bodyTimeout: extra.bodyTimeout }),
      ...(auth.dispatcher === undefined ? {} : { dispatcher: auth.dispatcher }),
    });
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    const text = await res.body.text();
    if (res.statusCode === 401) this.auth = undefined;
    const retryAfter = res.headers["retry-after"];
    throw new KubeApiError(
      method,
      path,
      res.statusCode,
      text,
      typeof retryAfter === "string" ? retryAfter : retryAfter?.[0],
    );
  }
}

/** What client-node's authentication yields for a call: headers (a bearer token…) and the connection pool. */
interface Auth {
  readonly headers: Readonly<Record<string, string>>;
  readonly dispatcher: Dispatcher | undefined;
}

/**
 * How long one application of the kubeconfig's authentication serves calls. client-node re-reads CA,
 * certificate and key files and rebuilds headers on every call, which at a thousand writes a second is a
 * measurable share of the CPU; tokens change far less often (client-go re-reads a token file every
 * minute), and a 401 drops the cached value at once.
 */
const AUTH_REUSE_MS = 10_000;

/** A watch that receives nothing (not even a bookmark) for this long is closed and resumed (client-node's value). */
const WATCH_IDLE_MS = 30_000;

function queryString(query: RequestOptions["query"]): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s === "" ? "" : `?${s}`;
}

/** The API path of a namespaced collection or object, with every segment escaped. */
export function namespacedPath(resource: string, namespace: string, name?: string): string {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}
