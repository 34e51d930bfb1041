import { realClock, type Clock } from "./clock.ts";

export interface TokenBucketOptions {
  /** Tokens added per second. */
  readonly qps: number;
  /** Bucket size, and the tokens available at start (a positive integer). */
  readonly burst: number;
  /** Source of monotonic time; defaults to the real clock. */
  readonly clock?: Clock;
}

/**
 * A token bucket with golang.org/x/time/rate Reserve semantics: each reserve() takes a token and returns
 * how long until it is available — 0 while the burst lasts, then 1000/qps ms apart. The work queue's
 * overall limiter and the API write limit are both one of these.
 */
export class TokenBucket {
  private qps: number;
  private readonly burst: number;
  private readonly clock: Clock;
  /** Tokens at time `last`; negative when tokens are reserved ahead of time. */
  private tokens: number;
  private last: number;

  constructor(options: TokenBucketOptions, owner = "TokenBucket") {
    const { qps, burst } = options;
    if (typeof qps !== "number" || !(qps > 0) || qps === Infinity)
      throw new RangeError(`${owner}: qps must be a positive finite number, got ${String(qps)}`);
    if (!Number.isSafeInteger(burst) || burst < 1)
      throw new RangeError(`${owner}: burst must be a positive integer, got ${String(burst)}`);
    this.qps = qps;
    this.burst = burst;
    this.clock = options.clock ?? realClock;
    this.tokens = burst;
    this.last = this.clock.monotonic();
  }

  /** Reserves one token; returns the milliseconds to wait before using it. */
  reserve(): number {
    this.refill();
    this.tokens -= 1;
    return this.tokens < 0 ? (-this.tokens / this.qps) * 1000 : 0;
  }

  /** The rate tokens are added at now (tokens per second). */
  get rate(): number {
    return this.qps;
  }

  /**
   * Changes the rate from now on (x/time/rate's SetLimit): tokens earned so far are kept, and reservations
   * already handed out keep their times.
   */
  setRate(qps: number): void {
    if (typeof qps !== "number" || !(qps > 0) || qps === Infinity)
      throw new RangeError(`TokenBucket: qps must be a positive finite number, got ${String(qps)}`);
    this.refill();
    this.qps = qps;
  }

  /**
   * Starts over at monotonic time `untilMs` (the end of a pause) with one token: the burst saved up and the
   * reservations handed out are forgotten (their holders reserve again), so writers held back by the pause
   * leave 1/qps apart from then on, not all at once.
   */
  restartAt(untilMs: number): void {
    this.tokens = 1;
    this.last = Math.max(this.clock.monotonic(), untilMs);
  }

  private refill(): void {
    const now = Math.max(this.clock.monotonic(), this.last);
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }
}
