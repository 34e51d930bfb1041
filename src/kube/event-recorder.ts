import type { CoreV1Api, V1ObjectReference } from "@kubernetes/client-node";
import type { Clock } from "../clock.ts";
import { callOptions, describeApiError } from "./api.ts";
import type { WriteKind, WriteLimiter } from "./write-limiter.ts";

export type EventType = "Normal" | "Warning";

export interface EventLogger {
  warn(obj: object, msg: string): void;
}

export interface EventRecorderOptions {
  readonly core: CoreV1Api;
  readonly clock: Clock;
  /** reportingController / source.component. */
  readonly component: string;
  /** reportingInstance / source.host: this process's identity. */
  readonly instance: string;
  readonly logger?: EventLogger;
  /** The shared client-side write limit: Events take it like every other write, and wait out a 429 with it. */
  readonly limiter?: WriteLimiter;
  /** A repeat of the same event within this window is counted locally and written at most once per window. */
  readonly aggregateWindowMs?: number;
  readonly timeoutMs?: number;
}

interface Recent {
  eventName: string;
  namespace: string;
  count: number;
  lastWriteMs: number;
}

/**
 * Writes core/v1 Events, de-duplicated like client-go's correlator: the same (object, type, reason, message)
 * becomes one Event whose count grows, written at most once per aggregation window, not once per retry.
 * Recording never throws and never blocks the caller on the API server.
 */
export class EventRecorder {
  private readonly o: Required<Omit<EventRecorderOptions, "logger" | "limiter">> &
    Pick<EventRecorderOptions, "logger" | "limiter">;
  private readonly recent = new Map<string, Recent>();
  private seq = 0;

  constructor(options: EventRecorderOptions) {
    this.o = { aggregateWindowMs: 60_000, timeoutMs: 10_000, ...options };
  }

  /** Records an event about obj. The message must carry no secret. */
  record(obj: V1ObjectReference, type: EventType, reason: string, message: string): void {
    void this.write(obj, type, reason, message).catch((err: unknown) => {
      this.o.logger?.warn(
        { reason, object: `${obj.namespace ?? ""}/${obj.name ?? ""}`, err: describeApiError(err) },
        "could not record event",
      );
    });
  }

  private async write(
    obj: V1ObjectReference,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const key = [obj.kind, obj.namespace, obj.name, obj.uid, type, reason, message].join("\u0000");
    const nowMs = this.o.clock.now();
    const now = new Date(nowMs).toISOString();
    const namespace = obj.namespace ?? "default";
    const recent = this.recent.get(key);
    if (recent && nowMs - recent.lastWriteMs < this.o.aggregateWindowMs * 10) {
      recent.count++;
      if (nowMs - recent.lastWriteMs < this.o.aggregateWindowMs) return;
      recent.lastWriteMs = nowMs;
      await this.limited("event_patch", () =>
        this.o.core.patchNamespacedEvent(
          {
            name: recent.eventName,
            namespace: recent.namespace,
            body: { count: recent.count, lastTimestamp: now as unknown as Date },
          },
          callOptions(this.o.timeoutMs, "application/merge-patch+json"),
        ),
      );
      return;
    }
    this.prune(nowMs);
    const eventName = `${obj.name ?? "object"}.${nowMs.toString(16)}${(this.seq++).toString(16)}`;
    this.recent.set(key, {
      eventName,
      namespace,
      count: 1,
      lastWriteMs: nowMs,
    });
    await this.limited("event_create", () =>
      this.o.core.createNamespacedEvent(
        {
          namespace,
          body: {
            metadata: { name: eventName, namespace },
            involvedObject: obj,
            type,
            reason,
            message: message.slice(0, 1024),
            count: 1,
            firstTimestamp: now as unknown as Date,
            lastTimestamp: now as unknown as Date,
            source: { component: this.o.component, host: this.o.instance },
            reportingComponent: this.o.component,
            reportingInstance: this.o.instance,
          },
        },
        callOptions(this.o.timeoutMs),
      ),
    );
  }

  /** One write under the shared limit (a 429 waited out and sent again), or straight away without one. */
  private async limited<T>(kind: WriteKind, send: () => Promise<T>): Promise<T> {
    // No abort signal: an Event recorded at a lost lease or shutdown (the one that says so) still goes out.
    return this.o.limiter === undefined ? send() : this.o.limiter.run(kind, send);
  }

  private prune(nowMs: number): void {
    if (this.recent.size < 4096) return;
    for (const [k, r] of this.recent) {
      if (nowMs - r.lastWriteMs > this.o.aggregateWindowMs * 10) this.recent.delete(k);
    }
  }
}
