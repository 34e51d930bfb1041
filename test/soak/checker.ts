/**
 * The checker: reads a soak history (history.ts) and judges six invariants, each with counts. Pure: no
 * I/O, no clock. A history without the evidence an invariant needs (an excerpt) gives "no-data" for it;
 * the runner demands "pass" for all six. Invariants 2 and 5 live in convergence.ts and cost.ts.
 *
 * resourceVersions are etcd revisions (one etcd): they order secret writes against Lease updates exactly.
 */
import { checkConvergence } from "./convergence.ts";
import { checkCost } from "./cost.ts";
import type { Entry, LeaseEntry, MetaEntry, NamespaceEntry, SecretEntry } from "./history.ts";
import { byRv, metaOf, of, result, rv, withMeta, type InvariantResult, type Violation } from "./invariant.ts";

export { convergenceProblems, foreignUidsOf } from "./convergence.ts";
export { backoffSteps } from "./cost.ts";
export { INVARIANTS, type InvariantId, type InvariantResult, type Violation } from "./invariant.ts";

/** Judges every invariant. */
export function check(entries: readonly Entry[]): InvariantResult[] {
  const meta = metaOf(entries);
  return [
    checkWriters(entries, meta),
    checkConvergence(entries, meta),
    checkForeign(entries, meta),
    checkUid(entries, meta),
    checkCost(entries, meta),
    checkSecrets(entries, meta),
  ];
}

// ---- 1. writers ------------------------------------------------------------------------------------------

/** The field managers eatr writes with: eatr/<identity>. */
const eatrManagers = (w: SecretEntry): string[] => w.managers.filter((m) => m.startsWith("eatr/"));

function checkWriters(entries: readonly Entry[], meta: MetaEntry | undefined): InvariantResult {
  const leases = of(entries, "lease")
    .sort(byRv)
    .filter((l, i, all) => i === 0 || all[i - 1]?.rv !== l.rv);
  const writes = of(entries, "secret").filter((s) => s.type !== "DELETED" && eatrManagers(s).length > 0);
  if (leases.length === 0) return result("writers", "no-data", { writes: writes.length });
  // In a gap of the Lease watch (a relist after 410) versions may be missing. Between two known versions
  // with the same holder and leaseTransitions nobody else can have held it; between two that differ a
  // takeover is hidden somewhere, and the writes there cannot be judged. (The 250 ms poll keeps those
  // stretches short.)
  const gaps: { from: bigint; to: bigint }[] = [];
  for (const g of of(entries, "watch-gap")) {
    if (g.resource !== "leases") continue;
    const first = leases.filter((l) => rv(l) <= BigInt(g.fromRv)).at(-1);
    // The relist read the version current at toRv: after it the watch delivered every version again.
    const last = leases.filter((l) => rv(l) <= BigInt(g.toRv)).at(-1);
    const known = leases.filter(
      (l) => (first === undefined || rv(l) >= rv(first)) && (last === undefined || rv(l) <= rv(last)),
    );
    for (const [i, a] of known.entries()) {
      const b = known[i + 1];
      if (b !== undefined && (a.holder !== b.holder || a.transitions !== b.transitions))
        gaps.push({ from: rv(a), to: rv(b) });
    }
  }
  const inGap = (w: SecretEntry): boolean => gaps.some((g) => g.from < rv(w) && rv(w) < g.to);
  const terms = new Set<string>();
  for (const [i, l] of leases.entries()) if (i === 0 || leases[i - 1]?.holder !== l.holder) terms.add(l.rv);
  const violations: Violation[] = [];
  let ambiguous = 0;
  let unverifiable = 0;
  for (const w of writes) {
    let term: LeaseEntry | undefined;
    let current: LeaseEntry | undefined;
    for (const l of leases) {
      if (rv(l) >= rv(w)) break;
      current = l;
      if (terms.has(l.rv)) term = l;
    }
    if (inGap(w)) {
      unverifiable++;
      continue;
    }
    const expected = current === undefined || current.holder === "" ? undefined : `eatr/${current.holder}`;
    const managers = eatrManagers(w);
    if (expected !== undefined && managers.includes(expected)) {
      if (managers.length > 1) ambiguous++;
      continue;
    }
    const prev =
      term === undefined ? undefined : leases.filter((l) => rv(l) < rv(term) && terms.has(l.rv)).at(-1);
    violations.push({
      message:
        `${w.type} ${w.ns}/${w.name} rv ${w.rv} written by ${managers.join(" or ")} while ` +
        (expected === undefined
          ? current === undefined
            ? "no Lease existed"
            : `the Lease was released (rv ${current.rv})`
          : `the Lease term from rv ${term?.rv ?? "?"} belonged to ${expected}`),
      excerpt: withMeta(meta, [
        ...(prev === undefined ? [] : [prev]),
        ...(term === undefined ? [] : [term]),
        ...(current !== undefined && current !== term ? [current] : []),
        w,
      ]),
    });
  }
  return result(
    "writers",
    "pass",
    {
      "pull secret writes by eatr": writes.length,
      "Lease versions": leases.length,
      "Lease terms": terms.size,
      "secret watch relists (a version overwritten in such a gap is not seen)": of(
        entries,
        "watch-gap",
      ).filter((g) => g.resource === "secrets").length,
      "stretches of a Lease watch gap that may hide a takeover": gaps.length,
      "writes in such a gap (not verifiable)": unverifiable,
      "ambiguous managedFields (holder among them)": ambiguous,
      "writes outside the writer's term": violations.length,
    },
    violations,
  );
}

// ---- 3. foreign secrets ----------------------------------------------------------------------------------

function checkForeign(entries: readonly Entry[], meta: MetaEntry | undefined): InvariantResult {
  const created = of(entries, "op").filter(
    (o) =>
      o.action.kind === "foreign-create" && o.outcome === "ok" && o.uid !== undefined && o.rv !== undefined,
  );
  const state = of(entries, "state").at(-1);
  const violations: Violation[] = [];
  let checkedAtEnd = 0;
  for (const op of created) {
    const touched = of(entries, "secret").filter((s) => s.uid === op.uid && s.rv !== op.rv);
    const first = touched.find((s) => !s.relisted) ?? touched[0];
    if (first !== undefined) {
      violations.push({
        message: `foreign secret ${String(op.action.ns)}/${String(op.action.host)} (uid ${op.uid ?? ""}, rv ${op.rv ?? ""}) ${first.type === "DELETED" ? "deleted" : `rewritten (rv ${first.rv}) by ${first.managers.join(" or ") || "?"}`}`,
        excerpt: withMeta(meta, [op, first]),
      });
      continue;
    }
    const ns = state?.namespaces.find((n) => n.name === op.action.ns);
    if (state === undefined || ns === undefined || ns.phase !== "Active") continue;
    checkedAtEnd++;
    const s = ns.secrets.find((x) => x.uid === op.uid);
    if (s?.rv !== op.rv) {
      violations.push({
        message: `foreign secret ${String(op.action.ns)}/${String(op.action.host)} (uid ${op.uid ?? ""}) ${s === undefined ? "is gone" : `has rv ${s.rv}, not ${op.rv ?? ""}`} at the end`,
        excerpt: withMeta(meta, [op, { ...state, namespaces: [ns] }]),
      });
    }
  }
  return result(
    "foreign",
    "pass",
    {
      "foreign secrets created": created.length,
      "still in an Active namespace at the end, checked": checkedAtEnd,
      "touched by anyone": violations.length,
    },
    violations,
  );
}

// ---- 4. uid stability ------------------------------------------------------------------------------------

function wantsAt(
  nsHistory: readonly NamespaceEntry[],
  host: string,
  fromRv: bigint,
  toRv: bigint,
): { always: boolean; known: boolean } {
  // The version current at fromRv, and every version up to toRv.
  let current: NamespaceEntry | undefined;
  const during: NamespaceEntry[] = [];
  for (const n of nsHistory) {
    if (rv(n) <= fromRv) current = n;
    else if (rv(n) <= toRv) during.push(n);
  }
  const versions = [...(current === undefined ? [] : [current]), ...during];
  const wants = (n: NamespaceEntry): boolean =>
    n.type !== "DELETED" && n.phase === "Active" && n.labels[host] === "true";
  return { always: versions.length > 0 && versions.every(wants), known: versions.length > 0 };
}

function checkUid(entries: readonly Entry[], meta: MetaEntry | undefined): InvariantResult {
  const secrets = of(entries, "secret");
  const namespaces = of(entries, "namespace").sort(byRv);
  const handDeleted = new Set(
    of(entries, "op").flatMap((o) =>
      o.action.kind === "pull-delete" && o.outcome === "ok" && o.uid !== undefined ? [o.uid] : [],
    ),
  );
  const firstSeen = new Map<string, SecretEntry>();
  for (const s of secrets) if (s.managed && !firstSeen.has(s.uid)) firstSeen.set(s.uid, s);
  const violations: Violation[] = [];
  let byHand = 0;
  let byLabel = 0;
  let unknown = 0;
  let deletions = 0;
  for (const d of secrets) {
    if (d.type !== "DELETED" || !d.managed) continue;
    deletions++;
    if (handDeleted.has(d.uid)) {
      byHand++;
      continue;
    }
    const born = firstSeen.get(d.uid) ?? d;
    const nsHistory = namespaces.filter((n) => n.name === d.ns);
    const w = wantsAt(nsHistory, d.name, rv(born), rv(d));
    if (!w.known) {
      unknown++;
      continue;
    }
    if (!w.always) {
      byLabel++;
      continue;
    }
    const next = secrets.find(
      (s) => s.ns === d.ns && s.name === d.name && s.type === "ADDED" && rv(s) > rv(d),
    );
    const relevant = nsHistory.filter((n) => rv(n) <= rv(d));
    violations.push({
      message:
        `${d.ns}/${d.name}: managed secret uid ${d.uid} deleted at rv ${d.rv} while the namespace kept the label` +
        (next === undefined ? "" : `; re-created as uid ${next.uid} at rv ${next.rv}`),
      excerpt: withMeta(meta, [
        ...relevant.slice(-3),
        born,
        ...(born === d ? [] : [d]),
        ...(next ? [next] : []),
      ]),
    });
  }
  return result(
    "uid",
    "pass",
    {
      "managed secrets (uids)": firstSeen.size,
      "deletions seen": deletions,
      "by hand (generator, excluded)": byHand,
      "after the label went (or the namespace)": byLabel,
      "namespace history unknown": unknown,
      "uid changed while labelled": violations.length,
    },
    violations,
  );
}

// ---- 6. secret material ----------------------------------------------------------------------------------

function checkSecrets(entries: readonly Entry[], meta: MetaEntry | undefined): InvariantResult {
  const scan = of(entries, "leak-scan").at(-1);
  if (scan === undefined) return result("secrets", "no-data", {});
  const violations = scan.hits.map((h) => ({
    message: `${h.what} in ${h.where}: ${h.excerpt}`,
    excerpt: withMeta(meta, [{ ...scan, hits: [h] }]),
  }));
  return result(
    "secrets",
    "pass",
    {
      "secret values looked for": scan.secretsKnown,
      "log lines scanned": scan.logLines,
      "Events scanned": scan.events,
      "/metrics scrapes scanned": scan.metricsScrapes,
      hits: scan.hits.length,
    },
    violations,
  );
}

/** The state of every namespace, as the runner snapshots it (re-exported for the runner's types). */
