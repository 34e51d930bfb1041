import { backoffDelay, type BackoffPolicy } from "../backoff.ts";
import { sleep, type Clock } from "../clock.ts";
import { TokenBucket } from "../token-bucket.ts";
import { throttleOf } from "./throttle.ts";

/** Every kind of write, for the throttle metric and log (eatr_kube_api_throttled_total{operation}). */
export const WRITE_KINDS = [
  "secret_create",
  "secret_update",
  "secret_delete",
  "event_create",
  "event_patch",
  "service_account_update",
] as const;

/** What a write is. */
export type WriteKind = (typeof WRITE_KINDS)[number];

export interface WriteLimiterLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface WriteLimiterOptions {
  /** Sustained writes per second (-kube-api-qps): the most the limiter allows, and where it returns to. */
  readonly qps: number;
  /** Writes allowed in a burst above qps (-kube-api-burst). */
  readonly burst: number;
  readonly clock: Clock;
  /** Times one write is sent again after a 429 before its error is returned (client-go: 10). */
  readonly maxRetries?: number;
  /** The longest wait a Retry-After may impose (longer values are cut to it). */
  readonly maxRetryAfterMs?: number;
  /** Told once per backoff step (a rate decrease) and when the full rate is back. */
  readonly logger?: WriteLimiterLogger;
  /** Told of every 429 the API server answers a write with. */
  readonly throttled?: (operation: WriteKind) => void;
}

/**
 * The client-side limit on writes to the API server (client-go's QPS/burst), shared by every writer: pull
 * secrets, Events and ServiceAccounts. Lease renewals do not take it: they must never wait behind a burst
 * of secret writes.
 *
 * It also reacts to the server's own limit. When a write is answered 429 (API Priority and Fairness), run()
 * sends it again after Retry-After (at most maxRetries times, as client-go does), and every writer waits:
 * writes pause until Retry-After has passed and the rate is halved (down to 1/s), once per episode of
 * 429s. Each second without a 429 gives back a tenth of qps, so a healthy server has the full rate again
 * within about ten seconds (additive increase, multiplicative decrease).
 */
export class WriteLimiter {
  private readonly bucket: TokenBucket;
  private readonly clock: Clock;
  private readonly qps: number;
  private readonly floorQps: number;
  private readonly maxRetries: number;
  private readonly maxRetryAfterMs: number;
  private readonly logger: WriteLimiterLogger | undefined;
  private readonly throttled: ((operation: WriteKind) => void) | undefined;
  /** Monotonic ms before which no write is sent (the server's Retry-After). */
  private pausedUntil = -Infinity;
  /** While the rate is below qps: when it was last raised (or, right after a decrease, the pause's end). */
  private lastStepAt = 0;
  /** Consecutive decreases without a full recovery: the step of the fallback backoff. */
  private steps = 0;
  /** Counts decreases: a reservation made before the latest one is void. */
  private epoch = 0;

  constructor(options: WriteLimiterOptions) {
    this.bucket = new TokenBucket(options, "WriteLimiter");
    this.clock = options.clock;
    this.qps = options.qps;
    this.floorQps = Math.min(options.qps, MIN_QPS);
    this.maxRetries = options.maxRetries ?? MAX_RETRIES;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS;
    if (!Number.isSafeInteger(this.maxRetries) || this.maxRetries < 0)
      throw new RangeError(`WriteLimiter: maxRetries must be 0 or more, got ${String(this.maxRetries)}`);
    if (!(this.maxRetryAfterMs > 0))
      throw new RangeError(`WriteLimiter: maxRetryAfterMs must be positive, got ${this.maxRetryAfterMs}`);
    this.logger = options.logger;
    this.throttled = options.throttled;
  }

  /** The write rate allowed now (qps, or less after 429s). */
  get rate(): number {
    this.recover();
    return this.bucket.rate;
  }

  /** Resolves when one more write may be sent; rejects with signal's reason when it aborts first. */
  async take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    for (;;) {
      await this.waitForPause(signal);
      const epoch = this.epoch;
      this.recover();
      const wait = this.bucket.reserve();
      if (wait > 0) await sleep(this.clock, wait, signal);
      signal?.throwIfAborted();
      // A 429 seen by another writer meanwhile voided this reservation: wait out the pause, reserve again.
      if (epoch === this.epoch) return;
    }
  }

  /**
   * Sends one write under the limit: takes a token, calls `send`, and when the server answers 429, waits
   * as it asked (every writer with it) and sends the same write again, up to maxRetries times. Other
   * errors, the last 429 and an abort of `signal` are thrown.
   */
  async run<T>(operation: WriteKind, send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.take(signal);
      try {
        return await send();
      } catch (err) {
        const throttle = throttleOf(err);
        if (throttle === undefined) throw err;
        this.throttled?.(operation);
        const retrying = attempt < this.maxRetries;
        this.slowDown(operation, throttle.retryAfterMs, retrying);
        if (!retrying) throw err;
      }
    }
  }

  /** A 429: pause every writer for the wait asked, and halve the rate once per episode. */
  private slowDown(operation: WriteKind, retryAfterMs: number | undefined, retrying: boolean): void {
    const now = this.clock.monotonic();
    const inEpisode = now < this.pausedUntil;
    const waitMs = Math.min(
      this.maxRetryAfterMs,
      retryAfterMs ?? backoffDelay(FALLBACK_BACKOFF, inEpisode ? this.steps - 1 : this.steps),
    );
    this.pausedUntil = Math.max(this.pausedUntil, now + waitMs);
    if (inEpisode) return; // the writes that were in flight with the first 429: one step, not one per write
    this.recover();
    const rate = Math.max(this.floorQps, this.bucket.rate / 2);
    this.bucket.setRate(rate);
    this.bucket.restartAt(this.pausedUntil);
    this.epoch++;
    this.lastStepAt = this.pausedUntil;
    this.steps++;
    this.logger?.warn(
      {
        operation,
        retryAfterMs: retryAfterMs ?? null,
        pauseMs: Math.round(waitMs),
        writesPerSecond: round(rate),
        maxWritesPerSecond: this.qps,
        retrying,
      },
      "the API server throttled a write (HTTP 429): pausing every write and slowing down",
    );
  }

  /** Additive increase: a tenth of qps back per second without a 429, from the end of the last pause. */
  private recover(): void {
    const current = this.bucket.rate;
    if (current >= this.qps) return;
    const now = this.clock.monotonic();
    const seconds = Math.floor((now - this.lastStepAt) / 1000);
    if (seconds <= 0) return;
    this.lastStepAt += seconds * 1000;
    const rate = Math.min(this.qps, current + (seconds * this.qps) / RECOVERY_SECONDS);
    this.bucket.setRate(rate);
    if (rate >= this.qps) {
      this.steps = 0;
      this.logger?.info(
        { writesPerSecond: this.qps },
        "no 429 for a while: writes are back at the full rate",
      );
    }
  }

  private async waitForPause(signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      const pause = this.pausedUntil - this.clock.monotonic();
      if (pause <= 0) return;
      await sleep(this.clock, pause, signal);
      signal?.throwIfAborted();
    }
  }
}

/** client-go sends a request again at most 10 times when the answer carries Retry-After. */
const MAX_RETRIES = 10;
/** APF asks for a few seconds at most; a longer wait would stall reconciles for no reason. */
const MAX_RETRY_AFTER_MS = 60_000;
/** The rate never drops below this (or below qps when qps is lower). */
const MIN_QPS = 1;
/** From the lowest rate, the full rate is back after about this many seconds without a 429. */
const RECOVERY_SECONDS = 10;
/** The wait after a 429 that names none: 1 s, doubling per step, at most 30 s. */
const FALLBACK_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 30_000 };

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
