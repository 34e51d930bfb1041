/**
 * The soak's report: each invariant with its counts, PASS or FAIL; for a failure the seed and the shortest
 * history excerpt that shows it (JSON lines, as in the history file, which the report names).
 */
import type { InvariantResult, Violation } from "./checker.ts";

export interface ReportInput {
  seed: string;
  command: string;
  historyFile: string;
  logsDir?: string;
  results: readonly InvariantResult[];
  faults?: Readonly<Record<string, number>>;
  ops?: Readonly<Record<string, { ok: number; skipped: number; failed: number }>>;
  wallMs?: number;
}

/** The violation with the shortest excerpt. */
export function shortest(violations: readonly Violation[]): Violation | undefined {
  return [...violations].sort((a, b) => a.excerpt.length - b.excerpt.length)[0];
}

export function formatReport(r: ReportInput): string {
  const lines: string[] = [];
  const failed = r.results.filter((x) => x.status !== "pass");
  lines.push(`soak report — seed ${r.seed}`);
  lines.push(`  replay: ${r.command}`);
  lines.push(`  history: ${r.historyFile}`);
  if (r.logsDir !== undefined) lines.push(`  replica logs: ${r.logsDir}`);
  if (r.wallMs !== undefined) lines.push(`  wall time: ${(r.wallMs / 1000).toFixed(0)} s`);
  if (r.faults !== undefined)
    lines.push(
      `  faults applied: ${Object.entries(r.faults)
        .map(([k, n]) => `${k} ${String(n)}`)
        .join(", ")}`,
    );
  if (r.ops !== undefined)
    lines.push(
      `  operations (ok/skipped/failed): ${Object.entries(r.ops)
        .map(([k, c]) => `${k} ${String(c.ok)}/${String(c.skipped)}/${String(c.failed)}`)
        .join(", ")}`,
    );
  lines.push("");
  for (const inv of r.results) {
    lines.push(`${inv.status.toUpperCase().padEnd(7)} ${inv.title}`);
    for (const [k, v] of Object.entries(inv.counts)) lines.push(`          ${k}: ${String(v)}`);
    if (inv.status === "fail") {
      lines.push(`          ${String(inv.violations.length)} violation(s); the first ones:`);
      for (const v of inv.violations.slice(0, 5)) lines.push(`          - ${v.message}`);
      const s = shortest(inv.violations);
      if (s !== undefined) {
        lines.push(`          shortest history excerpt (seed ${r.seed}):`);
        for (const e of s.excerpt) lines.push(`            ${JSON.stringify(e)}`);
      }
    }
  }
  lines.push("");
  lines.push(
    failed.length === 0
      ? "all six invariants hold"
      : `${String(failed.length)} invariant(s) not shown to hold: ${failed.map((x) => `${x.id} (${x.status})`).join(", ")}`,
  );
  return lines.join("\n");
}
