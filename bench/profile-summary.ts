/**
 * `node bench/profile-summary.ts FILE.cpuprofile [--top 25]`: self and total time per function and self
 * time per package/file from a V8 CPU profile (as written by `npm run bench -- --profile`).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "25" } },
});
const file = positionals[0];
if (file === undefined) {
  process.stderr.write("usage: node bench/profile-summary.ts FILE.cpuprofile [--top N]\n");
  process.exit(2);
}
const top = Number(values.top);
const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const totalUs = profile.endTime - profile.startTime;

function label(f: CallFrame): string {
  const url = f.url.replace(/^file:\/\//, "").replace(/^.*\/node_modules\//, "~/");
  return `${f.functionName || "(anonymous)"} ${url}:${f.lineNumber + 1}`;
}

function area(f: CallFrame): string {
  if (f.url === "") return f.functionName.startsWith("(") ? f.functionName : "(native)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (nm?.[1]) return nm[1];
  if (f.url.startsWith("node:")) return f.url;
  return f.url.replace(/^file:\/\//, "").replace(/^.*\/(dist|src)\//, "$1/");
}

const selfByFn = new Map<string, number>();
const totalByFn = new Map<string, number>();
const selfByArea = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id);
  if (!node) continue;
  const key = label(node.callFrame);
  selfByFn.set(key, (selfByFn.get(key) ?? 0) + us);
  const a = area(node.callFrame);
  selfByArea.set(a, (selfByArea.get(a) ?? 0) + us);
  // total: count this sample once for every distinct function on its stack
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur);
    if (!n) break;
    const k = label(n.callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    totalByFn.set(k, (totalByFn.get(k) ?? 0) + us);
  }
}

const ms = (us: number): string =>
  `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
const print = (title: string, m: Map<string, number>): void => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of [...m].sort(([, a], [, b]) => b - a).slice(0, top))
    process.stdout.write(`${ms(v)}  ${k}\n`);
};
process.stdout.write(`profile ${file}: ${(totalUs / 1e6).toFixed(2)} s wall\n`);
print("self time by package / file", selfByArea);
print("self time by function", selfByFn);
print("total (inclusive) time by function", totalByFn);
