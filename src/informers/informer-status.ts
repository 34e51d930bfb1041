/**
 * How an informer is doing, in words for logs and /readyz: its state; how a watch's end is sorted (resume,
 * relist on 410, or back off) and the errors made of watches that end badly without an HTTP error; and
 * list/watch errors sorted by whether the server answered ("unreachable" when it did not).
 */

/**
 * A watch that ends sooner than this after it started, without a single event, counts as a failure and is
 * retried with backoff (client-go's reflector uses the same 1 s rule). Something that closes watches at
 * once (a proxy, a load balancer, an overloaded server) then costs a few requests a minute, not a hot loop.
 * A watch that stays open this long marks the informer healthy again.
 */
export const MIN_WATCH_DURATION_MS = 1_000;

/** How one watch ended: resume at once, relist at once (410 Gone), or back off after a failure. */
export type WatchEnd =
  | { readonly kind: "resume" }
  | { readonly kind: "gone" }
  | { readonly kind: "failed"; readonly error: unknown };

export const RESUME: WatchEnd = { kind: "resume" };
export const GONE: WatchEnd = { kind: "gone" };

/** What an informer reports about itself (Informer.state()). */
export interface InformerStatus {
  readonly name: string;
  /** True once the first list filled the cache. */
  readonly synced: boolean;
  /** False from the first failure of a list or watch until a list, an event or a watch that stays open. */
  readonly healthy: boolean;
  /** The API server it talks to (no credentials), when the watch client tells. */
  readonly server: string | undefined;
  /** While failing: wall-clock ms of the first failure in a row. */
  readonly failingSinceMs: number | undefined;
  /** Consecutive failures (0 while healthy). */
  readonly failures: number;
  /** While failing: the last failure, described without secrets. */
  readonly lastError: string | undefined;
  /** While failing: true when the last failure got no HTTP answer (refused, reset, DNS, timeout). */
  readonly unreachable: boolean;
}

/** Error carried by a watch stream or the list call, with an HTTP status when there was one. */
interface StatusError {
  statusCode?: unknown;
  code?: unknown;
  name?: unknown;
}

/** The HTTP status of a list/watch error (KubeApiError, client-node's ApiException), if it has one. */
export function httpStatusOf(err: unknown): number | undefined {
  const e = err as StatusError | undefined;
  // Node's network errors carry a string `code` ("ECONNREFUSED") and DOMExceptions a small number: only
  // HTTP statuses count.
  for (const v of [e?.statusCode, e?.code]) if (typeof v === "number" && v >= 100 && v < 600) return v;
  return undefined;
}

export function isGone(err: unknown): boolean {
  return httpStatusOf(err) === 410;
}

/** The client gave up waiting for the server (the call's or the watch's own timeout). */
export function isTimeout(err: unknown): boolean {
  return (err as StatusError | undefined)?.name === "TimeoutError";
}

/** The server, or whatever is in front of it, never answered: no HTTP status and not a watch we judged. */
export function isUnreachable(err: unknown): boolean {
  return (
    httpStatusOf(err) === undefined && !(err instanceof ShortWatchError) && !(err instanceof WatchEventError)
  );
}

/**
 * A watch that ended, without any event, sooner than the informer's minimum watch duration after it
 * opened: something (the server, a proxy, a load balancer) closes watches at once. client-go's reflector
 * treats the same case ("very short watch") as an error, so the loop backs off instead of spinning.
 */
export class ShortWatchError extends Error {
  override readonly name = "ShortWatchError";
}

/** A watch stream's ERROR event (a metav1.Status) other than 410 Gone. */
export class WatchEventError extends Error {
  override readonly name = "WatchEventError";
  readonly statusCode: number | undefined;

  constructor(path: string, status: unknown) {
    const s = (typeof status === "object" && status !== null ? status : {}) as {
      code?: unknown;
      reason?: unknown;
      message?: unknown;
    };
    const code = typeof s.code === "number" ? s.code : undefined;
    const reason = typeof s.reason === "string" && s.reason !== "" ? ` ${s.reason}` : "";
    const message = typeof s.message === "string" && s.message !== "" ? `: ${s.message}` : "";
    super(`watch ${path}: ERROR event: HTTP ${code ?? "?"}${reason}${message}`);
    this.statusCode = code;
  }
}

/** A short, secret-free description of a list/watch error for logs and probes. */
export function describeError(err: unknown): string {
  if (err instanceof ShortWatchError || err instanceof WatchEventError) return err.message;
  if (err instanceof Error) {
    const status = httpStatusOf(err);
    return status === undefined ? `${err.name}: ${err.message}` : `HTTP ${status}: ${err.message}`;
  }
  return String(err);
}

/** A server URL fit for logs: no user name or password, no trailing slash. */
export function displayServer(server: string): string {
  try {
    const url = new URL(server);
    url.username = "";
    url.password = "";
    return url.toString().replace(/\/+$/, "");
  } catch {
    return "(unparsable server URL)";
  }
}

/**
 * /readyz for a set of informers: ready when every one has synced and none is failing. Otherwise the detail
 * says which API server is unreachable since when (or which informer fails with what), and which caches
 * are still waiting for their first list.
 */
export function informersReadiness(states: readonly InformerStatus[]): { ok: boolean; detail: string } {
  const failing = states.filter((s) => !s.healthy && s.failingSinceMs !== undefined);
  const notSynced = states.filter((s) => !s.synced).map((s) => s.name);
  if (failing.length === 0 && notSynced.length === 0) return { ok: true, detail: "all informers synced" };
  const parts: string[] = [];
  // One clause per unreachable server, naming every informer that cannot reach it.
  const unreachable = new Map<string, InformerStatus[]>();
  for (const s of failing) {
    if (!s.unreachable) continue;
    const key = s.server ?? "(unknown server)";
    unreachable.set(key, [...(unreachable.get(key) ?? []), s]);
  }
  for (const [server, group] of unreachable) {
    const since = Math.min(...group.map((s) => s.failingSinceMs ?? Infinity));
    parts.push(
      `API server ${server} unreachable since ${iso(since)} (${group.map((s) => s.name).join(", ")}: ${group[0]?.lastError ?? ""})`,
    );
  }
  for (const s of failing) {
    if (s.unreachable) continue;
    parts.push(
      `${s.name} list/watch failing since ${iso(s.failingSinceMs ?? 0)}${s.server === undefined ? "" : ` on ${s.server}`}: ${s.lastError ?? ""}`,
    );
  }
  if (notSynced.length > 0) parts.push(`waiting for ${notSynced.join(", ")} to sync`);
  return { ok: false, detail: parts.join("; ") };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * How a watch ended, from what is known when it is done: an ERROR event wins over how the stream closed;
 * 410 relists; an error, or a timeout before the watch opened, is a failure; a clean end or a no-data
 * timeout of an open watch resumes, unless the watch ended within MIN_WATCH_DURATION_MS without any event.
 */
export function sortWatchEnd(w: {
  path: string;
  err: unknown;
  streamError: unknown;
  opened: boolean;
  events: number;
  lastedMs: number;
}): WatchEnd {
  if (w.streamError !== undefined)
    return isGone(w.streamError) ? GONE : { kind: "failed", error: w.streamError };
  if (isGone(w.err)) return GONE;
  if (w.err !== undefined && w.err !== null && !(w.opened && isTimeout(w.err)))
    return { kind: "failed", error: w.err };
  if (w.events > 0 || w.lastedMs >= MIN_WATCH_DURATION_MS) return RESUME;
  return {
    kind: "failed",
    error: new ShortWatchError(
      `watch ${w.path} ended ${Math.round(w.lastedMs)} ms after it started, without any event (closed by the server, a proxy or a load balancer)`,
    ),
  };
}

/** 93 s, 4 min 10 s, 2 h 5 min: a duration for log messages. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
