import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, validateBackoff } from "../../src/backoff.ts";
import { sleep } from "../../src/clock.ts";
import { FakeClock } from "../support/fake-clock.ts";

describe("backoffDelay", () => {
  it("doubles from the base per failure and stops at the cap", () => {
    const policy = { baseMs: 100, maxMs: 1_000 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((n) => backoffDelay(policy, n)),
      [100, 200, 400, 800, 1_000, 1_000],
    );
    assert.equal(backoffDelay(policy, 5_000), 1_000, "a huge failure count stays at the cap");
  });

  it("shortens by at most the jitter fraction", () => {
    const policy = { baseMs: 1_000, maxMs: 1_000, jitter: 0.5 };
    assert.equal(
      backoffDelay(policy, 0, () => 0),
      1_000,
    );
    assert.equal(
      backoffDelay(policy, 0, () => 0.99),
      505,
    );
  });

  it("refuses policies that cannot work", () => {
    assert.throws(() => {
      validateBackoff("x", { baseMs: 0, maxMs: 1 });
    }, /x: need 0 < base delay/);
    assert.throws(() => {
      validateBackoff("x", { baseMs: 2, maxMs: 1 });
    }, /need 0 < base delay \(2\) <= max delay \(1\)/);
    assert.throws(() => {
      validateBackoff("x", { baseMs: 1, maxMs: 1, jitter: 1 });
    }, /jitter must be in \[0, 1\)/);
  });
});

describe("sleep", () => {
  it("resolves after the delay on the clock, or at once when the signal aborts", async () => {
    const clock = new FakeClock();
    let done = false;
    const slept = sleep(clock, 1_000).then(() => (done = true));
    clock.advance(999);
    await Promise.resolve();
    assert.equal(done, false);
    clock.advance(1);
    await slept;
    assert.equal(done, true);

    const abort = new AbortController();
    const aborted = sleep(clock, 60_000, abort.signal);
    abort.abort();
    await aborted;
    assert.equal(clock.pendingTimers(), 0, "the timer is cancelled");
  });
});
