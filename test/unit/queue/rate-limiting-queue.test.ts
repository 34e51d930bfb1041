import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RateLimiter } from "../../../src/queue/rate-limiter.ts";
import { ItemExponentialFailureRateLimiter } from "../../../src/queue/rate-limiter.ts";
import { RateLimitingQueue } from "../../../src/queue/rate-limiting-queue.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { resolvedNow } from "./helpers.ts";

/** A limiter that fails the test if asked anything. */
const forbiddenLimiter: RateLimiter = {
  when: (key) => assert.fail(`unexpected when(${key})`),
  forget: (key) => assert.fail(`unexpected forget(${key})`),
  numRequeues: (key) => assert.fail(`unexpected numRequeues(${key})`),
};

describe("RateLimitingQueue", () => {
  it("delays a rate-limited add by the limiter's backoff", async () => {
    const clock = new FakeClock();
    const q = new RateLimitingQueue({ clock });
    q.addRateLimited("a");
    assert.equal(q.numRequeues("a"), 1);
    assert.equal(q.len(), 0);
    clock.advance(4);
    assert.equal(q.len(), 0);
    clock.advance(1);
    assert.equal(q.len(), 1, "the default limiter's first backoff is 5 ms");
    assert.equal(await resolvedNow(q.get()), "a");
    q.done("a");

    q.addRateLimited("a");
    clock.advance(9);
    assert.equal(q.len(), 0);
    clock.advance(1);
    assert.equal(q.len(), 1, "the second backoff is 10 ms");
  });

  it("forget resets the backoff", () => {
    const clock = new FakeClock();
    const q = new RateLimitingQueue({
      clock,
      rateLimiter: new ItemExponentialFailureRateLimiter({ baseDelayMs: 100, maxDelayMs: 10_000 }),
    });
    q.addRateLimited("a");
    q.addRateLimited("a");
    assert.equal(q.numRequeues("a"), 2);
    q.forget("a");
    assert.equal(q.numRequeues("a"), 0);
  });

  it("never throttles a plain add or addAfter", () => {
    const clock = new FakeClock();
    const q = new RateLimitingQueue({ clock, rateLimiter: forbiddenLimiter });
    for (let i = 0; i < 500; i++) q.add(`k${i}`);
    assert.equal(q.len(), 500);
    q.addAfter("later", 10);
    clock.advance(10);
    assert.equal(q.len(), 501);
  });
});
