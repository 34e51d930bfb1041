import { realClock, type Clock } from "../clock.ts";
import { noopQueueMetrics, type QueueMetrics, type WorkqueueMetricsProvider } from "./metrics.ts";

export interface WorkQueueOptions {
  /** Names the queue in metrics. Required when metrics is given. */
  name?: string;
  /** Time source for metrics and delays; defaults to the real clock. */
  clock?: Clock;
  /** Where the queue reports depth, adds, latencies and retries; nothing is reported without it. */
  metrics?: WorkqueueMetricsProvider;
}

/**
 * client-go's de-duplicating FIFO work queue for string keys.
 *
 * A key is queued at most once, and a key being processed is never handed out again until done(key) is
 * called for it: adds in the meantime mark it dirty and it is queued once more when done. So a burst of
 * adds collapses into one run and a key never runs twice at once. Every key returned by get() must be
 * passed to done().
 */
export class WorkQueue {
  readonly name: string;
  protected readonly clock: Clock;
  protected readonly metrics: QueueMetrics;
  /** Keys waiting to be handed out, in insertion order (a Set is a FIFO without duplicates). */
  private readonly queue = new Set<string>();
  /** Keys that need processing: queued, or added again while being processed. */
  private readonly dirty = new Set<string>();
  /** Keys handed out by get() and not yet done. */
  private readonly processing = new Set<string>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private readonly drainers: (() => void)[] = [];
  private shutdown = false;

  constructor(options: WorkQueueOptions = {}) {
    const name = options.name ?? "";
    if (typeof name !== "string") throw new TypeError("WorkQueue: options.name must be a string");
    if (options.metrics !== undefined && name === "") {
      throw new RangeError("WorkQueue: options.name is required when options.metrics is given");
    }
    this.name = name;
    this.clock = options.clock ?? realClock;
    this.metrics = options.metrics?.forQueue(name, this.clock) ?? noopQueueMetrics;
  }

  /** Marks key as needing processing. No effect if it is already pending or the queue is shutting down. */
  add(key: string): void {
    if (this.shutdown || this.dirty.has(key)) return;
    this.metrics.add(key);
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /**
   * Waits for the next key and marks it as being processed; the caller must call done(key). Keys still
   * queued at shutdown are still handed out; resolves undefined once the queue is shut down and empty.
   */
  get(): Promise<string | undefined> {
    const key = this.pop();
    if (key !== undefined || this.shutdown) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Ends the processing of key. If key was added while it was processed, it is queued again. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    this.metrics.done(key);
    if (this.dirty.has(key)) this.push(key);
    if (this.processing.size === 0) {
      for (const drained of this.drainers.splice(0)) drained();
    }
  }

  /** Number of keys waiting to be handed out (not counting keys being processed). */
  len(): number {
    return this.queue.size;
  }

  /** Refuses further adds and releases every waiting get() with undefined. Idempotent. */
  shutDown(): void {
    this.shutdown = true;
    for (const release of this.getters.splice(0)) release(undefined);
  }

  /** Shuts down, then resolves once no key is being processed (every handed-out key is done). */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainers.push(resolve));
  }

  /** True once shutDown() or shutDownWithDrain() has been called. */
  shuttingDown(): boolean {
    return this.shutdown;
  }

  private push(key: string): void {
    this.queue.add(key);
    const getter = this.getters.shift();
    // Getters only wait while the queue is empty, so the key just pushed is the one handed over.
    if (getter) getter(this.pop());
  }

  private pop(): string | undefined {
    const next = this.queue.values().next();
    if (next.done) return undefined;
    const key = next.value;
    this.queue.delete(key);
    this.metrics.get(key);
    this.processing.add(key);
    this.dirty.delete(key);
    return key;
  }
}
