import { pino, type Logger } from "pino";
import { realClock, sleep, type Clock } from "../clock.ts";
import { Outage } from "../outage.ts";
import {
  LockConflictError,
  LockNamespaceNotFoundError,
  type CallBounds,
  type LeaderElectionRecord,
  type LeaderLock,
  type ObservedLease,
} from "./lock.ts";
import { bounded } from "./abortable.ts";
import {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  JITTER_FACTOR,
  timingProblems,
} from "./timings.ts";
import { noopElectionMetrics, type ElectionMetrics, type LeaderElectionMetricsProvider } from "./metrics.ts";

/**
 * Why leadership ended: "lost" when no renewal succeeded for renewDeadline or another holder took the lease,
 * "stopped" when run's signal aborted.
 */
export type StopReason = "lost" | "stopped";

export interface LeaderElectorOptions {
  readonly lock: LeaderLock;
  /** This replica's identity in the lease; unique among replicas (see defaultIdentity). */
  readonly identity: string;
  /** The election's name in metrics and logs, usually the lease name. */
  readonly name: string;
  /** How long others wait, from when they see the lease change, before taking it over. Whole seconds. */
  readonly leaseDurationMs?: number;
  /** The leader gives up when it has not renewed for this long; below leaseDurationMs. */
  readonly renewDeadlineMs?: number;
  /** Time between attempts; 1.2 × retryPeriodMs must be below renewDeadlineMs. */
  readonly retryPeriodMs?: number;
  /** On a graceful stop, release the lease (holder "", duration 1 s): a peer takes over at once. Default on. */
  readonly releaseOnStop?: boolean;
  /** Called when this replica starts leading; `leadership` aborts when it stops. Not awaited. */
  readonly onStartedLeading?: (leadership: AbortSignal) => void | Promise<void>;
  /**
   * Called once when leading ends, if it began. On "stopped" it is awaited before the lease is released,
   * so work stops before a peer can start; on "lost" a peer may already lead: stop at once.
   */
  readonly onStoppedLeading?: (reason: StopReason) => void | Promise<void>;
  /** Called when the lease holder this replica sees changes to another identity (its own too; never ""). */
  readonly onNewLeader?: (identity: string) => void;
  readonly clock?: Clock;
  /** Random numbers in [0, 1) for the acquire jitter; default Math.random. */
  readonly random?: () => number;
  readonly metrics?: LeaderElectionMetricsProvider;
  readonly logger?: Logger;
}

/** The outcome of healthCheck, for /healthz. */
export interface LeaderHealth {
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * Leader election over a LeaderLock, with client-go's algorithm: acquire by retrying every retryPeriod (with
 * jitter), then renew every retryPeriod; leadership is lost when no renewal succeeds within renewDeadline of
 * the last one. Whether another holder's lease has expired is judged only by when this replica saw the record
 * change (its monotonic clock), never by the record's timestamps, so clock skew between nodes does not matter.
 */
export class LeaderElector {
  readonly identity: string;
  readonly name: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly o: LeaderElectorOptions;
  private readonly lock: LeaderLock;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly metrics: ElectionMetrics;
  private readonly log: Logger;
  private observed: ObservedLease | undefined;
  private observedTime = 0;
  private reportedLeader = "";
  private leading = false;
  private lastRenew: number | undefined;
  private started = false;
  /** Rounds failing in a row (the API server unreachable, the lease namespace missing, RBAC...). */
  private readonly failing: Outage;

  /** Throws a RangeError naming every invalid option. */
  constructor(options: LeaderElectorOptions) {
    this.leaseDurationMs = options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.renewDeadlineMs = options.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.retryPeriodMs = options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    const problems = timingProblems({
      leaseDurationMs: this.leaseDurationMs,
      renewDeadlineMs: this.renewDeadlineMs,
      retryPeriodMs: this.retryPeriodMs,
    });
    if (options.identity === "") problems.push("identity is required");
    if (options.name === "") problems.push("name is required");
    if (problems.length > 0) throw new RangeError(`LeaderElector: ${problems.join("; ")}`);
    this.o = options;
    this.identity = options.identity;
    this.name = options.name;
    this.lock = options.lock;
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.metrics = options.metrics?.forElection(options.name) ?? noopElectionMetrics;
    this.failing = new Outage(this.clock);
    this.log = (options.logger ?? pino({ enabled: false })).child({
      component: "leader-election",
      lock: options.lock.describe(),
      identity: options.identity,
    });
  }

  /** True from onStartedLeading until leadership ends. */
  isLeader(): boolean {
    return this.leading;
  }

  /** The holder of the lease as last seen, or undefined when nobody holds it (or it was not read yet). */
  getLeader(): string | undefined {
    const holder = this.observed?.record.holderIdentity ?? "";
    return holder === "" ? undefined : holder;
  }

  /** Monotonic time at which the last successful acquire or renew began, or undefined before the first. */
  lastRenewMonotonic(): number | undefined {
    return this.lastRenew;
  }

  /**
   * For /healthz: unhealthy only while leading with no renewal for longer than leaseDuration + toleranceMs
   * (the renew loop should have given up by then, so something is stuck). A standby replica is healthy.
   */
  healthCheck(toleranceMs: number): LeaderHealth {
    if (!this.leading || this.lastRenew === undefined) {
      return { ok: true, detail: `not leading ${this.name}; leader is ${this.getLeader() ?? "unknown"}` };
    }
    const sinceMs = Math.round(this.clock.monotonic() - this.lastRenew);
    const limitMs = this.leaseDurationMs + toleranceMs;
    return sinceMs > limitMs
      ? { ok: false, detail: `leading ${this.name} but not renewed for ${sinceMs} ms (limit ${limitMs} ms)` }
      : { ok: true, detail: `leading ${this.name}; renewed ${sinceMs} ms ago` };
  }

  /**
   * For /readyz: not ready while rounds keep failing, for whatever reason: a replica that cannot take part
   * in the election never works. The detail says why and since when; a missing lease namespace comes with
   * the fix.
   */
  readiness(): LeaderHealth {
    const err = this.failing.lastError;
    if (err === undefined) {
      return {
        ok: true,
        detail: this.leading
          ? `leading ${this.name}`
          : `standby for ${this.name}; leader is ${this.getLeader() ?? "unknown"}`,
      };
    }
    const since = new Date(this.failing.sinceMs ?? 0).toISOString();
    if (err instanceof LockNamespaceNotFoundError) {
      return { ok: false, detail: `${missingNamespace(err, this.lock.describe())} (since ${since})` };
    }
    return {
      ok: false,
      detail: `leader election for ${this.lock.describe()} failing since ${since} (${this.failing.failures} attempts): ${errorText(err)}`,
    };
  }

  /**
   * Campaigns until signal aborts or leadership is lost, and resolves with why it ended ("stopped" also when
   * it never led). On "stopped" a held lease is released after onStoppedLeading settles. May be called once.
   */
  async run(signal: AbortSignal): Promise<StopReason> {
    if (this.started) throw new Error("LeaderElector.run may be called only once");
    this.started = true;
    if (!(await this.acquire(signal))) return "stopped";
    if (signal.aborted) {
      await this.release();
      return "stopped";
    }
    this.leading = true;
    this.metrics.leading(true);
    this.log.info("became leader");
    const leadership = new AbortController();
    void this.callback("onStartedLeading", () => this.o.onStartedLeading?.(leadership.signal));
    const reason = await this.renew(signal);
    this.leading = false;
    this.metrics.leading(false);
    leadership.abort(new Error(`leadership of ${this.name} ${reason}`));
    if (reason === "lost") this.log.error({ renewDeadlineMs: this.renewDeadlineMs }, "leadership lost");
    else this.log.info("stopping leading");
    await this.callback("onStoppedLeading", () => this.o.onStoppedLeading?.(reason));
    if (reason === "stopped" && this.o.releaseOnStop !== false) await this.release();
    return reason;
  }

  /** Tries until one attempt succeeds (true) or signal aborts (false). */
  private async acquire(signal: AbortSignal): Promise<boolean> {
    this.log.info("trying to acquire the lease");
    while (!signal.aborted) {
      if (await this.attempt(this.renewDeadlineMs, signal)) return true;
      const waitMs = this.retryPeriodMs * (1 + this.random() * JITTER_FACTOR);
      await sleep(this.clock, waitMs, signal);
    }
    return false;
  }

  /**
   * Renews every retryPeriod until signal aborts ("stopped") or renewDeadline passes since the last successful
   * renewal ("lost"). Unlike client-go, whose deadline starts a retryPeriod after the last success, the
   * deadline counts from the last success itself, so leaseDuration > renewDeadline means this replica stops
   * before any peer can see the lease expire. Also "lost" at once when a read shows another holder (a peer
   * with other timings, or a hand edit, took the lease): client-go would keep leading until the deadline.
   */
  private async renew(signal: AbortSignal): Promise<StopReason> {
    for (;;) {
      const deadline = (this.lastRenew ?? this.clock.monotonic()) + this.renewDeadlineMs;
      const waitMs = Math.min(this.retryPeriodMs, deadline - this.clock.monotonic());
      if (waitMs > 0) await sleep(this.clock, waitMs, signal);
      if (signal.aborted) return "stopped";
      const remaining = deadline - this.clock.monotonic();
      if (remaining <= 0) return "lost";
      await this.attempt(remaining, signal);
      const holder = this.observed?.record.holderIdentity;
      if (holder !== this.identity) {
        this.log.error({ holder }, "the lease was taken over");
        return "lost";
      }
    }
  }

  /** A round got its answer (won, lost or conflicted): an ongoing run of failures ends, and says so. */
  private roundAnswered(): void {
    const ended = this.failing.recover();
    if (ended === undefined) return;
    this.log.info(
      {
        since: new Date(ended.sinceMs).toISOString(),
        downForMs: Math.round(ended.downForMs),
        failures: ended.failures,
      },
      `leader election rounds work again after ${Math.round(ended.downForMs / 1000)} s (${ended.failures} failed attempts)`,
    );
  }

  /**
   * A round failed. Rounds go on every retryPeriod, but the log hears of it when the failures start and
   * then at growing intervals (src/outage.ts), not once per round; a missing lease namespace is an error
   * naming the fix.
   */
  private roundFailed(err: unknown): void {
    const report = this.failing.fail(err);
    const fields = {
      err,
      since: new Date(this.failing.sinceMs ?? 0).toISOString(),
      failures: this.failing.failures,
    };
    if (report === undefined) {
      this.log.debug(fields, "leader election round failed");
    } else if (err instanceof LockNamespaceNotFoundError) {
      this.log.error({ ...fields, namespace: err.namespace }, missingNamespace(err, this.lock.describe()));
    } else {
      this.log.warn(
        fields,
        report === "started"
          ? "leader election round failed; retrying every retry period, logging again at growing intervals while it lasts"
          : `leader election rounds still failing since ${fields.since} (${fields.failures} attempts)`,
      );
    }
  }

  /** One tryAcquireOrRenew bounded by timeoutMs and signal; any failure is a failed round. */
  private async attempt(remainingMs: number, signal: AbortSignal): Promise<boolean> {
    // Monotonic times are fractional; AbortSignal.timeout (in LeaseLock) takes whole milliseconds only.
    const timeoutMs = Math.max(1, Math.ceil(remainingMs));
    const deadline = new AbortController();
    const timer = this.clock.setTimeout(() => {
      deadline.abort(new Error(`${this.lock.describe()}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const started = this.clock.monotonic();
    try {
      const ok = await this.tryAcquireOrRenew({
        timeoutMs,
        signal: AbortSignal.any([signal, deadline.signal]),
      });
      if (ok) this.lastRenew = started;
      this.roundAnswered();
      return ok;
    } catch (err) {
      if (signal.aborted) return false;
      if (err instanceof LockConflictError) {
        this.log.debug({ err }, "lease changed meanwhile; retrying");
        this.roundAnswered();
      } else {
        this.roundFailed(err);
      }
      return false;
    } finally {
      timer.cancel();
    }
  }

  /**
   * One round of client-go's tryAcquireOrRenew. Resolves true when this replica holds the lease afterwards,
   * false when another holder's lease is still valid; throws when an API call fails or conflicts.
   */
  private async tryAcquireOrRenew(bounds: Required<CallBounds>): Promise<boolean> {
    const now = new Date(this.clock.now());
    const nowMono = this.clock.monotonic();
    const mine: LeaderElectionRecord = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseDurationMs / 1000,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };

    // Fast path: the leader updates the lease it last saw, which is valid by its own observation.
    const held = this.observed?.record;
    if (held?.holderIdentity === this.identity && this.isLeaseValid(nowMono)) {
      const kept = { ...mine, acquireTime: held.acquireTime, leaseTransitions: held.leaseTransitions };
      try {
        this.setObserved(await bounded(this.lock.update(kept, bounds), bounds.signal));
        return true;
      } catch (err) {
        if (bounds.signal.aborted) throw err;
        this.log.warn({ err }, "updating the cached lease failed; reading it again");
      }
    }
    if (this.leading) this.metrics.slowpath();

    const current = await bounded(this.lock.get(bounds), bounds.signal);
    if (current === undefined) {
      this.setObserved(await bounded(this.lock.create(mine, bounds), bounds.signal));
      return true;
    }
    if (current.raw !== this.observed?.raw) this.setObserved(current);
    const holder = current.record.holderIdentity;
    if (holder !== "" && holder !== this.identity && this.isLeaseValid(nowMono)) {
      this.log.debug({ holder }, "lease is held by another replica and has not expired");
      return false;
    }
    const next =
      holder === this.identity
        ? {
            ...mine,
            acquireTime: current.record.acquireTime,
            leaseTransitions: current.record.leaseTransitions,
          }
        : { ...mine, leaseTransitions: current.record.leaseTransitions + 1 };
    this.setObserved(await bounded(this.lock.update(next, bounds), bounds.signal));
    return true;
  }

  /** The lease as last seen is valid: seen, by this replica's monotonic clock, less than its duration ago. */
  private isLeaseValid(nowMono: number): boolean {
    const seconds = this.observed?.record.leaseDurationSeconds ?? 0;
    return this.observed !== undefined && this.observedTime + seconds * 1000 > nowMono;
  }

  private setObserved(lease: ObservedLease): void {
    this.observed = lease;
    this.observedTime = this.clock.monotonic();
    const holder = lease.record.holderIdentity;
    if (holder === "" || holder === this.reportedLeader) return;
    if (this.reportedLeader !== "") this.metrics.transition();
    this.reportedLeader = holder;
    this.log.info({ leader: holder }, "new leader");
    void this.callback("onNewLeader", () => {
      this.o.onNewLeader?.(holder);
    });
  }

  /**
   * Hands a lease this replica holds over: holder "", duration 1 s, bounded by renewDeadline. A renewal cut
   * short by the stop may still have been stored, leaving this replica a version behind: on a conflict it
   * reads the lease once and, if it still holds it, releases that version.
   */
  private async release(): Promise<void> {
    const held = this.observed?.record;
    if (held?.holderIdentity !== this.identity) return;
    const now = new Date(this.clock.now());
    const released = (leaseTransitions: number): LeaderElectionRecord => ({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaseTransitions,
    });
    const deadline = new AbortController();
    const timer = this.clock.setTimeout(() => {
      deadline.abort(new Error(`${this.lock.describe()}: no answer within ${this.renewDeadlineMs} ms`));
    }, this.renewDeadlineMs);
    const bounds = { timeoutMs: this.renewDeadlineMs, signal: deadline.signal };
    try {
      try {
        this.setObserved(
          await bounded(this.lock.update(released(held.leaseTransitions), bounds), bounds.signal),
        );
      } catch (err) {
        if (!(err instanceof LockConflictError)) throw err;
        const current = await bounded(this.lock.get(bounds), bounds.signal);
        if (current?.record.holderIdentity !== this.identity) {
          this.log.info({ holder: current?.record.holderIdentity }, "the lease moved on before the release");
          return;
        }
        this.log.debug("the lease changed since the last renewal seen; releasing the version read");
        this.setObserved(
          await bounded(this.lock.update(released(current.record.leaseTransitions), bounds), bounds.signal),
        );
      }
      this.log.info("released the lease");
    } catch (err) {
      this.log.warn({ err }, "releasing the lease failed; peers take over when it expires");
    } finally {
      timer.cancel();
    }
  }

  /** Runs a user callback; a throw or rejection is logged, never propagated. Resolves when it settles. */
  private callback(which: string, fn: () => void | Promise<void>): Promise<void> {
    const logFailure = (err: unknown): void => {
      this.log.error({ err }, `${which} failed`);
    };
    try {
      const result = fn();
      return result instanceof Promise ? result.catch(logFailure) : Promise.resolve();
    } catch (err) {
      logFailure(err);
      return Promise.resolve();
    }
  }
}

/** What to do about a lease namespace that does not exist, in one sentence for logs and /readyz. */
function missingNamespace(err: LockNamespaceNotFoundError, lock: string): string {
  const ns = err.namespace;
  return `cannot take part in leader election: namespace ${ns} for ${lock} does not exist; create it (kubectl create namespace ${ns}) or set -leader-election-namespace to an existing namespace`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
