import assert from "node:assert/strict";
import { hostname } from "node:os";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { Clock } from "../../../src/clock.ts";
import { defaultIdentity } from "../../../src/leader/identity.ts";
import { LeaderElector, type LeaderElectorOptions } from "../../../src/leader/leader-elector.ts";
import { deferred, flush, isSettled, sample } from "../queue/helpers.ts";
import { FreezableClock, World, type Candidate } from "./harness.ts";
import { MemoryLock, type Fault } from "./memory-lock.ts";

const YEAR_MS = 365 * 24 * 3_600_000;

async function status(c: Candidate): Promise<number> {
  return sample(c.registry, "leader_election_master_status", { name: "eatr" });
}

/** Has c's run promise resolved with reason by now? */
async function endedWith(c: Candidate, reason: string): Promise<boolean> {
  assert.ok(c.result);
  if (!(await isSettled(c.result))) return false;
  assert.equal(await c.result, reason);
  return true;
}

void describe("LeaderElector", () => {
  void describe("acquiring", () => {
    void it("creates the lease when there is none and starts leading", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      assert.deepEqual(a.events, ["leader:a", "started"]);
      assert.equal(a.elector.isLeader(), true);
      assert.equal(a.elector.getLeader(), "a");
      assert.deepEqual(w.store.current(), w.record("a", { leaseTransitions: 0 }));
      assert.deepEqual(
        a.lock.calls.map((c) => c.op),
        ["get", "create"],
      );
    });

    void it("renews the lease it holds every retryPeriod with the cached lease, without reading it", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      const acquired = w.store.current();
      await w.advance(6000);
      assert.deepEqual(
        a.lock.calls.map((c) => c.op),
        ["get", "create", "update", "update", "update"],
      );
      assert.deepEqual(w.store.current(), {
        ...w.record("a"),
        acquireTime: acquired?.acquireTime,
        leaseTransitions: 0,
      });
      assert.equal(a.elector.lastRenewMonotonic(), 6000);
      assert.equal(await sample(a.registry, "eatr_leader_election_slowpath_total", { name: "eatr" }), 0);
    });

    void it("stays out while another holder keeps renewing, then takes over leaseDuration after it last saw a change", async () => {
      const w = new World();
      w.store.put(w.record("b", { leaseTransitions: 4 }));
      const a = await w.campaign(w.candidate("a"));
      // b renews at 1 s, 3 s, ... 29 s; a reads the lease at 0 s, 2 s, 4 s, ...
      for (let i = 0; i < 15; i++) {
        await w.advance(1000);
        w.store.put(w.record("b", { leaseTransitions: 4 }));
        await w.advance(1000);
        assert.equal(a.elector.isLeader(), false);
      }
      // a saw b's last renewal (written at 29 s) at 30 s: valid until 45 s, taken over at a's read at 46 s.
      await w.advance(15_900);
      assert.equal(a.elector.isLeader(), false);
      assert.equal(w.store.current()?.holderIdentity, "b");
      await w.advance(100);
      assert.equal(a.elector.isLeader(), true);
      assert.deepEqual(w.store.current(), w.record("a", { leaseTransitions: 5 }));
      assert.deepEqual(a.events, ["leader:b", "leader:a", "started"]);
    });

    for (const [what, offsetMs] of [
      ["30 years in the past", -30 * YEAR_MS],
      ["30 years in the future", 30 * YEAR_MS],
    ] as const) {
      void it(`judges expiry by observation alone when the holder's clock is ${what}`, async () => {
        const w = new World();
        const skewed = (): Date => new Date(w.clock.now() + offsetMs);
        const renewAsB = (): void => {
          w.store.put(w.record("b", { acquireTime: skewed(), renewTime: skewed() }));
        };
        renewAsB();
        const a = await w.campaign(w.candidate("a"));
        for (let i = 0; i < 10; i++) {
          await w.advance(2000);
          renewAsB();
        }
        assert.equal(a.elector.isLeader(), false);
        // b's last write, at 20 s after a's read, is seen at a's read at 22 s: valid until 37 s ...
        await w.advance(17_900);
        assert.equal(a.elector.isLeader(), false);
        // ... and taken over at a's read at 38 s, whatever b's timestamps say.
        await w.advance(100);
        assert.equal(a.elector.isLeader(), true);
      });
    }

    void it("takes a lease with a record that was never renewed after its duration from first sight", async () => {
      const w = new World();
      w.store.put(w.record("b", { renewTime: undefined, acquireTime: undefined }));
      const a = await w.campaign(w.candidate("a"));
      await w.advance(14_000);
      assert.equal(a.elector.isLeader(), false);
      await w.advance(2000);
      assert.equal(a.elector.isLeader(), true);
    });

    void it("retries every retryPeriod plus jitter of up to 1.2 retryPeriods", async () => {
      const w = new World();
      w.store.put(w.record("b"));
      const a = await w.campaign(w.candidate("a", { random: () => 0.5 }));
      // 2 s × (1 + 0.5 × 1.2) = 3.2 s apart: reads at 0, 3.2, 6.4, 9.6 s.
      await w.advance(9500);
      assert.equal(a.lock.count("get"), 3);
      await w.advance(100);
      assert.equal(a.lock.count("get"), 4);
    });

    void it("lets exactly one of two candidates lead", async () => {
      const w = new World();
      const a = w.candidate("a");
      const b = w.candidate("b");
      a.result = a.elector.run(a.stop.signal);
      b.result = b.elector.run(b.stop.signal);
      await flush();
      await w.advance(60_000);
      assert.deepEqual(a.events, ["leader:a", "started"]);
      assert.deepEqual(b.events, ["leader:a"]);
      assert.equal(w.store.current()?.holderIdentity, "a");
    });
  });

  void describe("conflicts and errors fail the round, which is retried", () => {
    void it("a 409 on create", async () => {
      const w = new World();
      const c = w.candidate("a");
      c.lock.failNext("create", "conflict");
      const a = await w.campaign(c);
      assert.equal(a.elector.isLeader(), false);
      assert.equal(w.store.current(), undefined);
      await w.advance(2000);
      assert.equal(a.elector.isLeader(), true);
      assert.equal(a.lock.count("create"), 2);
    });

    void it("a 409 on the takeover update", async () => {
      const w = new World();
      w.store.put(w.record("b"));
      const a = await w.campaign(w.candidate("a"));
      a.lock.failNext("update", "conflict");
      await w.advance(16_000);
      assert.equal(a.elector.isLeader(), false);
      assert.equal(a.lock.count("update"), 1);
      await w.advance(2000);
      assert.equal(a.elector.isLeader(), true);
      assert.equal(w.store.current()?.leaseTransitions, 1);
    });

    void it("a stale cached lease: the leader's update conflicts, it reads the lease and renews", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      a.lock.failNext("update", "conflict");
      await w.advance(2000);
      assert.deepEqual(
        a.lock.calls.map((c) => c.op),
        ["get", "create", "update", "get", "update"],
      );
      assert.equal(a.elector.isLeader(), true);
      assert.equal(await sample(a.registry, "eatr_leader_election_slowpath_total", { name: "eatr" }), 1);
    });

    void it("a GET error", async () => {
      const w = new World();
      const c = w.candidate("a");
      c.lock.failNext("get", "error", 2);
      const a = await w.campaign(c);
      await w.advance(2000);
      assert.equal(a.elector.isLeader(), false);
      await w.advance(2000);
      assert.equal(a.elector.isLeader(), true);
    });
  });

  void describe("renew deadline", () => {
    const faults: Fault[] = ["error", "conflict", "hang", "hang-ignoring-signal"];
    for (const fault of faults) {
      void it(`loses leadership renewDeadline after the last renewal when every update meets "${fault}"`, async () => {
        const w = new World();
        const a = await w.campaign(w.candidate("a"));
        await w.advance(2000);
        assert.equal(a.elector.lastRenewMonotonic(), 2000);
        a.lock.failAlways("update", fault);
        await w.advance(9900);
        assert.equal(a.elector.isLeader(), true);
        assert.equal(await endedWith(a, "lost"), false);
        await w.advance(100);
        assert.equal(a.elector.isLeader(), false);
        assert.equal(await endedWith(a, "lost"), true);
        assert.deepEqual(a.events, ["leader:a", "started", "stopped:lost"]);
        assert.equal(await status(a), 0);
        // Never released: a peer must wait for the lease to expire.
        assert.equal(w.store.current()?.holderIdentity, "a");
        for (const call of a.lock.calls)
          assert.ok(call.bounds.timeoutMs <= 10_000, String(call.bounds.timeoutMs));
      });
    }

    void it("loses leadership when reads hang too", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      a.lock.failAlways("update", "error");
      a.lock.failAlways("get", "hang-ignoring-signal");
      await w.advance(9900);
      assert.equal(a.elector.isLeader(), true);
      await w.advance(100);
      assert.equal(await endedWith(a, "lost"), true);
    });

    void it("bounds calls by whole milliseconds when monotonic time is fractional", async () => {
      const w = new World();
      // Readings carry a fraction of a millisecond, as performance.now() readings do.
      let readings = 0;
      const clock: Clock = {
        now: () => w.clock.now(),
        monotonic: () => w.clock.monotonic() + ((readings++ * 0.37) % 1),
        setTimeout: (fn, ms) => w.clock.setTimeout(fn, ms),
      };
      const a = await w.campaign(w.candidate("a", { clock }));
      await w.advance(6000);
      assert.equal(a.elector.isLeader(), true);
      assert.equal(a.lock.count("update"), 3);
      for (const call of a.lock.calls) {
        assert.ok(Number.isInteger(call.bounds.timeoutMs), String(call.bounds.timeoutMs));
      }
    });

    void it("keeps leading through failures shorter than renewDeadline", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      // Rounds at 2, 4 and 6 s fail (cached update, then update after reading); 8 s renews, 2 s before the deadline.
      a.lock.failNext("update", "error", 6);
      await w.advance(30_000);
      assert.equal(a.elector.isLeader(), true);
      assert.deepEqual(a.events, ["leader:a", "started"]);
    });

    void it("loses leadership at once when a read shows another holder took the lease", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      await w.advance(3000);
      w.store.put(w.record("b", { leaseTransitions: 1 }));
      // At 4 s: the cached update conflicts, the read shows b holding a valid lease.
      await w.advance(1000);
      assert.equal(await endedWith(a, "lost"), true);
      assert.deepEqual(a.events, ["leader:a", "started", "leader:b", "stopped:lost"]);
      assert.equal(w.store.current()?.holderIdentity, "b");
    });

    void it("aborts the leadership signal given to onStartedLeading", async () => {
      const w = new World();
      let leadership: AbortSignal | undefined;
      const a = await w.campaign(
        w.candidate("a", {
          onStartedLeading: (s) => {
            leadership = s;
          },
        }),
      );
      assert.equal(leadership?.aborted, false);
      a.lock.failAlways("update", "error");
      await w.advance(10_000);
      assert.equal(leadership?.aborted, true);
    });
  });

  void describe("graceful stop", () => {
    void it("releases the lease after onStoppedLeading settles, and a peer takes over at its next attempt", async () => {
      const w = new World();
      const stopped = deferred<undefined>();
      const a = await w.campaign(
        w.candidate("a", {
          onStoppedLeading: async (reason) => {
            assert.equal(reason, "stopped");
            await stopped.promise;
          },
        }),
      );
      const b = await w.campaign(w.candidate("b"));
      await w.advance(5000);
      a.stop.abort();
      await flush();
      assert.equal(a.elector.isLeader(), false);
      assert.equal(w.store.current()?.holderIdentity, "a", "still held while work stops");
      stopped.resolve(undefined);
      await flush();
      assert.equal(await endedWith(a, "stopped"), true);
      assert.deepEqual(w.store.current(), {
        ...w.record(""),
        leaseDurationSeconds: 1,
        leaseTransitions: 0,
      });
      // b reads every 2 s: at 6 s it sees the released lease and takes it, 9 s before a's lease would expire.
      await w.advance(1000);
      assert.equal(b.elector.isLeader(), true);
      assert.deepEqual(w.store.current(), w.record("b", { leaseTransitions: 1 }));
      assert.deepEqual(b.events, ["leader:a", "leader:b", "started"]);
    });

    void it("does not release with releaseOnStop false", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a", { releaseOnStop: false }));
      a.stop.abort();
      await flush();
      assert.equal(await endedWith(a, "stopped"), true);
      assert.deepEqual(a.events, ["leader:a", "started", "stopped:stopped"]);
      assert.equal(w.store.current()?.holderIdentity, "a");
    });

    void it("stops a standby without writing or calling onStoppedLeading", async () => {
      const w = new World();
      w.store.put(w.record("b"));
      const a = await w.campaign(w.candidate("a"));
      const writes = w.store.writes.length;
      a.stop.abort();
      await flush();
      assert.equal(await endedWith(a, "stopped"), true);
      assert.deepEqual(a.events, ["leader:b"]);
      assert.equal(w.store.writes.length, writes);
    });

    void it("abandons a hanging attempt at once when stopped", async () => {
      const w = new World();
      const c = w.candidate("a");
      c.lock.failAlways("get", "hang-ignoring-signal");
      const a = await w.campaign(c);
      a.stop.abort();
      await flush();
      assert.equal(await endedWith(a, "stopped"), true);
    });

    void it("releases even when a renewal cut short by the stop was stored (a version behind)", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      const b = await w.campaign(w.candidate("b"));
      // The next renewal reaches the store, but its answer never comes back before the stop.
      a.lock.failNext("update", "stored-then-hang");
      await w.advance(2000);
      const renewals = w.store.writes.length;
      assert.ok(renewals >= 2, "the renewal was stored");
      a.stop.abort();
      await flush();
      assert.equal(await endedWith(a, "stopped"), true);
      assert.equal(w.store.current()?.holderIdentity, "", "released although the first release conflicted");
      assert.equal(w.store.current()?.leaseDurationSeconds, 1);
      assert.equal(a.lock.count("get") >= 2, true, "read the lease again after the conflict");
      await w.advance(2000);
      assert.equal(b.elector.isLeader(), true, "a peer takes the released lease without waiting for expiry");
    });

    void it("does not release a lease that moved on to a peer meanwhile", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      w.store.put(w.record("b"));
      a.stop.abort();
      await flush();
      assert.equal(await endedWith(a, "stopped"), true);
      assert.equal(w.store.current()?.holderIdentity, "b", "the peer's lease is left alone");
    });

    void it("survives a failed release", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      a.lock.failAlways("update", "hang");
      a.stop.abort();
      await flush();
      assert.equal(await endedWith(a, "stopped"), false);
      await w.advance(10_000);
      assert.equal(await endedWith(a, "stopped"), true);
      assert.equal(w.store.current()?.holderIdentity, "a");
    });

    void it("returns at once when the signal is already aborted", async () => {
      const w = new World();
      const c = w.candidate("a");
      c.stop.abort();
      await w.campaign(c);
      assert.equal(await endedWith(c, "stopped"), true);
      assert.deepEqual(c.lock.calls, []);
    });

    void it("may run only once", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      await assert.rejects(a.elector.run(a.stop.signal), /only once/);
    });
  });

  void describe("callbacks", () => {
    void it("reports each new leader once, and survives throwing callbacks", async () => {
      const w = new World();
      w.store.put(w.record("b"));
      const seen: string[] = [];
      const a = await w.campaign(
        w.candidate("a", {
          onNewLeader: (leader) => {
            seen.push(leader);
            throw new Error("callback bug");
          },
          onStartedLeading: () => Promise.reject(new Error("callback bug")),
        }),
      );
      await w.advance(4000);
      w.store.put(w.record("c"));
      await w.advance(4000);
      w.store.put(w.record("", { leaseDurationSeconds: 1 }));
      await w.advance(2000);
      assert.deepEqual(seen, ["b", "c", "a"]);
      assert.equal(a.elector.isLeader(), true);
      assert.equal(a.elector.getLeader(), "a");
    });
  });

  void describe("metrics", () => {
    void it("leader_election_master_status is 0 until leading, 1 while leading, 0 after", async () => {
      const w = new World();
      w.store.put(w.record("b"));
      const c = w.candidate("a");
      assert.equal(await status(c), 0);
      const a = await w.campaign(c);
      assert.equal(await status(a), 0);
      await w.advance(16_000);
      assert.equal(await status(a), 1);
      a.stop.abort();
      await flush();
      assert.equal(await status(a), 0);
    });

    void it("counts changes of holder seen, not the first sighting or a released lease", async () => {
      const w = new World();
      w.store.put(w.record("b"));
      const a = await w.campaign(w.candidate("a"));
      const transitions = () =>
        sample(a.registry, "eatr_leader_election_transitions_total", { name: "eatr" });
      assert.equal(await transitions(), 0);
      await w.advance(2000);
      w.store.put(w.record("c"));
      await w.advance(2000);
      assert.equal(await transitions(), 1);
      w.store.put(w.record("", { leaseDurationSeconds: 1 }));
      await w.advance(2000);
      assert.equal(await transitions(), 2, "c -> a, through a released lease");
      assert.equal(a.elector.isLeader(), true);
    });

    void it("counts a slow path for every renewal that had to read the lease", async () => {
      const w = new World();
      const a = await w.campaign(w.candidate("a"));
      a.lock.failNext("update", "error", 3);
      await w.advance(8000);
      // 2 s: cached update fails, read, update fails; 4 s: cached update fails, read, update succeeds.
      assert.equal(await sample(a.registry, "eatr_leader_election_slowpath_total", { name: "eatr" }), 2);
    });

    void it("registers on the registry it is given and refuses a second election of one name", () => {
      const w = new World();
      const c = w.candidate("a");
      assert.throws(
        () =>
          new LeaderElector({
            lock: c.lock,
            identity: "x",
            name: "eatr",
            metrics: {
              forElection: () => {
                throw new RangeError('an election named "eatr" already reports');
              },
            },
          }),
        /already reports/,
      );
    });
  });

  void describe("healthCheck", () => {
    void it("is healthy on standby and while renewing; unhealthy when leading with no renewal past leaseDuration + tolerance", async () => {
      const w = new World();
      const clock = new FreezableClock(w.clock);
      w.store.put(w.record("b"));
      const a = await w.campaign(w.candidate("a", { clock }));
      assert.equal(a.elector.healthCheck(0).ok, true);
      assert.match(a.elector.healthCheck(0).detail, /not leading eatr; leader is b/);
      await w.advance(16_000);
      assert.equal(a.elector.isLeader(), true);
      assert.equal(a.elector.lastRenewMonotonic(), 16_000);
      await w.advance(30_000);
      assert.deepEqual(a.elector.healthCheck(0), { ok: true, detail: "leading eatr; renewed 0 ms ago" });
      // The event loop "sticks": no timer fires, so no renewal and no giving up either.
      clock.frozen = true;
      await w.advance(15_000);
      assert.equal(a.elector.healthCheck(0).ok, true);
      await w.advance(100);
      assert.deepEqual(a.elector.healthCheck(0), {
        ok: false,
        detail: "leading eatr but not renewed for 15100 ms (limit 15000 ms)",
      });
      assert.equal(a.elector.healthCheck(5000).ok, true);
    });
  });

  void describe("failing rounds", () => {
    /** A debug-level pino logger keeping every line, parsed. */
    function capture(): { logger: LeaderElectorOptions["logger"]; lines: Record<string, unknown>[] } {
      const lines: Record<string, unknown>[] = [];
      const logger = pino(
        { level: "debug" },
        {
          write: (line: string) => {
            lines.push(JSON.parse(line) as Record<string, unknown>);
          },
        },
      );
      return { logger, lines };
    }
    const at = (lines: Record<string, unknown>[], level: number) => lines.filter((l) => l.level === level);
    const WARN = 40;
    const ERROR = 50;

    void it("says a missing lease namespace loudly with the fix, at growing intervals, in readiness too, until it exists", async () => {
      const w = new World();
      const { logger, lines } = capture();
      const c = w.candidate("a", { logger });
      c.lock.failAlways("create", "no-namespace");
      const since = new Date(w.clock.now()).toISOString();
      const a = await w.campaign(c);
      await w.advance(300_000);
      assert.equal(a.elector.isLeader(), false);
      assert.equal(c.lock.count("create"), 151, "a round every retryPeriod all along");
      const errors = at(lines, ERROR);
      // At 0 s, then 30 s, 60 s and 120 s apart (0, 30, 90, 210 s): not once per round (151).
      assert.deepEqual(
        errors.map((l) => l.failures),
        [1, 16, 46, 106],
      );
      assert.equal(
        errors[0]?.msg,
        "cannot take part in leader election: namespace test for lease test/eatr does not exist; create it (kubectl create namespace test) or set -leader-election-namespace to an existing namespace",
      );
      assert.equal(errors[0]?.namespace, "test");
      assert.equal(at(lines, WARN).length, 0);
      assert.deepEqual(a.elector.readiness(), {
        ok: false,
        detail: `cannot take part in leader election: namespace test for lease test/eatr does not exist; create it (kubectl create namespace test) or set -leader-election-namespace to an existing namespace (since ${since})`,
      });
      assert.equal(a.elector.healthCheck(0).ok, true, "a restart would not help: /healthz stays ok");
      c.lock.heal(); // someone created the namespace
      await w.advance(2000);
      assert.equal(a.elector.isLeader(), true);
      assert.deepEqual(a.elector.readiness(), { ok: true, detail: "leading eatr" });
      const recovered = lines.filter((l) => String(l.msg).startsWith("leader election rounds work again"));
      assert.equal(recovered.length, 1);
      assert.equal(recovered[0]?.msg, "leader election rounds work again after 302 s (151 failed attempts)");
    });

    void it("warns when rounds start failing and at growing intervals, and is not ready meanwhile", async () => {
      const w = new World();
      const { logger, lines } = capture();
      const c = w.candidate("a", { logger });
      c.lock.failAlways("get", "error");
      const a = await w.campaign(c);
      await w.advance(120_000);
      assert.equal(c.lock.count("get"), 61);
      assert.deepEqual(
        at(lines, WARN).map((l) => l.msg),
        [
          "leader election round failed; retrying every retry period, logging again at growing intervals while it lasts",
          `leader election rounds still failing since ${new Date(w.clock.now() - 120_000).toISOString()} (16 attempts)`,
          `leader election rounds still failing since ${new Date(w.clock.now() - 120_000).toISOString()} (46 attempts)`,
        ],
      );
      assert.equal(at(lines, 20).length, 58, "the other rounds at debug level");
      const ready = a.elector.readiness();
      assert.equal(ready.ok, false);
      assert.match(
        ready.detail,
        /^leader election for lease test\/eatr failing since \S+ \(61 attempts\): get: HTTP 500/,
      );
    });

    void it("is ready on standby and while leading", async () => {
      const w = new World();
      w.store.put(w.record("b"));
      const a = await w.campaign(w.candidate("a"));
      assert.deepEqual(a.elector.readiness(), { ok: true, detail: "standby for eatr; leader is b" });
      // A conflict is an answer: it starts no outage.
      a.lock.failNext("get", "conflict");
      await w.advance(2000);
      assert.equal(a.elector.readiness().ok, true);
    });
  });

  void describe("options", () => {
    const lock = new MemoryLock(new World().store);
    const base: LeaderElectorOptions = { lock, identity: "a", name: "eatr" };

    void it("defaults to 15 s / 10 s / 2 s", () => {
      const e = new LeaderElector(base);
      assert.deepEqual([e.leaseDurationMs, e.renewDeadlineMs, e.retryPeriodMs], [15_000, 10_000, 2000]);
    });

    const invalid: [string, Partial<LeaderElectorOptions>, string][] = [
      [
        "lease duration not above renew deadline",
        { leaseDurationMs: 10_000 },
        "LeaderElector: leaseDurationMs (10000) must be greater than renewDeadlineMs (10000)",
      ],
      [
        "renew deadline not above 1.2 × retry period",
        { retryPeriodMs: 9000 },
        "LeaderElector: renewDeadlineMs (10000) must be greater than 1.2 × retryPeriodMs (9000) = 10800",
      ],
      [
        "renew deadline equal to 1.2 × retry period",
        { renewDeadlineMs: 3600, retryPeriodMs: 3000 },
        "LeaderElector: renewDeadlineMs (3600) must be greater than 1.2 × retryPeriodMs (3000) = 3600",
      ],
      ["a zero retry period", { retryPeriodMs: 0 }, "LeaderElector: retryPeriodMs must be above 0, got 0"],
      [
        "a negative lease duration",
        { leaseDurationMs: -1 },
        "LeaderElector: leaseDurationMs must be above 0, got -1",
      ],
      [
        "a NaN renew deadline",
        { renewDeadlineMs: NaN },
        "LeaderElector: renewDeadlineMs must be above 0, got NaN",
      ],
      [
        "a lease duration in part seconds",
        { leaseDurationMs: 15_500 },
        "LeaderElector: leaseDurationMs must be a whole number of seconds, got 15500",
      ],
      ["an empty identity", { identity: "" }, "LeaderElector: identity is required"],
      ["an empty name", { name: "" }, "LeaderElector: name is required"],
      [
        "several problems at once",
        { identity: "", leaseDurationMs: 5000, renewDeadlineMs: 5000, retryPeriodMs: 5000 },
        "LeaderElector: leaseDurationMs (5000) must be greater than renewDeadlineMs (5000); renewDeadlineMs (5000) must be greater than 1.2 × retryPeriodMs (5000) = 6000; identity is required",
      ],
    ];
    for (const [what, options, message] of invalid) {
      void it(`rejects ${what}`, () => {
        assert.throws(() => new LeaderElector({ ...base, ...options }), { name: "RangeError", message });
      });
    }
  });

  void it("defaultIdentity is the hostname and a random hex suffix", () => {
    const a = defaultIdentity();
    assert.match(a, new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}_[0-9a-f]{8}$`));
    assert.notEqual(a, defaultIdentity());
  });
});
