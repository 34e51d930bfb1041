import { RequestContext, type KubeConfig } from "@kubernetes/client-node";
import { request } from "undici";

/** An error answer of the API server: statusCode is the HTTP status, body the server's text (a Status). */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  readonly statusCode: number;
  readonly body: string;

  constructor(method: string, path: string, statusCode: number, body: string) {
    // The path and status only: bodies of failed writes may echo what was sent.
    super(`${method} ${path}: HTTP ${statusCode}`);
    this.statusCode = statusCode;
    this.body = body;
  }
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  /** Defaults to application/json. */
  readonly contentType?: string;
  /** Bounds the whole call (connect, headers and body); defaults to the client's timeout. */
  readonly timeoutMs?: number;
  /** Aborts the call at once (leadership lost, shutdown). */
  readonly signal?: AbortSignal;
}

/** One page of a list: its items and the list's metadata. */
export interface ListPage<T> {
  readonly items: T[];
  readonly resourceVersion: string;
}

/**
 * A small JSON client for the few API calls eatr makes often (pull secret writes and paged lists).
 *
 * It sends plain JSON with undici's request() through the connection pool client-node's KubeConfig builds
 * for the cluster (src/kube/shared-connections.ts), with client-node's authentication applied to every
 * call (tokens, exec plugins and rotated files keep working, and so do proxies). It skips what makes
 * client-node's generated API costly per call: the model (de)serialisation walk, the middleware
 * observables and fetch's Web-stream machinery. Objects come back exactly as the server sent them
 * (timestamps are strings, as on a watch).
 */
export class RestClient {
  private readonly kubeConfig: KubeConfig;
  private readonly server: string;
  private readonly timeoutMs: number;

  constructor(kubeConfig: KubeConfig, options: { timeoutMs?: number } = {}) {
    const server = kubeConfig.getCurrentCluster()?.server;
    if (server === undefined || server === "")
      throw new Error("kubeconfig: the current context has no cluster");
    this.kubeConfig = kubeConfig;
    this.server = server.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 15_000;
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

  /** One call; resolves with the parsed JSON answer (undefined when empty), rejects with KubeApiError. */
  async request(method: Method, path: string, options: RequestOptions = {}): Promise<unknown> {
    const url = this.server + path + queryString(options.query);
    const ctx = new RequestContext(url, method);
    await this.kubeConfig.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: "application/json" };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["Content-Type"] = options.contentType ?? "application/json";
    }

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
      const dispatcher = ctx.getDispatcher();
      const res = await request(url, {
        method,
        headers,
        body,
        signal: abort.signal,
        ...(dispatcher === undefined ? {} : { dispatcher }),
      });
      const text = await res.body.text();
      if (res.statusCode >= 400) throw new KubeApiError(method, path, res.statusCode, text);
      return text === "" ? undefined : (JSON.parse(text) as unknown);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuterAbort);
    }
  }
}

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
