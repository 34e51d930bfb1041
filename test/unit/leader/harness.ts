import { Registry } from "prom-client";
import type { Clock } from "../../../src/clock.ts";
import {
  LeaderElector,
  type LeaderElectorOptions,
  type StopReason,
} from "../../../src/leader/leader-elector.ts";
import type { LeaderElectionRecord } from "../../../src/leader/lock.ts";
import { PrometheusLeaderElectionMetrics } from "../../../src/leader/metrics.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { flush } from "../queue/helpers.ts";
import { MemoryLeaseStore, MemoryLock } from "./memory-lock.ts";

/** One candidate: its lock (client), elector, the callbacks it saw, and its running campaign. */
export interface Candidate {
  readonly identity: string;
  readonly lock: MemoryLock;
  readonly elector: LeaderElector;
  readonly registry: Registry;
  /** "started", "stopped:<reason>", "leader:<identity>", in order. */
  readonly events: string[];
  readonly stop: AbortController;
  /** run(stop.signal), started by campaign(). */
  result?: Promise<StopReason>;
}

/** A shared fake clock and lease store for candidates to compete over. */
export class World {
  readonly clock = new FakeClock();
  readonly store = new MemoryLeaseStore();

  /** A candidate with jitter 0 (attempts exactly retryPeriod apart) and its own metrics registry. */
  candidate(identity: string, options: Partial<LeaderElectorOptions> = {}): Candidate {
    const lock = new MemoryLock(this.store);
    const events: string[] = [];
    const registry = new Registry();
    const elector = new LeaderElector({
      lock,
      identity,
      name: "eatr",
      clock: this.clock,
      random: () => 0,
      metrics: new PrometheusLeaderElectionMetrics({ registry }),
      onStartedLeading: () => {
        events.push("started");
      },
      onStoppedLeading: (reason) => {
        events.push(`stopped:${reason}`);
      },
      onNewLeader: (leader) => {
        events.push(`leader:${leader}`);
      },
      ...options,
    });
    return { identity, lock, elector, registry, events, stop: new AbortController() };
  }

  /** Starts c's run and lets its first attempt finish. */
  async campaign(c: Candidate): Promise<Candidate> {
    c.result = c.elector.run(c.stop.signal);
    await flush();
    return c;
  }

  /** Moves time forward by ms in steps of stepMs, letting every promise settle after each step. */
  async advance(ms: number, stepMs = 100): Promise<void> {
    for (let done = 0; done < ms; done += stepMs) {
      this.clock.advance(Math.min(stepMs, ms - done));
      await flush();
    }
  }

  /** A record as another replica would write it, stamped with this world's wall clock unless told. */
  record(holderIdentity: string, overrides: Partial<LeaderElectionRecord> = {}): LeaderElectionRecord {
    const now = new Date(this.clock.now());
    return {
      holderIdentity,
      leaseDurationSeconds: 15,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
      ...overrides,
    };
  }
}

/** A clock whose timers can be frozen, as if the event loop were stuck: frozen timers never fire. */
export class FreezableClock implements Clock {
  frozen = false;
  private readonly inner: FakeClock;

  constructor(inner: FakeClock) {
    this.inner = inner;
  }

  now(): number {
    return this.inner.now();
  }

  monotonic(): number {
    return this.inner.monotonic();
  }

  setTimeout(fn: () => void, ms: number): ReturnType<Clock["setTimeout"]> {
    return this.inner.setTimeout(() => {
      if (!this.frozen) fn();
    }, ms);
  }
}
