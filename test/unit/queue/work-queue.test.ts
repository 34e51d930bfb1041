import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { PrometheusWorkqueueMetrics } from "../../../src/queue/metrics.ts";
import { WorkQueue } from "../../../src/queue/work-queue.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { isSettled, resolvedNow } from "./helpers.ts";

describe("WorkQueue", () => {
  it("hands keys out in the order they were added", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add("a");
    q.add("b");
    q.add("c");
    assert.equal(q.len(), 3);
    assert.equal(await resolvedNow(q.get()), "a");
    assert.equal(await resolvedNow(q.get()), "b");
    assert.equal(await resolvedNow(q.get()), "c");
    assert.equal(q.len(), 0);
  });

  it("collapses a burst of adds of one key into one item", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    for (let i = 0; i < 10; i++) q.add("ns/a");
    q.add("ns/b");
    q.add("ns/a");
    assert.equal(q.len(), 2);
    assert.equal(await resolvedNow(q.get()), "ns/a");
    assert.equal(await resolvedNow(q.get()), "ns/b");
    assert.equal(q.len(), 0);
  });

  it("never hands out a key that is being processed", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add("a");
    assert.equal(await resolvedNow(q.get()), "a");
    q.add("a");
    q.add("a");
    assert.equal(q.len(), 0, "a key added while processing is not queued");
    const next = q.get();
    assert.equal(await isSettled(next), false, "a second worker must not receive the key in flight");
    q.done("a");
    assert.equal(await resolvedNow(next), "a", "done re-enqueues the key dirtied during processing, once");
    assert.equal(q.len(), 0);
  });

  it("does not re-enqueue a key on done when nobody added it meanwhile", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add("a");
    assert.equal(await resolvedNow(q.get()), "a");
    q.done("a");
    assert.equal(q.len(), 0);
    q.done("a"); // a stray done is harmless
    assert.equal(q.len(), 0);
  });

  it("lets other keys through while one is processing", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add("a");
    assert.equal(await resolvedNow(q.get()), "a");
    q.add("a");
    q.add("b");
    assert.equal(await resolvedNow(q.get()), "b");
    q.done("a");
    assert.equal(await resolvedNow(q.get()), "a");
  });

  it("makes get() wait for the next add", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const first = q.get();
    const second = q.get();
    assert.equal(await isSettled(first), false);
    q.add("a");
    q.add("b");
    assert.equal(await resolvedNow(first), "a");
    assert.equal(await resolvedNow(second), "b");
  });

  it("releases waiting getters with undefined on shutdown and ignores later adds", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const waiters = [q.get(), q.get()];
    assert.equal(q.shuttingDown(), false);
    q.shutDown();
    assert.equal(q.shuttingDown(), true);
    assert.deepEqual(await resolvedNow(Promise.all(waiters)), [undefined, undefined]);
    q.add("a");
    assert.equal(q.len(), 0);
    assert.equal(await resolvedNow(q.get()), undefined);
  });

  it("still hands out keys queued before shutdown, then undefined", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add("a");
    q.shutDown();
    assert.equal(await resolvedNow(q.get()), "a");
    assert.equal(await resolvedNow(q.get()), undefined);
  });

  it("shutDownWithDrain resolves only once in-flight keys are done", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add("a");
    q.add("b");
    assert.equal(await resolvedNow(q.get()), "a");
    assert.equal(await resolvedNow(q.get()), "b");
    const drained = q.shutDownWithDrain();
    assert.equal(q.shuttingDown(), true);
    q.done("a");
    assert.equal(await isSettled(drained), false);
    q.done("b");
    assert.equal(await isSettled(drained), true);
  });

  it("shutDownWithDrain resolves at once when nothing is processing", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    assert.equal(await isSettled(q.shutDownWithDrain()), true);
  });

  it("requires a name when metrics are given", () => {
    const metrics = new PrometheusWorkqueueMetrics({ registry: new Registry() });
    assert.throws(() => new WorkQueue({ metrics }), /name is required/);
  });
});
