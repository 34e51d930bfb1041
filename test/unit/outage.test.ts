import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Outage } from "../../src/outage.ts";
import { FakeClock } from "../support/fake-clock.ts";

describe("Outage", () => {
  it("reports the first failure, then reminders at doubling intervals up to the cap", () => {
    const clock = new FakeClock();
    const outage = new Outage<string>(clock, { firstRepeatMs: 10, maxRepeatMs: 40 });
    const reports: string[] = [];
    // A failure every millisecond for 200 ms.
    for (let t = 0; t <= 200; t++) {
      const report = outage.fail(`e${t}`);
      if (report !== undefined) reports.push(`${t} ${report}`);
      clock.advance(1);
    }
    assert.deepEqual(reports, [
      "0 started",
      "10 continuing",
      "30 continuing",
      "70 continuing",
      "110 continuing",
      "150 continuing",
      "190 continuing",
    ]);
    assert.equal(outage.failures, 201);
    assert.equal(outage.lastError, "e200");
  });

  it("knows since when it fails, and a success ends it once", () => {
    const clock = new FakeClock();
    const outage = new Outage(clock);
    assert.equal(outage.recover(), undefined, "nothing to end");
    assert.equal(outage.active, false);
    const since = clock.now();
    outage.fail(new Error("refused"));
    clock.advance(45_000);
    outage.fail(new Error("refused"));
    assert.equal(outage.active, true);
    assert.equal(outage.sinceMs, since);
    assert.equal(outage.downForMs, 45_000);
    clock.advance(5_000);
    assert.deepEqual(outage.recover(), { sinceMs: since, downForMs: 50_000, failures: 2 });
    assert.equal(outage.recover(), undefined);
    assert.equal(outage.active, false);
    assert.equal(outage.sinceMs, undefined);
    assert.equal(outage.lastError, undefined);
    assert.equal(outage.fail(new Error("again")), "started", "a new outage starts its own schedule");
  });

  it("refuses a schedule that cannot work", () => {
    assert.throws(() => new Outage(new FakeClock(), { firstRepeatMs: 0, maxRepeatMs: 10 }), RangeError);
    assert.throws(() => new Outage(new FakeClock(), { firstRepeatMs: 20, maxRepeatMs: 10 }), RangeError);
  });
});
