/**
 * `npm run soak -- [options]`: the chaos soak (see docs/reliability.md).
 *
 *   npm run soak -- --seed 7 --duration 10m [--replicas 3] [--namespaces 20] [--registries 3]
 *   npm run soak -- --profile short                 # the CI profile: fixed seed, about 2 minutes
 *   npm run soak -- --broken keeps-writing          # a deliberately broken build; must be caught
 *   npm run soak -- --check <history.jsonl>         # judge a recorded history (or excerpt) again
 *   npm run soak -- --seed 7 --print-schedule       # the schedule the seed gives, without running it
 *
 * Exit code 0 when all six invariants hold (with --broken: when the expected invariant failed), 1
 * otherwise, 2 on bad usage.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDuration } from "../../src/config/duration.ts";
import { installCleanupHandlers } from "../env/processes.ts";
import { BROKEN, buildBroken } from "./broken.ts";
import { check, INVARIANTS, type InvariantId, type InvariantResult } from "./checker.ts";
import { readHistory, type Entry } from "./history.ts";
import { formatReport, shortest } from "./report.ts";
import { describeStep, makeSchedule, type Profile } from "./schedule.ts";
import { runSoak } from "./soak.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const SHORT_PROFILE: Profile = {
  seed: "short-93",
  durationMs: 110_000,
  namespaces: 6,
  registries: 2,
  replicas: 3,
};

const USAGE = `usage: npm run soak -- [--seed S] [--duration 10m] [--replicas 3] [--namespaces N] [--registries R]
                        [--profile short|long] [--out DIR] [--main-js PATH]
                        [--broken ${Object.keys(BROKEN).join("|")} [--save-fixture]]
                        [--check HISTORY.jsonl] [--print-schedule]`;

interface Args {
  profile: Profile;
  outDir: string | undefined;
  mainJs: string;
  broken: string | undefined;
  saveFixture: boolean;
  checkFile: string | undefined;
  printSchedule: boolean;
  explicit: Set<string>;
}

function usage(message: string): never {
  process.stderr.write(`soak: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (!a.startsWith("--")) usage(`unexpected argument ${JSON.stringify(a)}`);
    const [key, inline] = a.slice(2).split("=", 2) as [string, string | undefined];
    if (["save-fixture", "print-schedule", "help"].includes(key)) {
      flags.add(key);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) usage(`--${key} needs a value`);
    values.set(key, value);
  }
  if (flags.has("help")) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const known = [
    "seed",
    "duration",
    "replicas",
    "namespaces",
    "registries",
    "profile",
    "out",
    "main-js",
    "broken",
    "check",
  ];
  for (const k of values.keys()) if (!known.includes(k)) usage(`unknown option --${k}`);
  const profileName = values.get("profile") ?? (values.has("broken") ? "short" : "long");
  if (profileName !== "short" && profileName !== "long")
    usage(`--profile is short or long, not ${profileName}`);
  const base: Profile =
    profileName === "short"
      ? SHORT_PROFILE
      : {
          seed: String(Math.floor(Math.random() * 1e6)),
          durationMs: 600_000,
          namespaces: 20,
          registries: 3,
          replicas: 3,
        };
  const int = (k: string, lo: number, hi: number, dflt: number): number => {
    const v = values.get(k);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi)
      usage(`--${k} is an integer from ${String(lo)} to ${String(hi)}, not ${v}`);
    return n;
  };
  let durationMs = base.durationMs;
  const d = values.get("duration");
  if (d !== undefined) {
    try {
      durationMs = parseDuration(d);
    } catch (err) {
      usage(`--duration: ${err instanceof Error ? err.message : String(err)} (e.g. 10m, 90s)`);
    }
    if (durationMs < 30_000) usage("--duration is at least 30s");
  }
  const broken = values.get("broken");
  if (broken !== undefined && !(broken in BROKEN))
    usage(`--broken is one of ${Object.keys(BROKEN).join(", ")}`);
  return {
    profile: {
      seed: values.get("seed") ?? base.seed,
      durationMs,
      namespaces: int("namespaces", 1, 500, base.namespaces),
      registries: int("registries", 1, 8, base.registries),
      replicas: int("replicas", 1, 5, base.replicas),
    },
    outDir: values.get("out"),
    mainJs: values.get("main-js") ?? process.env.EATR_TEST_MAIN_JS ?? join(ROOT, "dist", "main.js"),
    broken,
    saveFixture: flags.has("save-fixture"),
    checkFile: values.get("check"),
    printSchedule: flags.has("print-schedule"),
    explicit: new Set(values.keys()),
  };
}

function commandOf(a: Args): string {
  const p = a.profile;
  return (
    `npm run soak -- --seed ${p.seed} --duration ${String(p.durationMs / 1000)}s --replicas ${String(p.replicas)} ` +
    `--namespaces ${String(p.namespaces)} --registries ${String(p.registries)}` +
    (a.broken === undefined ? "" : ` --broken ${a.broken}`)
  );
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Did a broken build get caught by its invariant? */
function caught(results: readonly InvariantResult[], expected: InvariantId): boolean {
  return results.find((r) => r.id === expected)?.status === "fail";
}

/** The fixture saved for a broken build: the shortest excerpt showing its invariant's violation. */
function fixtureOf(results: readonly InvariantResult[], expected: InvariantId): Entry[] | undefined {
  const v = shortest(results.find((r) => r.id === expected)?.violations ?? []);
  return v === undefined ? undefined : [...v.excerpt];
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  if (a.checkFile !== undefined) {
    const entries = readHistory(a.checkFile);
    const meta = entries.find((e) => e.kind === "meta");
    const results = check(entries);
    process.stdout.write(
      `${formatReport({ seed: meta?.seed ?? "?", command: `npm run soak -- --check ${a.checkFile}`, historyFile: a.checkFile, results })}\n`,
    );
    return results.every((r) => r.status === "pass") ? 0 : 1;
  }
  if (a.printSchedule) {
    const s = makeSchedule(a.profile);
    process.stdout.write(`seed ${a.profile.seed}: ${String(s.steps.length)} steps\n`);
    for (const st of s.steps) process.stdout.write(`${describeStep(st)}\n`);
    return 0;
  }
  installCleanupHandlers({ fatal: true });
  let mainJs = a.mainJs;
  let brokenDir: string | undefined;
  if (a.broken !== undefined) {
    mainJs = buildBroken(a.broken, log);
    brokenDir = dirname(dirname(mainJs));
  }
  const outDir =
    a.outDir ??
    join(
      tmpdir(),
      `eatr-soak-${a.profile.seed}-${new Date().toISOString().replace(/[:.]/g, "").slice(0, 15)}`,
    );
  mkdirSync(outDir, { recursive: true });
  log(`soak: ${commandOf(a)} → ${outDir}`);
  try {
    const r = await runSoak({ profile: a.profile, mainJs, outDir, log });
    const report = formatReport({
      seed: a.profile.seed,
      command: commandOf(a),
      historyFile: r.historyFile,
      logsDir: r.logsDir,
      results: r.results,
      faults: r.faults,
      ops: r.ops,
      wallMs: r.wallMs,
    });
    writeFileSync(join(outDir, "report.txt"), `${report}\n`);
    writeFileSync(
      join(outDir, "summary.json"),
      `${JSON.stringify(
        {
          command: commandOf(a),
          profile: a.profile,
          mainJs,
          broken: a.broken,
          faults: r.faults,
          ops: r.ops,
          convergedAfterMs: r.convergedAfterMs,
          boundMs: r.boundMs,
          boundFormula: r.boundFormula,
          wallMs: r.wallMs,
          invariants: r.results.map((x) => ({
            id: x.id,
            status: x.status,
            counts: x.counts,
            violations: x.violations.length,
          })),
        },
        null,
        2,
      )}\n`,
    );
    process.stdout.write(`${report}\n  report: ${join(outDir, "report.txt")}\n`);
    if (a.broken === undefined) return r.results.every((x) => x.status === "pass") ? 0 : 1;
    const expected = BROKEN[a.broken]?.invariant ?? "writers";
    const title = INVARIANTS.find((i) => i.id === expected)?.title ?? expected;
    if (!caught(r.results, expected)) {
      process.stdout.write(`broken build ${a.broken} NOT caught by invariant ${title}\n`);
      return 1;
    }
    process.stdout.write(`broken build ${a.broken} caught by invariant ${title}\n`);
    if (a.saveFixture) {
      const excerpt = fixtureOf(r.results, expected) ?? [];
      const file = join(ROOT, "test", "soak", "fixtures", `${a.broken}.jsonl`);
      writeFileSync(file, excerpt.map((e) => `${JSON.stringify(e)}\n`).join(""));
      process.stdout.write(`fixture: ${file} (${String(excerpt.length)} lines)\n`);
    }
    return 0;
  } finally {
    if (brokenDir !== undefined) rmSync(brokenDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    // Everything is stopped; do not wait on a stray keep-alive socket.
    setTimeout(() => process.exit(code), 500);
  },
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
