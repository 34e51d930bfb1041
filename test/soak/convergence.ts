/**
 * Invariant 2, convergence: after the nemesis stops, every Active namespace that asks for a registry holds
 * eatr's secret with a token valid past the safety margin, and no other namespace holds one.
 */
import type { Entry, MetaEntry, StateEntry } from "./history.ts";
import { of, result, withMeta, type InvariantResult, type Violation } from "./invariant.ts";

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

export function checkConvergence(entries: readonly Entry[], meta: MetaEntry | undefined): InvariantResult {
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
