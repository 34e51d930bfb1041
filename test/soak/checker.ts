/**
 * The checker: reads a soak history (history.ts) and judges six invariants, each with counts. Pure: no
 * I/O, no clock. A history without the evidence an invariant needs (an excerpt) gives "no-data" for it;
 * the runner demands "pass" for all six.
 *
 * resourceVersions are etcd revisions (one etcd): they order secret writes against Lease updates exactly.
 */
import type {
  AwsCallEntry,
  ConvergenceEntry,
  Entry,
  FinalNamespace,
  LeaseEntry,
  MetaEntry,
  NamespaceEntry,
  OpEntry,
  SecretEntry,
  StateEntry,
} from "./history.ts";

export type InvariantId = "writers" | "convergence" | "foreign" | "uid" | "cost" | "secrets";

export const INVARIANTS: readonly { id: InvariantId; title: string }[] = [
  { id: "writers", title: "1. never two writers in one Lease term (every write by the Lease holder)" },
  { id: "convergence", title: "2. convergence after the nemesis stops, within the bound" },
  { id: "foreign", title: "3. foreign secrets untouched (resourceVersion unchanged)" },
  { id: "uid", title: "4. a managed secret keeps its uid while its namespace keeps the label" },
  { id: "cost", title: "5. bounded cost: ECR + STS calls within the formula, none per namespace" },
  { id: "secrets", title: "6. no secret material in logs, Events or /metrics" },
];

export interface Violation {
  readonly message: string;
  /** The shortest part of the history that shows it (self-contained: the checker reports it again). */
  readonly excerpt: readonly Entry[];
}

export interface InvariantResult {
  readonly id: InvariantId;
  readonly title: string;
  readonly status: "pass" | "fail" | "no-data";
  readonly counts: Readonly<Record<string, number | string>>;
  readonly violations: readonly Violation[];
}

const rv = (e: { rv: string }): bigint => BigInt(e.rv);
const byRv = <T extends { rv: string }>(a: T, b: T): number => (rv(a) < rv(b) ? -1 : rv(a) > rv(b) ? 1 : 0);

function metaOf(entries: readonly Entry[]): MetaEntry | undefined {
  return entries.find((e): e is MetaEntry => e.kind === "meta");
}

function of<K extends Entry["kind"]>(entries: readonly Entry[], kind: K): Extract<Entry, { kind: K }>[] {
  return entries.filter((e): e is Extract<Entry, { kind: K }> => e.kind === kind);
}

function result(
  id: InvariantId,
  status: InvariantResult["status"],
  counts: Record<string, number | string>,
  violations: Violation[] = [],
): InvariantResult {
  const title = INVARIANTS.find((i) => i.id === id)?.title ?? id;
  return { id, title, status: violations.length > 0 ? "fail" : status, counts, violations };
}

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

const withMeta = (meta: MetaEntry | undefined, rest: Entry[]): Entry[] =>
  meta === undefined ? rest : [meta, ...rest];

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

// ---- 2. convergence --------------------------------------------------------------------------------------

/** What is wrong with one final state: empty when every namespace is as it should be. */
export function convergenceProblems(
  state: Pick<StateEntry, "at" | "namespaces">,
  meta: Pick<MetaEntry, "registries" | "timings">,
  foreignUids: ReadonlySet<string>,
): { ns: string; problem: string }[] {
  const problems: { ns: string; problem: string }[] = [];
  for (const ns of state.namespaces) {
    if (ns.phase !== "Active") continue;
    for (const r of meta.registries) {
      const wants = ns.labels[r.host] === "true";
      const s = ns.secrets.find((x) => x.name === r.host);
      const say = (problem: string): void => {
        problems.push({ ns: ns.name, problem: `${r.host}: ${problem}` });
      };
      if (s !== undefined && !s.managed) {
        if (!foreignUids.has(s.uid)) say(`a secret without eatr's label that the generator did not create`);
        continue; // a foreign secret: eatr must leave it alone, whether the namespace asks or not
      }
      if (!wants) {
        if (s !== undefined)
          say("eatr's secret is still there, but the namespace does not ask for the registry");
        continue;
      }
      if (s === undefined) {
        say("the namespace asks for the registry but has no pull secret");
        continue;
      }
      if (!s.owned) say("the pull secret is not exactly eatr's (annotation or data differ)");
      else if (!s.tokenIssued) say("the pull secret's token was not minted by ECR for this registry");
      else if ((s.tokenExpiresAtMs ?? 0) - state.at < meta.timings.safetyMarginMs)
        say(
          `the token expires in ${String(Math.round(((s.tokenExpiresAtMs ?? 0) - state.at) / 1000))} s, less than the safety margin`,
        );
    }
  }
  return problems;
}

export function foreignUidsOf(entries: readonly Entry[]): Set<string> {
  return new Set(
    of(entries, "op").flatMap((o) =>
      o.action.kind === "foreign-create" && o.outcome === "ok" && o.uid !== undefined ? [o.uid] : [],
    ),
  );
}

function checkConvergence(entries: readonly Entry[], meta: MetaEntry | undefined): InvariantResult {
  const conv = of(entries, "convergence").at(-1);
  const state = of(entries, "state").at(-1);
  if (meta === undefined || conv === undefined || state === undefined)
    return result("convergence", "no-data", {});
  const problems = convergenceProblems(state, meta, foreignUidsOf(entries));
  const active = state.namespaces.filter((n) => n.phase === "Active");
  const wanting = active.reduce(
    (s, n) => s + meta.registries.filter((r) => n.labels[r.host] === "true").length,
    0,
  );
  const counts = {
    "Active namespaces at the end": active.length,
    "(namespace, registry) pairs asked for": wanting,
    bound: `${String(Math.round(conv.boundMs / 1000))} s (${conv.boundFormula})`,
    "converged after":
      conv.convergedAfterMs === undefined
        ? "not within the bound"
        : `${(conv.convergedAfterMs / 1000).toFixed(1)} s`,
    "problems in the final state": problems.length,
  };
  const violations: Violation[] = [];
  const byNs = new Map<string, string[]>();
  for (const p of problems) byNs.set(p.ns, [...(byNs.get(p.ns) ?? []), p.problem]);
  for (const [ns, list] of byNs) {
    const trimmed: StateEntry = { ...state, namespaces: state.namespaces.filter((n) => n.name === ns) };
    const hosts = new Set(list.map((p) => p.slice(0, p.indexOf(":"))));
    const story = entries.filter(
      (e) =>
        (e.kind === "namespace" && e.name === ns) ||
        (e.kind === "secret" && e.ns === ns && hosts.has(e.name)) ||
        (e.kind === "op" && e.action.ns === ns),
    );
    violations.push({
      message: `${ns}: ${list.join("; ")}`,
      excerpt: withMeta(meta, [...story.slice(-12), conv, trimmed]),
    });
  }
  if (conv.convergedAfterMs === undefined && violations.length === 0)
    violations.push({
      message: "no converged state within the bound",
      excerpt: withMeta(meta, [conv, state]),
    });
  return result("convergence", "pass", counts, violations);
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

// ---- 5. cost ---------------------------------------------------------------------------------------------

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

function checkCost(entries: readonly Entry[], meta: MetaEntry | undefined): InvariantResult {
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
export type { FinalNamespace, AwsCallEntry };
