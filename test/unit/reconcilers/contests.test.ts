import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Contests } from "../../../src/reconcilers/contests.ts";
import { FakeClock } from "../../support/fake-clock.ts";

describe("Contests", () => {
  it("takes over at once, then leaves a secret alone longer each time the other installation undoes it", () => {
    const clock = new FakeClock();
    const c = new Contests({ clock });
    assert.deepEqual(c.check("ns/s"), { waitMs: 0, rounds: 0 }, "the first time: a takeover");
    c.wrote("ns/s", true);
    clock.advance(2_000);
    assert.deepEqual(c.check("ns/s"), { waitMs: 30_000, rounds: 1 });
    clock.advance(10_000);
    assert.deepEqual(c.check("ns/s"), { waitMs: 20_000, rounds: 1 }, "the same round, less to wait");
    clock.advance(20_000);
    assert.deepEqual(c.check("ns/s"), { waitMs: 0, rounds: 1 }, "the round is over: write");
    c.wrote("ns/s", true);
    clock.advance(1_000);
    assert.deepEqual(c.check("ns/s"), { waitMs: 60_000, rounds: 2 });
  });

  it("caps the wait at an hour", () => {
    const clock = new FakeClock();
    const c = new Contests({ clock });
    let last = 0;
    for (let i = 0; i < 12; i++) {
      c.wrote("k", true);
      clock.advance(1_000);
      last = c.check("k").waitMs;
      clock.advance(last);
      assert.equal(c.check("k").waitMs, 0);
    }
    assert.equal(last, 60 * 60_000);
  });

  it("forgets a fight once its write stood for a whole window, or was not contested", () => {
    const clock = new FakeClock();
    const c = new Contests({ clock, windowMs: 60_000 });
    c.wrote("k", true);
    clock.advance(61_000);
    assert.deepEqual(c.check("k"), { waitMs: 0, rounds: 0 }, "a later takeover, not a fight");
    c.wrote("k", false);
    assert.deepEqual(c.check("k"), { waitMs: 0, rounds: 0 });
  });
});
