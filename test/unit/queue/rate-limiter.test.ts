import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
  type RateLimiter,
} from "../../../src/queue/rate-limiter.ts";
import { FakeClock } from "../../support/fake-clock.ts";

describe("ItemExponentialFailureRateLimiter", () => {
  it("doubles from 5 ms per failure of a key and counts requeues", () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    assert.deepEqual(
      Array.from({ length: 6 }, () => limiter.when("a")),
      [5, 10, 20, 40, 80, 160],
    );
    assert.equal(limiter.numRequeues("a"), 6);
    assert.equal(limiter.when("b"), 5, "keys back off independently");
  });

  it("caps the delay at 1000 s", () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    const delays = Array.from({ length: 2000 }, () => limiter.when("a"));
    // 5 ms * 2^17 = 655.36 s is the last delay below the cap; the next one is capped.
    assert.equal(delays[17], 655_360);
    assert.equal(delays[18], 1_000_000);
    assert.equal(delays.at(-1), 1_000_000);
  });

  it("starts over after forget", () => {
    const limiter = new ItemExponentialFailureRateLimiter({ baseDelayMs: 1, maxDelayMs: 1000 });
    limiter.when("a");
    limiter.when("a");
    limiter.forget("a");
    assert.equal(limiter.numRequeues("a"), 0);
    assert.equal(limiter.when("a"), 1);
  });

  it("rejects invalid options", () => {
    assert.throws(() => new ItemExponentialFailureRateLimiter({ baseDelayMs: 0 }), RangeError);
    assert.throws(() => new ItemExponentialFailureRateLimiter({ baseDelayMs: Number.NaN }), RangeError);
    assert.throws(() => new ItemExponentialFailureRateLimiter({ maxDelayMs: Infinity }), RangeError);
    assert.throws(
      () => new ItemExponentialFailureRateLimiter({ baseDelayMs: 10, maxDelayMs: 5 }),
      /at least/,
    );
  });
});

describe("BucketRateLimiter", () => {
  it("lets the burst through, then spaces requests 1/qps apart", () => {
    const limiter: RateLimiter = new BucketRateLimiter({ qps: 10, burst: 3, clock: new FakeClock() });
    assert.deepEqual(
      Array.from({ length: 6 }, () => limiter.when("x")),
      [0, 0, 0, 100, 200, 300],
    );
  });

  it("refills at qps up to the burst", () => {
    const clock = new FakeClock();
    const limiter: RateLimiter = new BucketRateLimiter({ qps: 10, burst: 3, clock });
    for (let i = 0; i < 3; i++) limiter.when("x");
    clock.advance(100);
    assert.equal(limiter.when("x"), 0, "one token came back after 100 ms");
    assert.equal(limiter.when("x"), 100);
    clock.advance(10_000);
    assert.deepEqual(
      Array.from({ length: 4 }, () => limiter.when("x")),
      [0, 0, 0, 100],
      "the bucket holds no more than the burst",
    );
  });

  it("defaults to 10 qps with a burst of 100", () => {
    const limiter: RateLimiter = new BucketRateLimiter({ clock: new FakeClock() });
    const delays = Array.from({ length: 102 }, (_, i) => limiter.when(`k${i}`));
    assert.equal(delays.filter((d) => d === 0).length, 100);
    assert.deepEqual(delays.slice(100), [100, 200]);
  });

  it("is shared: forget does nothing and no key has requeues", () => {
    const limiter: RateLimiter = new BucketRateLimiter({ qps: 1, burst: 1, clock: new FakeClock() });
    limiter.when("a");
    limiter.forget("a");
    assert.equal(limiter.numRequeues("a"), 0);
    assert.equal(limiter.when("a"), 1000);
  });

  it("rejects invalid options", () => {
    assert.throws(() => new BucketRateLimiter({ qps: 0 }), RangeError);
    assert.throws(() => new BucketRateLimiter({ qps: -1 }), RangeError);
    assert.throws(() => new BucketRateLimiter({ burst: 0 }), RangeError);
    assert.throws(() => new BucketRateLimiter({ burst: 1.5 }), RangeError);
  });
});

/** A limiter with a fixed answer that records calls. */
function fixed(delay: number, requeues: number): RateLimiter & { forgotten: string[] } {
  const forgotten: string[] = [];
  return {
    forgotten,
    when: () => delay,
    forget: (key) => {
      forgotten.push(key);
    },
    numRequeues: () => requeues,
  };
}

describe("MaxOfRateLimiter", () => {
  it("returns the longest delay and the highest requeue count, and forgets in all", () => {
    const short = fixed(5, 3);
    const long = fixed(50, 1);
    const limiter = new MaxOfRateLimiter([short, long]);
    assert.equal(limiter.when("a"), 50);
    assert.equal(limiter.numRequeues("a"), 3);
    limiter.forget("a");
    assert.deepEqual(short.forgotten, ["a"]);
    assert.deepEqual(long.forgotten, ["a"]);
  });

  it("needs at least one limiter", () => {
    assert.throws(() => new MaxOfRateLimiter([]), RangeError);
  });
});

describe("defaultControllerRateLimiter", () => {
  it("backs off per key and throttles overall once the burst of 100 is spent", () => {
    const limiter = defaultControllerRateLimiter({ clock: new FakeClock() });
    const firstFailures = Array.from({ length: 100 }, (_, i) => limiter.when(`k${i}`));
    assert.ok(firstFailures.every((d) => d === 5));
    assert.equal(limiter.when("k0"), 100, "the bucket's 100 ms beats k0's 10 ms backoff");
    assert.equal(limiter.numRequeues("k0"), 2);
    limiter.forget("k0");
    assert.equal(limiter.numRequeues("k0"), 0);
  });

  it("lets exponential backoff dominate while tokens last", () => {
    const limiter = defaultControllerRateLimiter({ clock: new FakeClock() });
    assert.deepEqual(
      Array.from({ length: 5 }, () => limiter.when("a")),
      [5, 10, 20, 40, 80],
    );
  });
});
