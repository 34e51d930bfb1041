import type { TimerHandle } from "../clock.ts";
import { ReadyHeap } from "./ready-heap.ts";
import { WorkQueue, type WorkQueueOptions } from "./work-queue.ts";

/** Longest single timer; Node fires timers beyond 2^31-1 ms after 1 ms, so longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type DelayingQueueOptions = WorkQueueOptions;

/**
 * A WorkQueue that can also add a key after a delay (client-go's delaying queue). While a key waits,
 * a further addAfter for it keeps the earlier ready time. A single timer on the injected clock is
 * armed for the earliest waiting key; shutting down cancels it and drops every waiting key.
 */
export class DelayingQueue extends WorkQueue {
  private readonly waiting = new ReadyHeap();
  private timer: TimerHandle | undefined;
  /** Monotonic time the armed timer fires at. */
  private timerAt = Infinity;

  constructor(options: DelayingQueueOptions = {}) {
    super(options);
  }

  /**
   * Adds key once ms milliseconds have passed; ms <= 0 adds it now. Counted as a retry in metrics.
   * Ignored while shutting down.
   */
  addAfter(key: string, ms: number): void {
    if (typeof ms !== "number" || Number.isNaN(ms)) {
      throw new RangeError(`DelayingQueue.addAfter: delay for "${key}" must be a number, got ${String(ms)}`);
    }
    if (this.shuttingDown()) return;
    this.metrics.retry();
    if (ms <= 0) {
      this.add(key);
      return;
    }
    this.waiting.offer(key, this.clock.monotonic() + ms);
    this.arm();
  }

  /** Number of keys waiting for their delay to pass. */
  waitingLen(): number {
    return this.waiting.size;
  }

  override shutDown(): void {
    super.shutDown();
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Infinity;
    this.waiting.clear();
  }

  /** Makes sure a timer fires no later than the earliest waiting key is ready. */
  private arm(): void {
    const next = this.waiting.peek();
    if (next === undefined) return;
    if (this.timer !== undefined && this.timerAt <= next.readyAt) return;
    this.timer?.cancel();
    const now = this.clock.monotonic();
    const wait = Math.min(Math.max(0, next.readyAt - now), MAX_TIMER_MS);
    const firesAt = now + wait;
    this.timerAt = firesAt;
    this.timer = this.clock.setTimeout(() => {
      this.fire(firesAt);
    }, wait);
  }

  /**
   * Adds every key ready by the time the timer was armed for. Trusting that time rather than re-reading
   * the clock keeps a timer that fires a hair early (rounding) from re-arming for ~0 ms forever.
   */
  private fire(firesAt: number): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Math.max(this.clock.monotonic(), firesAt);
    for (
      let next = this.waiting.peek();
      next !== undefined && next.readyAt <= now;
      next = this.waiting.peek()
    ) {
      this.waiting.pop();
      this.add(next.key);
    }
    this.arm();
  }
}
