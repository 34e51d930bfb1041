/**
 * Invariant 5, bounded cost: ECR and STS calls per registry within a formula of Lease terms, credential
 * changes, renewals and failure backoff steps, none of which grows with the namespaces.
 */
import type { ConvergenceEntry, Entry, MetaEntry, OpEntry } from "./history.ts";
import { byRv, of, result, withMeta, type InvariantResult, type Violation } from "./invariant.ts";

/** Calls one fault window of `ms` can cost a registry: backoff 1 s doubling to 5 min, plus the recovery. */
export function backoffSteps(ms: number): number {
  let steps = 0;
  let waited = 0;
  for (let delay = 1_000; waited <= ms; delay = Math.min(delay * 2, 300_000)) {
    steps++;
    waited += delay;
  }
  return steps + 1;
}

interface FaultWindow {
  kind: string;
  from: number;
  to: number;
  registry?: number;
}

const ENDS: Readonly<Record<string, string>> = {
  "ecr-fail": "ecr-ok",
  "ecr-slow": "ecr-fast",
  "ecr-short-tokens": "ecr-normal-tokens",
  "sts-fail": "sts-ok",
  "wrong-key": "right-key",
};

function faultWindows(ops: readonly OpEntry[], endT: number): FaultWindow[] {
  const windows: FaultWindow[] = [];
  const open = new Map<string, FaultWindow>();
  for (const o of ops) {
    if (o.outcome !== "ok") continue;
    const kind = o.action.kind;
    const registry = typeof o.action.registry === "number" ? o.action.registry : undefined;
    if (kind in ENDS) {
      const w: FaultWindow = { kind, from: o.t, to: endT, ...(registry === undefined ? {} : { registry }) };
      open.set(`${kind}/${String(registry)}`, w);
      windows.push(w);
    }
    for (const [start, end] of Object.entries(ENDS)) {
      if (end !== kind) continue;
      const key = `${start}/${String(registry)}`;
      const w = open.get(key);
      if (w !== undefined) {
        w.to = o.t;
        open.delete(key);
      }
    }
  }
  return windows;
}

export function checkCost(entries: readonly Entry[], meta: MetaEntry | undefined): InvariantResult {
  const calls = of(entries, "aws-call");
  if (meta === undefined || calls.length === 0 || !entries.some((e) => e.kind === "convergence"))
    return result("cost", "no-data", { calls: calls.length });
  const conv = of(entries, "convergence").at(-1) as ConvergenceEntry;
  const endT = Math.max(...entries.map((e) => e.t));
  const ops = of(entries, "op");
  const leases = of(entries, "lease").sort(byRv);
  const termStarts = leases.filter(
    (l, i) => l.holder !== "" && (i === 0 || leases[i - 1]?.holder !== l.holder),
  );
  const windows = faultWindows(ops, conv.settledAt);
  const t = meta.timings;
  const renewals = Math.ceil(endT / t.renewalIntervalMs) + 1;
  const namespaces = new Set(of(entries, "namespace").map((n) => n.name)).size;
  const violations: Violation[] = [];
  const counts: Record<string, number | string> = {
    "leader terms": termStarts.length,
    "renewals (run / renewal interval + 1)": renewals,
    "namespaces seen": namespaces,
  };
  for (const r of meta.registries) {
    const mine = calls.filter((c) => c.registry === r.index);
    const ecr = mine.filter((c) => c.service === "ecr").length;
    const sts = mine.filter((c) => c.service === "sts").length;
    const rotations = ops.filter(
      (o) =>
        o.outcome === "ok" &&
        o.action.registry === r.index &&
        ["cred-rotate", "cred-recreate", "wrong-key", "right-key"].includes(o.action.kind),
    ).length;
    const relevant = windows.filter((w) =>
      w.registry === undefined ? w.kind !== "sts-fail" || r.role : w.registry === r.index,
    );
    let backoff = 0;
    let shortTokens = 0;
    for (const w of relevant) {
      const terms = 1 + termStarts.filter((l) => l.t >= w.from && l.t <= w.to + 10_000).length;
      if (w.kind === "ecr-short-tokens") shortTokens += terms * (Math.ceil((w.to - w.from) / 20_000) + 1);
      else backoff += terms * backoffSteps(w.to - w.from + 10_000);
    }
    // A role registry's fetch is an STS call then an ECR call. Successful calls are what a per-namespace
    // call pattern would multiply: they get the tight bound (one per term, rotation, renewal, short-token
    // refresh and fault recovery); failed calls get the backoff steps.
    const perFetch = r.role ? 2 : 1;
    const ok = mine.filter((c) => c.outcome === "ok").length;
    const okAllowed = perFetch * (termStarts.length + rotations + renewals + shortTokens + relevant.length);
    const allowed = okAllowed + perFetch * backoff;
    const okFormula =
      `${String(perFetch)} × (terms ${String(termStarts.length)} + rotations ${String(rotations)} + renewals ${String(renewals)}` +
      ` + short-token refreshes ${String(shortTokens)} + fault recoveries ${String(relevant.length)}) = ${String(okAllowed)}`;
    const formula = `${String(okAllowed)} + ${String(perFetch)} × backoff steps ${String(backoff)} = ${String(allowed)}`;
    counts[`registry ${String(r.index)} successful calls`] = `${String(ok)} ≤ ${okFormula}`;
    counts[`registry ${String(r.index)} all calls (ECR + STS)`] =
      `${String(ecr)} + ${String(sts)} = ${String(ecr + sts)} ≤ ${formula}`;
    if (ok > okAllowed || ecr + sts > allowed) {
      violations.push({
        message: `registry ${String(r.index)} (${r.host}): ${String(ok)} successful calls (≤ ${okFormula}), ${String(ecr + sts)} in all (≤ ${formula})`,
        excerpt: withMeta(meta, [conv, ...mine.slice(-20)]),
      });
    }
  }
  return result("cost", "pass", counts, violations);
}
