import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDuration, parseDuration } from "../../../src/config/duration.ts";

void describe("parseDuration", () => {
  const valid: [string, number][] = [
    ["0", 0],
    ["+0", 0],
    ["-0", 0],
    ["0s", 0],
    ["20s", 20_000],
    ["6h", 21_600_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["300ms", 300],
    ["500ms", 500],
    ["3s", 3000],
    ["5m", 300_000],
    [".5s", 500],
    ["1.s", 1000],
    ["1h2m3s4ms", 3_723_004],
    ["1m1m", 120_000],
    ["1500us", 1.5],
    ["1500µs", 1.5],
    ["1500μs", 1.5],
    ["1ns", 0.000001],
    ["-1s", -1000],
    ["+2m", 120_000],
    ["2562047h", 2562047 * 3_600_000],
  ];
  for (const [text, ms] of valid) {
    void it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  const invalid: [string, string][] = [
    ["", 'time: invalid duration ""'],
    ["6", 'time: missing unit in duration "6"'],
    ["6 hours", 'time: unknown unit " hours" in duration "6 hours"'],
    ["1d", 'time: unknown unit "d" in duration "1d"'],
    ["1H", 'time: unknown unit "H" in duration "1H"'],
    ["1h 30m", 'time: unknown unit "h " in duration "1h 30m"'],
    ["h", 'time: invalid duration "h"'],
    [".", 'time: invalid duration "."'],
    ["-", 'time: invalid duration "-"'],
    ["--1s", 'time: invalid duration "--1s"'],
    [" 1s", 'time: invalid duration " 1s"'],
    ["1s ", 'time: unknown unit "s " in duration "1s "'],
    ["1.5", 'time: missing unit in duration "1.5"'],
    ["3000000h", 'time: invalid duration "3000000h"'],
  ];
  for (const [text, message] of invalid) {
    void it(`rejects ${JSON.stringify(text)} as Go does`, () => {
      assert.throws(() => parseDuration(text), { message });
    });
  }
});

void describe("formatDuration", () => {
  const table: [number, string][] = [
    [0, "0s"],
    [21_600_000, "6h"],
    [5_400_000, "1h30m"],
    [300_000, "5m"],
    [3000, "3s"],
    [300, "300ms"],
    [1500, "1s500ms"],
    [1.5, "1ms500us"],
    [0.000001, "1ns"],
    [-1000, "-1s"],
    [2 ** 31 - 1, "596h31m23s647ms"],
  ];
  for (const [ms, text] of table) {
    void it(`writes ${ms} ms as ${text}, which reads back to the same value`, () => {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text), ms);
    });
  }

  void it("rejects a non-finite number", () => {
    assert.throws(() => formatDuration(Number.POSITIVE_INFINITY), RangeError);
    assert.throws(() => formatDuration(Number.NaN), RangeError);
  });
});
