/**
 * Whether this Node.js can run eatr: a check of `process.versions.node` against package.json's
 * `engines.node`, made by the entry file (src/bin.ts) before the bundle loads. Pure functions, no imports:
 * the entry is compiled for old Node versions so that it can say what it needs instead of crashing.
 *
 * The ranges understood are npm's comparator sets: `>=24.21.0 <25`, `^24.21.0`, `~24.21`, `24.x`, `24`,
 * joined by `||`. Pre-release tags of the running version are ignored (v25.0.0-pre counts as 25.0.0).
 */

type Version = readonly [number, number, number];

interface Comparator {
  readonly op: ">=" | "<";
  readonly version: Version;
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

function holds(c: Comparator, v: Version): boolean {
  const d = compare(v, c.version);
  return c.op === ">=" ? d >= 0 : d < 0;
}

/** One comparator of a range (`>=24.21.0`, `<25`, `^24`, `24.x`) as comparators on full versions. */
function expand(token: string): Comparator[] {
  const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$/.exec(token);
  if (!m) throw new Error(`cannot read "${token}"`);
  const op = m[1] ?? "=";
  // The numbers given before the first wildcard or missing part: "24.x" and "24" give [24].
  const raw = [m[2], m[3], m[4]];
  const firstOpen = raw.findIndex((p) => p === undefined || !/^\d+$/.test(p));
  const parts = raw.slice(0, firstOpen === -1 ? 3 : firstOpen).map(Number);
  if (raw.slice(parts.length).some((p) => p !== undefined && /^\d+$/.test(p))) {
    throw new Error(`cannot read "${token}": a number after a wildcard`);
  }
  if (parts.length === 0) return op === "<" || op === ">" ? [{ op: "<", version: [0, 0, 0] }] : [];
  const at = (i: number): number => parts[i] ?? 0;
  const lower: Version = [at(0), at(1), at(2)];
  // The first version above everything the first n parts name: 24 -> 25.0.0, 24.21 -> 24.22.0.
  const above = (n: number): Version =>
    n === 1 ? [at(0) + 1, 0, 0] : n === 2 ? [at(0), at(1) + 1, 0] : [at(0), at(1), at(2) + 1];
  switch (op) {
    case "^": {
      // Up to the next change of the first non-zero part: ^24.21.0 -> <25.0.0, ^0.3.1 -> <0.4.0.
      const significant = parts.findIndex((p) => p !== 0);
      const n = significant === -1 ? parts.length : Math.min(significant + 1, parts.length);
      return [
        { op: ">=", version: lower },
        { op: "<", version: above(n) },
      ];
    }
    case "~":
      return [
        { op: ">=", version: lower },
        { op: "<", version: above(Math.min(parts.length, 2)) },
      ];
    case ">=":
      return [{ op: ">=", version: lower }];
    case ">":
      return [{ op: ">=", version: above(parts.length) }];
    case "<":
      return [{ op: "<", version: lower }];
    case "<=":
      return [{ op: "<", version: above(parts.length) }];
    default:
      return [
        { op: ">=", version: lower },
        { op: "<", version: above(parts.length) },
      ];
  }
}

/** Parses an `engines.node` range; throws naming the part it cannot read. */
export function parseNodeRange(range: string): Comparator[][] {
  const sets = range.split("||").map((set) =>
    set
      .trim()
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, "$1")
      .split(/\s+/)
      .filter((t) => t !== ""),
  );
  if (sets.some((set) => set.length === 0) && sets.length > 1) {
    throw new Error(`engines.node "${range}": empty alternative`);
  }
  return sets.map((set) =>
    set.flatMap((token) => {
      try {
        return expand(token);
      } catch (err) {
        throw new Error(`engines.node "${range}": ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
}

/** Whether Node.js `version` (e.g. "20.20.2" or "v24.21.0") is in `range` (package.json engines.node). */
export function satisfiesNodeRange(version: string, range: string): boolean {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const v: Version = [Number(m[1]), Number(m[2]), Number(m[3])];
  return parseNodeRange(range).some((set) => set.every((c) => holds(c, v)));
}

export interface NodeVersionCheck {
  /** package.json engines.node, e.g. ">=24.21.0 <25". */
  readonly required: string;
  /** The running version (process.versions.node). */
  readonly found: string;
  /** The running node binary (process.execPath), named in the message. */
  readonly execPath: string;
  /** The entry file as run (process.argv[1]), for the `npx node@…` hint. */
  readonly script: string | undefined;
}

/** The major version to install: the newest alternative's lower bound, e.g. 24 for ">=24.21.0 <25". */
function wantedMajor(range: string): number | undefined {
  const lowers = parseNodeRange(range).map((set) =>
    set.filter((c) => c.op === ">=").reduce((max, c) => Math.max(max, c.version[0]), 0),
  );
  const major = Math.max(...lowers);
  return major > 0 ? major : undefined;
}

/**
 * undefined when the running Node.js satisfies the range; otherwise the one line to print (what is
 * needed, what was found, how to get the right one) before exiting with code 2.
 */
export function nodeVersionProblem(check: NodeVersionCheck): string | undefined {
  if (satisfiesNodeRange(check.found, check.required)) return undefined;
  const major = wantedMajor(check.required);
  const tag = major === undefined ? "" : `@${String(major)}`;
  const script = check.script ?? "dist/main.js";
  return (
    `eatr: needs Node.js ${check.required} (package.json "engines"), but this is Node.js v${check.found.replace(/^v/, "")} ` +
    `(${check.execPath}). Run eatr's container image, or use a matching Node.js: ` +
    `\`nvm install ${major === undefined ? "node" : String(major)}\`, or \`npx -y node${tag} ${script}\`.`
  );
}
