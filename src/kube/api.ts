import {
  Observable,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from "@kubernetes/client-node";

/**
 * Per-call options for client-node API methods: bound the request by timeoutMs (client-node has no default
 * timeout) and optionally set the Content-Type (patches default to JSON Patch).
 */
export function callOptions(
  timeoutMs: number,
  contentType?: string,
  signal?: AbortSignal,
): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (ctx: RequestContext) => {
      const timeout = AbortSignal.timeout(Math.ceil(timeoutMs));
      ctx.setSignal(signal === undefined ? timeout : AbortSignal.any([timeout, signal]));
      if (contentType !== undefined) ctx.setHeaderParam("Content-Type", contentType);
      return new Observable(Promise.resolve(ctx));
    },
    post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: "append" };
}

interface ApiErrorShape {
  code?: number;
  statusCode?: number;
  body?: unknown;
}

/** The HTTP status of a client-node API error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const e = err as ApiErrorShape | undefined;
  // DOMException (abort, timeout) has a numeric `code` too: only HTTP statuses count.
  for (const v of [e?.code, e?.statusCode]) if (typeof v === "number" && v >= 100 && v < 600) return v;
  return undefined;
}

/** The Kubernetes Status object carried by an API error (body is a JSON string in client-node 2.x). */
export function statusBody(err: unknown): {
  reason?: string;
  message?: string;
  details?: { causes?: { reason?: string }[] };
} {
  const body = (err as ApiErrorShape | undefined)?.body;
  if (typeof body === "string") {
    try {
      return JSON.parse(body) as ReturnType<typeof statusBody>;
    } catch {
      return {};
    }
  }
  return typeof body === "object" && body !== null ? body : {};
}

/** True for the API's refusal to create objects in a namespace being deleted. */
export function isNamespaceTerminating(err: unknown): boolean {
  const s = statusBody(err);
  return (
    statusOf(err) === 403 &&
    (s.details?.causes?.some((c) => c.reason === "NamespaceTerminating") === true ||
      (s.message ?? "").includes("because it is being terminated"))
  );
}

/** A short, secret-free description of an API error: status, reason and the server's message. */
export function describeApiError(err: unknown): string {
  const status = statusOf(err);
  if (status === undefined) return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const s = statusBody(err);
  return `HTTP ${status}${s.reason ? ` ${s.reason}` : ""}${s.message ? `: ${s.message}` : ""}`;
}
