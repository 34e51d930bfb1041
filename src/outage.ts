import type { Clock } from "./clock.ts";

/**
 * When an ongoing outage is worth another log line: the first failure is always reported, the next one
 * firstRepeatMs later, then each gap is twice the one before, up to maxRepeatMs. A retry loop with a 2 s or
 * 30 s period then logs a handful of lines per outage instead of one per retry.
 */
export interface OutageLogPolicy {
  readonly firstRepeatMs: number;
  readonly maxRepeatMs: number;
}

/** Reminders after 30 s (the informers' backoff cap), 60 s, 120 s, 240 s, then every 5 minutes. */
export const DEFAULT_OUTAGE_LOG: OutageLogPolicy = { firstRepeatMs: 30_000, maxRepeatMs: 300_000 };

/** What a failure should be logged as: the outage "started", a due reminder that it is "continuing", or nothing. */
export type OutageReport = "started" | "continuing" | undefined;

/** An outage that just ended. */
export interface EndedOutage {
  /** Wall-clock ms of its first failure. */
  readonly sinceMs: number;
  /** How long it lasted, by the monotonic clock. */
  readonly downForMs: number;
  readonly failures: number;
}

/**
 * One run of consecutive failures of one thing (an informer's list/watch, the leader election rounds):
 * since when, how many, the last error, and whether a failure is due to be logged (see OutageLogPolicy).
 * A success ends it. Pure bookkeeping on an injected clock: callers log.
 */
export class Outage<E = unknown> {
  private readonly clock: Clock;
  private readonly policy: OutageLogPolicy;
  private startedMono = 0;
  private startedWall = 0;
  private count = 0;
  private last: E | undefined;
  private lastReportMono = 0;
  private gapMs: number;

  constructor(clock: Clock, policy: OutageLogPolicy = DEFAULT_OUTAGE_LOG) {
    if (!(policy.firstRepeatMs > 0 && policy.maxRepeatMs >= policy.firstRepeatMs))
      throw new RangeError(
        `outage log: need 0 < firstRepeatMs (${policy.firstRepeatMs}) <= maxRepeatMs (${policy.maxRepeatMs})`,
      );
    this.clock = clock;
    this.policy = policy;
    this.gapMs = policy.firstRepeatMs;
  }

  /** True from the first failure until the next success. */
  get active(): boolean {
    return this.count > 0;
  }

  /** Consecutive failures so far (0 when not failing). */
  get failures(): number {
    return this.count;
  }

  /** Wall-clock ms of the outage's first failure, or undefined when not failing. */
  get sinceMs(): number | undefined {
    return this.count > 0 ? this.startedWall : undefined;
  }

  /** The latest failure's error, or undefined when not failing. */
  get lastError(): E | undefined {
    return this.last;
  }

  /** Monotonic ms the outage has lasted so far (0 when not failing). */
  get downForMs(): number {
    return this.count > 0 ? this.clock.monotonic() - this.startedMono : 0;
  }

  /** Records a failure; says whether (and how) to log it. */
  fail(error: E): OutageReport {
    const now = this.clock.monotonic();
    this.last = error;
    this.count++;
    if (this.count === 1) {
      this.startedMono = now;
      this.startedWall = this.clock.now();
      this.lastReportMono = now;
      this.gapMs = this.policy.firstRepeatMs;
      return "started";
    }
    if (now - this.lastReportMono < this.gapMs) return undefined;
    this.lastReportMono = now;
    this.gapMs = Math.min(this.gapMs * 2, this.policy.maxRepeatMs);
    return "continuing";
  }

  /** Records a success; returns the outage it ended, or undefined when there was none. */
  recover(): EndedOutage | undefined {
    if (this.count === 0) return undefined;
    const ended = {
      sinceMs: this.startedWall,
      downForMs: this.clock.monotonic() - this.startedMono,
      failures: this.count,
    };
    this.count = 0;
    this.last = undefined;
    return ended;
  }
}
