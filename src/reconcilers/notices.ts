import { backoffDelay, type BackoffPolicy } from "../backoff.ts";
import type { Clock } from "../clock.ts";

/**
 * Decides when a repeated problem is worth another log line: the first time, then once per backoff step
 * (by default 5 min, 10 min, … up to 1 h apart) while it keeps being seen. A problem not seen for a whole
 * cap period starts over. Bounded: past `max` keys it forgets everything (at worst a line is repeated).
 */
export class Notices {
  private readonly seen = new Map<string, { step: number; nextAtMs: number; lastSeenMs: number }>();
  private readonly clock: Clock;
  private readonly policy: BackoffPolicy;
  private readonly max: number;

  constructor(
    clock: Clock,
    policy: BackoffPolicy = { baseMs: 5 * 60_000, maxMs: 60 * 60_000 },
    max = 10_000,
  ) {
    this.clock = clock;
    this.policy = policy;
    this.max = max;
  }

  /** True when the problem named by key should be reported now; records that it was seen. */
  due(key: string): boolean {
    const now = this.clock.monotonic();
    const entry = this.seen.get(key);
    if (entry && now - entry.lastSeenMs <= this.policy.maxMs) {
      entry.lastSeenMs = now;
      if (now < entry.nextAtMs) return false;
      entry.nextAtMs = now + backoffDelay(this.policy, ++entry.step);
      return true;
    }
    if (this.seen.size >= this.max) this.seen.clear();
    this.seen.set(key, { step: 0, nextAtMs: now + backoffDelay(this.policy, 0), lastSeenMs: now });
    return true;
  }

  /** The problem is gone: the next occurrence is reported at once. */
  clear(key: string): void {
    this.seen.delete(key);
  }
}
