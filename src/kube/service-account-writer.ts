import type { V1ServiceAccount } from "@kubernetes/client-node";
import { statusOf } from "./api.ts";
import { METADATA_ONLY, namespacedPath, type RestClient } from "./rest.ts";
import type { WriteLimiter } from "./write-limiter.ts";

/** How an update changed imagePullSecrets: only added entries, only removed some, or both. */
export type ServiceAccountOperation = "add" | "remove" | "update";
export type ServiceAccountWriteResult = "success" | "conflict" | "not_found" | "error";

export interface ServiceAccountWriterOptions {
  readonly rest: RestClient;
  /** The client-side write limit (shared with pull secrets and Events). */
  readonly limiter: WriteLimiter;
  /** The field manager recorded by the API server for our writes. */
  readonly fieldManager: string;
  readonly timeoutMs?: number;
  /** Aborting it halts every write at once, in flight or not yet sent (leadership lost, shutdown). */
  readonly signal?: AbortSignal;
  /** Told of every update attempt and its result (eatr_service_account_updates_total). */
  readonly observe?: (operation: ServiceAccountOperation, result: ServiceAccountWriteResult) => void;
}

/** What the ServiceAccount reconciler needs from the API server; ServiceAccountWriter is the real one. */
export interface ServiceAccountApi {
  /** The ServiceAccount as stored now; undefined when it does not exist. */
  read(namespace: string, name: string): Promise<V1ServiceAccount | undefined>;
  /** PUT with the object's resourceVersion (a 409 when it changed meanwhile). */
  update(sa: V1ServiceAccount, operation: ServiceAccountOperation): Promise<void>;
}

/**
 * The only place ServiceAccounts are written. Reads are direct (never the trimmed cache: a PUT must send
 * the whole object back). Every update takes the shared write limit, is bounded by a timeout, carries our
 * field manager and the resourceVersion it was based on, and stops at once when the signal aborts.
 */
export class ServiceAccountWriter implements ServiceAccountApi {
  private readonly o: ServiceAccountWriterOptions & { timeoutMs: number };

  constructor(options: ServiceAccountWriterOptions) {
    this.o = { timeoutMs: 15_000, ...options };
  }

  async read(namespace: string, name: string): Promise<V1ServiceAccount | undefined> {
    this.o.signal?.throwIfAborted();
    try {
      return await this.o.rest.get<V1ServiceAccount>(namespacedPath("serviceaccounts", namespace, name), {
        timeoutMs: this.o.timeoutMs,
        ...(this.o.signal ? { signal: this.o.signal } : {}),
      });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async update(sa: V1ServiceAccount, operation: ServiceAccountOperation): Promise<void> {
    const path = namespacedPath("serviceaccounts", sa.metadata?.namespace ?? "", sa.metadata?.name ?? "");
    const attempt = { sent: false };
    try {
      // A 429 is waited out and the same PUT sent again (same resourceVersion: the server did not apply it).
      await this.o.limiter.run(
        "service_account_update",
        () => {
          attempt.sent = true;
          return this.o.rest.put(path, sa, {
            query: { fieldManager: this.o.fieldManager },
            accept: METADATA_ONLY,
            timeoutMs: this.o.timeoutMs,
            ...(this.o.signal ? { signal: this.o.signal } : {}),
          });
        },
        this.o.signal,
      );
      this.o.observe?.(operation, "success");
    } catch (err) {
      if (!attempt.sent) throw err; // halted while waiting for the limit: nothing was written
      const status = statusOf(err);
      this.o.observe?.(operation, status === 409 ? "conflict" : status === 404 ? "not_found" : "error");
      throw err;
    }
  }
}
