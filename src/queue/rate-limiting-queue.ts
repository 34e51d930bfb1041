import { DelayingQueue, type DelayingQueueOptions } from "./delaying-queue.ts";
import { defaultControllerRateLimiter, type RateLimiter } from "./rate-limiter.ts";

export interface RateLimitingQueueOptions extends DelayingQueueOptions {
  /** Decides retry delays; defaults to defaultControllerRateLimiter() on the queue's clock. */
  rateLimiter?: RateLimiter;
}

/**
 * A DelayingQueue whose addRateLimited() waits as long as the rate limiter says (client-go's rate
 * limiting queue). Plain add() and addAfter() are never throttled. Call forget(key) once a key has
 * succeeded, or its backoff keeps growing.
 */
export class RateLimitingQueue extends DelayingQueue {
  private readonly rateLimiter: RateLimiter;

  constructor(options: RateLimitingQueueOptions = {}) {
    super(options);
    const limiter = options.rateLimiter ?? defaultControllerRateLimiter({ clock: this.clock });
    if (typeof limiter.when !== "function") {
      throw new TypeError("RateLimitingQueue: options.rateLimiter must implement RateLimiter");
    }
    this.rateLimiter = limiter;
  }

  /** Adds key after the delay the rate limiter gives for it (which counts one more failure of key). */
  addRateLimited(key: string): void {
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** Resets the rate limiter's memory of key's failures. Does not remove key from the queue. */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  /** How many times key has been rate-limited since it was last forgotten. */
  numRequeues(key: string): number {
    return this.rateLimiter.numRequeues(key);
  }
}
