/**
 * `node bench/heap-summary.ts FILE.heapsnapshot [--top 30]`: self size and count per constructor (or node
 * type) in a V8 heap snapshot (as written by `npm run bench -- --profile` at the end of cold).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  strings: string[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "30" } },
});
const file = positionals[0];
if (file === undefined) {
  process.stderr.write("usage: node bench/heap-summary.ts FILE.heapsnapshot [--top N]\n");
  process.exit(2);
}
const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const width = fields.length;
const iType = fields.indexOf("type");
const iName = fields.indexOf("name");
const iSize = fields.indexOf("self_size");
const groups = new Map<string, { size: number; count: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + iType] ?? 0] ?? "?";
  const name = snap.strings[snap.nodes[i + iName] ?? 0] ?? "?";
  const size = snap.nodes[i + iSize] ?? 0;
  total += size;
  const key = type === "object" || type === "closure" ? `${type} ${name}` : type;
  const g = groups.get(key) ?? { size: 0, count: 0 };
  g.size += size;
  g.count++;
  groups.set(key, g);
}
process.stdout.write(`${file}: ${(total / 2 ** 20).toFixed(1)} MiB in ${snap.snapshot.node_count} nodes\n`);
for (const [k, g] of [...groups].sort(([, a], [, b]) => b.size - a.size).slice(0, Number(values.top))) {
  process.stdout.write(
    `${(g.size / 2 ** 20).toFixed(2).padStart(8)} MiB ${String(g.count).padStart(9)}  ${k.slice(0, 100)}\n`,
  );
}
