import { backoffDelay, type BackoffPolicy } from "../backoff.ts";
import type { Clock } from "../clock.ts";

export interface ContestsOptions {
  readonly clock: Clock;
  /** A foreign write seen within this long after our last write of the same secret is a fight, not drift. */
  readonly windowMs?: number;
  /** How long this installation leaves a contested secret alone, per round of the fight. */
  readonly backoff?: BackoffPolicy;
  readonly max?: number;
}

/** What to do about a pull secret another eatr installation wrote last. */
export interface ContestDecision {
  /** 0: write now; otherwise leave it alone this long. */
  readonly waitMs: number;
  /** How many times the other installation undid our write within the window (0: a plain takeover). */
  readonly rounds: number;
}

interface Entry {
  rounds: number;
  lastWriteMs: number;
  nextAllowedMs: number;
}

/**
 * Two installations serving one registry rewrite each other's secrets forever. A secret last written by
 * another installation is taken over at once the first time (that one may be gone); when it undoes our
 * write again within the window, each further round leaves the secret alone exponentially longer (30 s,
 * 1 min, … 1 h), so the fight costs a write an hour, not thousands a minute.
 */
export class Contests {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly max: number;

  constructor(options: ContestsOptions) {
    this.clock = options.clock;
    this.windowMs = options.windowMs ?? 10 * 60_000;
    this.backoff = options.backoff ?? { baseMs: 30_000, maxMs: 60 * 60_000 };
    this.max = options.max ?? 100_000;
  }

  /** Called when a secret we want to write (key) was last written by another installation. */
  check(key: string): ContestDecision {
    const now = this.clock.monotonic();
    const entry = this.entries.get(key);
    if (!entry) return { waitMs: 0, rounds: 0 };
    if (entry.nextAllowedMs > 0) {
      // Leaving it alone for this round; once that is over, write.
      return { waitMs: Math.max(0, entry.nextAllowedMs - now), rounds: entry.rounds };
    }
    if (now - entry.lastWriteMs > this.windowMs) {
      // Our last write stood for a whole window: the other installation took over later, not in a fight.
      entry.rounds = 0;
      return { waitMs: 0, rounds: 0 };
    }
    entry.rounds++;
    entry.nextAllowedMs = now + backoffDelay(this.backoff, entry.rounds - 1);
    return { waitMs: entry.nextAllowedMs - now, rounds: entry.rounds };
  }

  /** We wrote key (after a contest, or not). */
  wrote(key: string, contested: boolean): void {
    const now = this.clock.monotonic();
    const entry = this.entries.get(key);
    if (!contested) {
      this.entries.delete(key);
      return;
    }
    if (!entry && this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { rounds: entry?.rounds ?? 0, lastWriteMs: now, nextAllowedMs: 0 });
  }
}
