import type { V1Secret } from "@kubernetes/client-node";
import { statusOf } from "./api.ts";
import type { OwnWrites } from "./own-writes.ts";
import { METADATA_ONLY, namespacedPath, type RestClient } from "./rest.ts";
import type { WriteLimiter } from "./write-limiter.ts";

export type WriteOperation = "create" | "update" | "delete";
export type WriteResult = "success" | "error" | "already_exists" | "conflict" | "not_found";

export interface SecretWriterOptions {
  readonly rest: RestClient;
  /** The client-side write limit (shared with every other writer). */
  readonly limiter: WriteLimiter;
  /** The field manager recorded by the API server for our writes. */
  readonly fieldManager: string;
  readonly timeoutMs?: number;
  /** Aborting it halts every write at once, in flight or not yet sent (leadership lost, shutdown). */
  readonly signal?: AbortSignal;
  /** Told of every write attempt and its result (for metrics). */
  readonly observe?: (operation: WriteOperation, result: WriteResult) => void;
  /** Told of every create and update, so the informer can tell their watch echoes from others' changes. */
  readonly ownWrites?: OwnWrites;
}

/** What the reconciler needs to read and write pull secrets; SecretWriter is the real one. */
export interface PullSecretWriter {
  create(secret: V1Secret): Promise<void>;
  update(secret: V1Secret): Promise<void>;
  delete(secret: V1Secret): Promise<void>;
  read(namespace: string, name: string): Promise<V1Secret | undefined>;
}

/**
 * The only place pull secrets are written. Every write takes the shared client-side write limit (client-go's
 * QPS/burst), is bounded by a timeout, and carries our field manager. Updates are optimistic
 * (resourceVersion); deletes are guarded by uid and resourceVersion so a secret replaced meanwhile is kept.
 */
export class SecretWriter implements PullSecretWriter {
  private readonly o: SecretWriterOptions & { timeoutMs: number };

  constructor(options: SecretWriterOptions) {
    this.o = { timeoutMs: 15_000, ...options };
  }

  async create(secret: V1Secret): Promise<void> {
    await this.tracked(secret, () =>
      this.run("create", () =>
        this.o.rest.post<WriteAnswer | undefined>(
          namespacedPath("secrets", namespaceOf(secret)),
          secret,
          this.writeOptions(),
        ),
      ),
    );
  }

  async update(secret: V1Secret): Promise<void> {
    await this.tracked(secret, () =>
      this.run("update", () =>
        this.o.rest.put<WriteAnswer | undefined>(
          namespacedPath("secrets", namespaceOf(secret), secret.metadata?.name ?? ""),
          secret,
          this.writeOptions(),
        ),
      ),
    );
  }

  /** Runs a create or update, telling ownWrites when it starts and how it ended. */
  private async tracked(secret: V1Secret, write: () => Promise<WriteAnswer | undefined>): Promise<void> {
    const namespace = namespaceOf(secret);
    const name = secret.metadata?.name ?? "";
    this.o.ownWrites?.begin(namespace, name);
    let resourceVersion: string | undefined;
    try {
      resourceVersion = (await write())?.metadata?.resourceVersion;
    } finally {
      this.o.ownWrites?.end(namespace, name, resourceVersion);
    }
  }

  async delete(secret: V1Secret): Promise<void> {
    const preconditions: { uid?: string; resourceVersion?: string } = {};
    if (secret.metadata?.uid !== undefined) preconditions.uid = secret.metadata.uid;
    if (secret.metadata?.resourceVersion !== undefined)
      preconditions.resourceVersion = secret.metadata.resourceVersion;
    await this.run("delete", () =>
      this.o.rest.delete(namespacedPath("secrets", namespaceOf(secret), secret.metadata?.name ?? ""), {
        body: { apiVersion: "v1", kind: "DeleteOptions", preconditions },
        timeoutMs: this.o.timeoutMs,
        ...(this.o.signal ? { signal: this.o.signal } : {}),
      }),
    );
  }

  /** Reads one secret directly from the API server (for names the managed-secret cache cannot see). */
  async read(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.o.rest.get<V1Secret>(namespacedPath("secrets", namespace, name), {
        timeoutMs: this.o.timeoutMs,
      });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private writeOptions() {
    return {
      query: { fieldManager: this.o.fieldManager },
      // Nothing reads a write's answer but its metadata: don't ship the data back.
      accept: METADATA_ONLY,
      timeoutMs: this.o.timeoutMs,
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    };
  }

  /** One write under the shared limit; a 429 is waited out and sent again there (WriteLimiter.run). */
  private async run<T>(operation: WriteOperation, call: () => Promise<T>): Promise<T> {
    const attempt = { sent: false };
    try {
      const out = await this.o.limiter.run(
        `secret_${operation}`,
        () => {
          attempt.sent = true;
          return call();
        },
        this.o.signal,
      );
      this.o.observe?.(operation, "success");
      return out;
    } catch (err) {
      if (!attempt.sent) throw err; // halted while waiting for the limit: nothing was written
      const status = statusOf(err);
      const result: WriteResult =
        status === 409
          ? operation === "create"
            ? "already_exists"
            : "conflict"
          : status === 404
            ? "not_found"
            : "error";
      this.o.observe?.(operation, result);
      throw err;
    }
  }
}

/** A write's answer: metadata only (METADATA_ONLY), or the whole object from a server that ignores it. */
interface WriteAnswer {
  metadata?: { resourceVersion?: string };
}

function namespaceOf(secret: V1Secret): string {
  return secret.metadata?.namespace ?? "";
}
