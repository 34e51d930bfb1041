/**
 * How an informer is doing, in words for logs and /readyz: its state, the sorting of list/watch errors
 * (410 -> relist; no HTTP answer -> "unreachable"; the rest -> HTTP errors), and the errors an informer
 * makes of watches that end badly without an HTTP error.
 */

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
