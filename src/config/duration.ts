/**
 * Go-style durations ("20s", "6h", "1h30m", "1.5h", "300ms"), as accepted by the original eatr's flags
 * (Go's time.ParseDuration). Values are exchanged in milliseconds, possibly fractional below 1 ms.
 */

const NS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["µs", 1_000n], // U+00B5 micro sign
  ["μs", 1_000n], // U+03BC Greek small letter mu
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);

/** Largest magnitude Go's int64 nanosecond Duration can hold. */
const MAX_NS = (1n << 63n) - 1n;

/** One component of a duration: digits, an optional fraction, then a unit. */
const COMPONENT = /^(\d*)(?:\.(\d*))?([^\d.]*)/;

/**
 * Parses a duration with the grammar of Go's time.ParseDuration (`[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`,
 * or a bare "0") and returns milliseconds. Throws an Error whose message matches Go's
 * (`time: invalid duration "6 hours"`, `time: missing unit in duration "6"`, ...).
 */
export function parseDuration(text: string): number {
  const quoted = JSON.stringify(text);
  const invalid = (): Error => new Error(`time: invalid duration ${quoted}`);

  let rest = text;
  let negative = false;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    negative = rest.startsWith("-");
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw invalid();

  let totalNs = 0n;
  while (rest !== "") {
    const match = COMPONENT.exec(rest);
    const whole = match?.[1] ?? "";
    const fraction = match?.[2];
    const unit = match?.[3] ?? "";
    if (match === null || (whole === "" && (fraction ?? "") === "")) throw invalid();
    if (unit === "") throw new Error(`time: missing unit in duration ${quoted}`);
    const unitNs = NS_PER_UNIT.get(unit);
    if (unitNs === undefined) {
      throw new Error(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    }
    totalNs += BigInt(whole === "" ? "0" : whole) * unitNs;
    if (fraction !== undefined && fraction !== "") {
      totalNs += (BigInt(fraction) * unitNs) / 10n ** BigInt(fraction.length);
    }
    if (totalNs > MAX_NS + (negative ? 1n : 0n)) throw invalid();
    rest = rest.slice(match[0].length);
  }
  const ms = Number(totalNs) / 1e6;
  return negative ? -ms : ms;
}

const FORMAT_UNITS: readonly (readonly [string, bigint])[] = [
  ["h", 3_600_000_000_000n],
  ["m", 60_000_000_000n],
  ["s", 1_000_000_000n],
  ["ms", 1_000_000n],
  ["us", 1_000n],
  ["ns", 1n],
];

/**
 * Formats milliseconds as the shortest Go-style duration that parseDuration reads back to the same
 * value at nanosecond precision: 21600000 -> "6h", 5400000 -> "1h30m", 1500 -> "1s500ms", 0 -> "0s".
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`not a finite duration: ${ms}`);
  let ns = BigInt(Math.round(Math.abs(ms) * 1e6));
  if (ns === 0n) return "0s";
  let text = ms < 0 ? "-" : "";
  for (const [unit, size] of FORMAT_UNITS) {
    const count = ns / size;
    if (count > 0n) {
      text += `${count.toString()}${unit}`;
      ns -= count * size;
    }
  }
  return text;
}
