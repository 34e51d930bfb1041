import { statusBody, statusOf } from "./api.ts";

/**
 * The API server's "slow down": HTTP 429 Too Many Requests, sent by API Priority and Fairness when a
 * priority level's queues are full (and by --max-requests-inflight without APF). The server did not
 * process the request, so any write, a create included, may be sent again once the wait is over.
 */
export interface Throttle {
  /** What the server asked for (Retry-After, or the Status's details.retryAfterSeconds), in ms; undefined when it said nothing usable. */
  readonly retryAfterMs: number | undefined;
}

/** The throttle an API error stands for, or undefined when it is not a 429. */
export function throttleOf(err: unknown): Throttle | undefined {
  if (statusOf(err) !== 429) return undefined;
  const header = retryAfterHeader(err);
  let seconds = header === undefined ? undefined : parseRetryAfter(header);
  if (seconds === undefined) {
    const fromBody = (statusBody(err) as { details?: { retryAfterSeconds?: unknown } }).details
      ?.retryAfterSeconds;
    if (typeof fromBody === "number" && Number.isFinite(fromBody) && fromBody >= 0) seconds = fromBody;
  }
  return { retryAfterMs: seconds === undefined ? undefined : seconds * 1000 };
}

/**
 * Retry-After as the API server sends it: a whole number of seconds (client-go reads only that form). An
 * HTTP date, a negative or a non-numeric value is not used (undefined).
 */
export function parseRetryAfter(value: string): number | undefined {
  const v = value.trim();
  if (!/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The Retry-After header of a KubeApiError (src/kube/rest.ts) or of client-node's ApiException. */
function retryAfterHeader(err: unknown): string | undefined {
  const e = err as { retryAfter?: unknown; headers?: unknown } | undefined;
  if (typeof e?.retryAfter === "string") return e.retryAfter;
  const headers = e?.headers;
  if (typeof headers !== "object" || headers === null) return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>))
    if (k.toLowerCase() === "retry-after" && typeof v === "string") return v;
  return undefined;
}
