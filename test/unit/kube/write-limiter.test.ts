import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WriteLimiter } from "../../../src/kube/write-limiter.ts";
import { FakeClock } from "../../support/fake-clock.ts";

describe("WriteLimiter", () => {
  it("lets the burst through at once, then spaces writes by 1/qps", async () => {
    const clock = new FakeClock();
    const limiter = new WriteLimiter({ qps: 10, burst: 2, clock });
    let done = 0;
    const takes = [limiter.take(), limiter.take(), limiter.take()].map((p) => p.then(() => done++));
    await Promise.all(takes.slice(0, 2));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(done, 2);
    clock.advance(99);
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(done, 2, "the third waits 100 ms");
    clock.advance(1);
    await Promise.all(takes);
    assert.equal(done, 3);
  });

  it("rejects when the signal aborts while waiting, and refuses silly limits", async () => {
    const clock = new FakeClock();
    const limiter = new WriteLimiter({ qps: 1, burst: 1, clock });
    await limiter.take();
    const abort = new AbortController();
    const waiting = limiter.take(abort.signal);
    abort.abort(new Error("leadership lost"));
    await assert.rejects(waiting, /leadership lost/);
    assert.throws(
      () => new WriteLimiter({ qps: 0, burst: 1, clock }),
      /WriteLimiter: qps must be a positive/,
    );
    assert.throws(() => new WriteLimiter({ qps: 1, burst: 0.5, clock }), /burst must be a positive integer/);
  });
});
