import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DelayingQueue } from "../../../src/queue/delaying-queue.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { isSettled, resolvedNow } from "./helpers.ts";

describe("DelayingQueue", () => {
  it("adds a key once its delay has passed, not before", async () => {
    const clock = new FakeClock();
    const q = new DelayingQueue({ clock });
    q.addAfter("a", 100);
    assert.equal(q.len(), 0);
    assert.equal(q.waitingLen(), 1);
    clock.advance(99);
    assert.equal(q.len(), 0);
    clock.advance(1);
    assert.equal(q.len(), 1);
    assert.equal(q.waitingLen(), 0);
    assert.equal(await resolvedNow(q.get()), "a");
  });

  it("adds at once when the delay is zero or negative", () => {
    const clock = new FakeClock();
    const q = new DelayingQueue({ clock });
    q.addAfter("zero", 0);
    q.addAfter("negative", -5);
    assert.equal(q.len(), 2);
    assert.equal(q.waitingLen(), 0);
    assert.equal(clock.pendingTimers(), 0);
  });

  it("keeps the earliest ready time when a key is added after a shorter delay", () => {
    const clock = new FakeClock();
    const q = new DelayingQueue({ clock });
    q.addAfter("a", 100);
    q.addAfter("a", 50);
    assert.equal(q.waitingLen(), 1);
    clock.advance(50);
    assert.equal(q.len(), 1);
    assert.equal(q.waitingLen(), 0, "the later entry is gone, not left behind");
  });

  it("keeps the earliest ready time when a key is added after a longer delay", () => {
    const clock = new FakeClock();
    const q = new DelayingQueue({ clock });
    q.addAfter("a", 50);
    q.addAfter("a", 100);
    assert.equal(q.waitingLen(), 1);
    clock.advance(50);
    assert.equal(q.len(), 1);
    assert.equal(q.waitingLen(), 0);
  });

  it("releases keys in ready-time order with a single timer", async () => {
    const clock = new FakeClock();
    const q = new DelayingQueue({ clock });
    q.addAfter("c", 300);
    q.addAfter("a", 100);
    q.addAfter("b", 200);
    assert.equal(clock.pendingTimers(), 1);
    clock.advance(150);
    assert.equal(q.len(), 1);
    clock.advance(1000);
    assert.equal(q.len(), 3);
    assert.deepEqual(
      [await resolvedNow(q.get()), await resolvedNow(q.get()), await resolvedNow(q.get())],
      ["a", "b", "c"],
    );
    assert.equal(clock.pendingTimers(), 0);
  });

  it("hands a delayed key to a waiting getter", async () => {
    const clock = new FakeClock();
    const q = new DelayingQueue({ clock });
    const next = q.get();
    q.addAfter("a", 10);
    assert.equal(await isSettled(next), false);
    clock.advance(10);
    assert.equal(await resolvedNow(next), "a");
  });

  it("waits out delays longer than one timer can hold", () => {
    const clock = new FakeClock();
    const q = new DelayingQueue({ clock });
    const thirtyDays = 30 * 24 * 3600 * 1000;
    q.addAfter("a", thirtyDays);
    clock.advance(2 ** 31);
    assert.equal(q.len(), 0);
    clock.advance(thirtyDays - 2 ** 31 - 1);
    assert.equal(q.len(), 0);
    clock.advance(1);
    assert.equal(q.len(), 1);
  });

  it("cancels its timer and drops waiting keys on shutdown", async () => {
    const clock = new FakeClock();
    const q = new DelayingQueue({ clock });
    q.addAfter("a", 100);
    assert.equal(clock.pendingTimers(), 1);
    q.shutDown();
    assert.equal(clock.pendingTimers(), 0);
    assert.equal(q.waitingLen(), 0);
    q.addAfter("b", 10);
    clock.advance(1000);
    assert.equal(q.len(), 0);
    assert.equal(await resolvedNow(q.get()), undefined);
  });

  it("rejects a delay that is not a number", () => {
    const q = new DelayingQueue({ clock: new FakeClock() });
    assert.throws(() => {
      q.addAfter("a", Number.NaN);
    }, RangeError);
  });
});
