import { backoffDelay } from "../backoff.ts";
import { realClock, type Clock } from "../clock.ts";
import { TokenBucket } from "../token-bucket.ts";

/** Decides how long a key waits before it is retried (client-go's workqueue.RateLimiter). */
export interface RateLimiter {
  /** Delay in ms before key may be processed again; each call counts as one more failure of key. */
  when(key: string): number;
  /** Stops tracking key (it succeeded): its next when() starts from scratch. */
  forget(key: string): void;
  /** How many times key has failed since it was last forgotten. */
  numRequeues(key: string): number;
}

function requirePositive(owner: string, field: string, value: unknown): number {
  if (typeof value !== "number" || !(value > 0) || value === Infinity) {
    throw new RangeError(`${owner}: ${field} must be a positive finite number, got ${String(value)}`);
  }
  return value;
}

export interface ItemExponentialFailureRateLimiterOptions {
  /** Delay after the first failure; default 5 ms. */
  baseDelayMs?: number;
  /** Upper bound for any delay; default 1000 s. */
  maxDelayMs?: number;
}

/** Per-key exponential backoff: the n-th failure of a key waits baseDelayMs * 2^(n-1), capped at maxDelayMs. */
export class ItemExponentialFailureRateLimiter implements RateLimiter {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly failures = new Map<string, number>();

  constructor(options: ItemExponentialFailureRateLimiterOptions = {}) {
    const owner = "ItemExponentialFailureRateLimiter";
    this.baseDelayMs = requirePositive(owner, "baseDelayMs", options.baseDelayMs ?? 5);
    this.maxDelayMs = requirePositive(owner, "maxDelayMs", options.maxDelayMs ?? 1_000_000);
    if (this.maxDelayMs < this.baseDelayMs) {
      throw new RangeError(
        `${owner}: maxDelayMs (${this.maxDelayMs}) must be at least baseDelayMs (${this.baseDelayMs})`,
      );
    }
  }

  when(key: string): number {
    const exp = this.failures.get(key) ?? 0;
    this.failures.set(key, exp + 1);
    return backoffDelay({ baseMs: this.baseDelayMs, maxMs: this.maxDelayMs }, exp);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

export interface BucketRateLimiterOptions {
  /** Tokens added per second; default 10. */
  qps?: number;
  /** Bucket size, and the tokens available at start; default 100. */
  burst?: number;
  /** Source of monotonic time; defaults to the real clock. */
  clock?: Clock;
}

/**
 * One token bucket shared by all keys (golang.org/x/time/rate Reserve semantics). Each when() reserves
 * a token and returns how long until it is available: 0 while the burst lasts, then 1000/qps ms apart.
 */
export class BucketRateLimiter implements RateLimiter {
  private readonly bucket: TokenBucket;

  constructor(options: BucketRateLimiterOptions = {}) {
    this.bucket = new TokenBucket(
      { qps: options.qps ?? 10, burst: options.burst ?? 100, clock: options.clock ?? realClock },
      "BucketRateLimiter",
    );
  }

  when(): number {
    return this.bucket.reserve();
  }

  forget(): void {
    // The bucket is shared; a key's success gives nothing back.
  }

  numRequeues(): number {
    return 0;
  }
}

/** Combines limiters: waits for the longest of their delays and reports the highest requeue count. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: readonly RateLimiter[];

  constructor(limiters: readonly RateLimiter[]) {
    const list: unknown = limiters;
    if (!Array.isArray(list) || list.length === 0) {
      throw new RangeError("MaxOfRateLimiter: needs at least one limiter");
    }
    this.limiters = [...limiters];
  }

  /** Asks every limiter (so each records the failure or reserves its token) and returns the longest delay. */
  when(key: string): number {
    let longest = 0;
    for (const limiter of this.limiters) longest = Math.max(longest, limiter.when(key));
    return longest;
  }

  forget(key: string): void {
    for (const limiter of this.limiters) limiter.forget(key);
  }

  numRequeues(key: string): number {
    let most = 0;
    for (const limiter of this.limiters) most = Math.max(most, limiter.numRequeues(key));
    return most;
  }
}

export interface DefaultControllerRateLimiterOptions {
  /** Clock for the token bucket; defaults to the real clock. */
  clock?: Clock;
}

/**
 * client-go's DefaultControllerRateLimiter: the longer of per-key exponential backoff (5 ms doubling up
 * to 1000 s) and an overall token bucket of 10 per second with a burst of 100.
 */
export function defaultControllerRateLimiter(options: DefaultControllerRateLimiterOptions = {}): RateLimiter {
  return new MaxOfRateLimiter([
    new ItemExponentialFailureRateLimiter({ baseDelayMs: 5, maxDelayMs: 1_000_000 }),
    new BucketRateLimiter({ qps: 10, burst: 100, clock: options.clock ?? realClock }),
  ]);
}
