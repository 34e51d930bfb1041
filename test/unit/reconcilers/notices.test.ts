import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Notices } from "../../../src/reconcilers/notices.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const MIN = 60_000;

describe("Notices", () => {
  it("reports a repeated problem at once, then once per backoff step", () => {
    const clock = new FakeClock();
    const n = new Notices(clock);
    const reported: number[] = [];
    for (let minute = 0; minute <= 40; minute++) {
      if (n.due("p")) reported.push(minute);
      clock.advance(MIN);
    }
    assert.deepEqual(reported, [0, 5, 15, 35]);
  });

  it("starts over after clear() or when the problem was not seen for a whole cap period", () => {
    const clock = new FakeClock();
    const n = new Notices(clock, { baseMs: MIN, maxMs: 10 * MIN });
    assert.equal(n.due("p"), true);
    assert.equal(n.due("p"), false);
    n.clear("p");
    assert.equal(n.due("p"), true);
    clock.advance(11 * MIN);
    assert.equal(n.due("p"), true, "not seen for longer than the cap: new");
    assert.equal(n.due("q"), true, "keys are independent");
  });
});
