/**
 * The generator: about one workload operation a second (namespace, label, credential and secret churn),
 * chosen from a model of what it asked for. The model only keeps the choices sensible; the checker never
 * trusts it.
 */
import type { Prng } from "./prng.ts";
import type { Op, Profile, Registry, Step } from "./schedule.ts";

const BOGUS_YES = ["True", "yes", "1"];

export const NAMESPACE_PREFIX = "soak-n";
export const UNRELATED_PREFIX = "soak-u";

interface NsModel {
  name: string;
  labels: Map<string, string>;
  deleted: boolean;
  foreign: Set<string>;
}

export interface Window {
  from: number;
  to: number;
}

export const overlaps = (a: Window, b: Window): boolean => a.from < b.to && b.from < a.to;

/** The initial namespaces and the timed operations; cred ops avoid the nemesis's wrong-key windows. */
export function generatorSteps(
  p: Prng,
  profile: Profile,
  registries: readonly Registry[],
  wrongWindows: ReadonlyMap<number, readonly Window[]>,
): { initial: Extract<Op, { kind: "ns-create" }>[]; steps: Step[] } {
  const hosts = registries.map((r) => r.host);
  const spaces: NsModel[] = [];
  let nsCount = 0;
  let unrelatedCount = 0;
  const creds = registries.map(() => ({ key: 0, deletedUntil: -1 }));
  const randomLabels = (): Record<string, string> => {
    const labels: Record<string, string> = {};
    for (const h of hosts) {
      if (p.chance(0.6)) labels[h] = "true";
      else if (p.chance(0.15)) labels[h] = p.pick(BOGUS_YES);
    }
    return labels;
  };
  const create = (): Extract<Op, { kind: "ns-create" }> => {
    const ns: NsModel = {
      name: `${NAMESPACE_PREFIX}${String(++nsCount).padStart(4, "0")}`,
      labels: new Map(Object.entries(randomLabels())),
      deleted: false,
      foreign: new Set(),
    };
    spaces.push(ns);
    return { kind: "ns-create", ns: ns.name, labels: Object.fromEntries(ns.labels) };
  };
  const initial = Array.from({ length: profile.namespaces }, create);
  const alive = (): NsModel[] => spaces.filter((n) => !n.deleted);
  const credFree = (r: number, w: Window): boolean =>
    (creds[r]?.deletedUntil ?? 0) < w.from && !(wrongWindows.get(r) ?? []).some((x) => overlaps(x, w));

  const steps: Step[] = [];
  const push = (at: number, action: Op): void => {
    steps.push({ at, actor: "generator", action });
  };
  // Fast enough to overlap every fault, slow enough for a 2-core machine: about one operation a second.
  for (let t = 1_000; t < profile.durationMs - 3_000; t += p.int(400, 1_800)) {
    const kind = p.weighted({
      "ns-create": 8,
      "ns-label": 14,
      "ns-delete": 3,
      "ns-unrelated": 4,
      "cred-rotate": 4,
      "cred-delete": 1.5,
      "pull-edit": 5,
      "pull-delete": 4,
      "foreign-create": 3,
    });
    const live = alive();
    switch (kind) {
      case "ns-create":
        push(t, create());
        break;
      case "ns-label": {
        if (live.length === 0) break;
        const ns = p.pick(live);
        const host = p.pick(hosts);
        const now = ns.labels.get(host);
        let value: string | null;
        if (now === "true") value = p.chance(0.6) ? null : p.chance(0.5) ? "false" : p.pick(BOGUS_YES);
        else value = "true";
        if (value === null) ns.labels.delete(host);
        else ns.labels.set(host, value);
        push(t, { kind: "ns-label", ns: ns.name, host, value });
        break;
      }
      case "ns-delete": {
        if (live.length <= Math.max(2, Math.floor(profile.namespaces / 2))) break;
        const ns = p.pick(live);
        ns.deleted = true;
        push(t, { kind: "ns-delete", ns: ns.name });
        break;
      }
      case "ns-unrelated": {
        const fresh = unrelatedCount === 0 || p.chance(0.5);
        const n = fresh ? ++unrelatedCount : p.int(1, unrelatedCount);
        push(t, {
          kind: "ns-unrelated",
          ns: `${UNRELATED_PREFIX}${String(n).padStart(4, "0")}`,
          create: fresh,
        });
        break;
      }
      case "cred-rotate": {
        const r = p.int(0, registries.length - 1);
        const c = creds[r];
        if (c === undefined || !credFree(r, { from: t, to: t + 6_000 })) break;
        c.key++;
        push(t, { kind: "cred-rotate", registry: r, key: c.key });
        break;
      }
      case "cred-delete": {
        const r = p.int(0, registries.length - 1);
        const c = creds[r];
        const back = t + p.int(4_000, 15_000);
        if (c === undefined || back >= profile.durationMs || !credFree(r, { from: t, to: back + 6_000 }))
          break;
        c.deletedUntil = back;
        push(t, { kind: "cred-delete", registry: r });
        if (p.chance(0.5)) c.key++;
        push(back, { kind: "cred-recreate", registry: r, key: c.key });
        break;
      }
      case "pull-edit":
      case "pull-delete": {
        const pairs = live.flatMap((ns) =>
          hosts.filter((h) => ns.labels.get(h) === "true" && !ns.foreign.has(h)).map((h) => ({ ns, h })),
        );
        if (pairs.length === 0) break;
        const { ns, h } = p.pick(pairs);
        push(t, { kind, ns: ns.name, host: h });
        break;
      }
      case "foreign-create": {
        const pairs = live.flatMap((ns) =>
          hosts.filter((h) => ns.labels.get(h) !== "true" && !ns.foreign.has(h)).map((h) => ({ ns, h })),
        );
        if (pairs.length === 0) break;
        const { ns, h } = p.pick(pairs);
        ns.foreign.add(h);
        push(t, { kind: "foreign-create", ns: ns.name, host: h });
        break;
      }
    }
  }
  return { initial, steps };
}
