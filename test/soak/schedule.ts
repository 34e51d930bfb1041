/**
 * The generator and the nemesis: a pure function of the seed and the profile that lays out, in time, every
 * operation of the workload (namespace and secret churn) and every fault. The same seed gives the same
 * schedule; what the system does in response depends on timing and may differ from run to run.
 *
 * The generator keeps a model of what it asked for (namespaces, their labels, credential secrets, foreign
 * secrets) only to choose sensible operations; the checker never trusts that model, it reads what the
 * admin watches saw.
 */
import { Prng } from "./prng.ts";

export interface Registry {
  readonly index: number;
  readonly host: string;
  readonly accountId: string;
  readonly region: string;
  /** The credential secret assumes a role (aws_role_arn) through the local STS on top of its keys. */
  readonly role: boolean;
}

export interface Profile {
  readonly seed: string;
  /** How long the generator and the nemesis run (the settle phase and convergence come after). */
  readonly durationMs: number;
  /** Labelled namespaces created at the start; the generator keeps the count around it. */
  readonly namespaces: number;
  readonly registries: number;
  readonly replicas: number;
}

/** Workload operations (the generator). */
export type Op =
  | { readonly kind: "ns-create"; readonly ns: string; readonly labels: Readonly<Record<string, string>> }
  /** value null removes the label. */
  | { readonly kind: "ns-label"; readonly ns: string; readonly host: string; readonly value: string | null }
  | { readonly kind: "ns-delete"; readonly ns: string }
  /** Churn eatr must ignore: a namespace with no registry label, created or relabelled. */
  | { readonly kind: "ns-unrelated"; readonly ns: string; readonly create: boolean }
  /** A new access key (generation `key`) for the registry; the old one is deactivated soon after. */
  | { readonly kind: "cred-rotate"; readonly registry: number; readonly key: number }
  | { readonly kind: "cred-delete"; readonly registry: number }
  | { readonly kind: "cred-recreate"; readonly registry: number; readonly key: number }
  /** The pull secret's token replaced by hand with a stale one (still in eatr's format). */
  | { readonly kind: "pull-edit"; readonly ns: string; readonly host: string }
  | { readonly kind: "pull-delete"; readonly ns: string; readonly host: string }
  /** Someone else's secret named like the registry, in a namespace that does not ask for it (yet). */
  | { readonly kind: "foreign-create"; readonly ns: string; readonly host: string };

export type EcrFailureMode = "throttle" | "server" | "disconnect" | "access-denied";

/** Faults (the nemesis) and their ends. */
export type Fault =
  | { readonly kind: "leader-kill" }
  | { readonly kind: "leader-term" }
  | { readonly kind: "cut"; readonly target: "leader" | "follower" }
  | { readonly kind: "heal" }
  | { readonly kind: "apiserver-restart" }
  | { readonly kind: "compact-restart" }
  /** Starts replicas until `replicas` run (after a kill, a cut-off leader's exit, a restart). */
  | { readonly kind: "ensure-replicas" }
  | { readonly kind: "ecr-fail"; readonly mode: EcrFailureMode }
  | { readonly kind: "ecr-ok" }
  | { readonly kind: "ecr-slow"; readonly latencyMs: number }
  | { readonly kind: "ecr-fast" }
  | { readonly kind: "ecr-short-tokens"; readonly lifetimeMs: number }
  | { readonly kind: "ecr-normal-tokens" }
  | { readonly kind: "sts-fail"; readonly mode: "throttle" | "server" }
  | { readonly kind: "sts-ok" }
  /** The credential secret's secret key replaced by a wrong one, then the right one put back. */
  | { readonly kind: "wrong-key"; readonly registry: number }
  | { readonly kind: "right-key"; readonly registry: number };

export type Action = Op | Fault;

export interface Step {
  /** ms after the start of the run. */
  readonly at: number;
  readonly actor: "generator" | "nemesis";
  readonly action: Action;
}

export interface Schedule {
  readonly registries: readonly Registry[];
  readonly initial: readonly Extract<Op, { kind: "ns-create" }>[];
  readonly steps: readonly Step[];
  /** Run after both loops: every fault healed, every credential secret valid, every replica running. */
  readonly settle: readonly Action[];
}

const REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2", "eu-central-1"];
const BOGUS_YES = ["True", "yes", "1"];

export function makeRegistries(count: number): Registry[] {
  return Array.from({ length: count }, (_, i) => {
    const accountId = String(200_000_000_000 + 1_111 * (i + 1));
    const region = REGIONS[i % REGIONS.length] ?? "eu-west-1";
    return {
      index: i,
      host: `${accountId}.dkr.ecr.${region}.amazonaws.com`,
      accountId,
      region,
      role: i % 2 === 1,
    };
  });
}

/** The access key of generation `key` of a registry: deterministic from the seed. */
export function keyFor(seed: string, registry: Registry, key: number): { id: string; secret: string } {
  const p = new Prng(`${seed}/key/${String(registry.index)}/${String(key)}`);
  return {
    id: `AKIASOAK${String(registry.index).padStart(2, "0")}${p.hex(10).toUpperCase()}`,
    secret: `soak${p.hex(36)}`,
  };
}

/** A wrong secret key for the registry (the access key id stays right): ECR answers a bad signature. */
export function wrongSecretFor(seed: string, registry: Registry, n: number): string {
  return `wrong${new Prng(`${seed}/wrong/${String(registry.index)}/${String(n)}`).hex(35)}`;
}

export const NAMESPACE_PREFIX = "soak-n";
export const UNRELATED_PREFIX = "soak-u";

interface NsModel {
  name: string;
  labels: Map<string, string>;
  deleted: boolean;
  foreign: Set<string>;
}

interface Window {
  from: number;
  to: number;
}

const overlaps = (a: Window, b: Window): boolean => a.from < b.to && b.from < a.to;

/** Lays out the whole run from the seed. */
export function makeSchedule(profile: Profile): Schedule {
  const registries = makeRegistries(profile.registries);
  const nemesis = nemesisSteps(new Prng(`${profile.seed}/nemesis`), profile, registries);
  const wrongWindows = new Map<number, Window[]>();
  for (const s of nemesis.steps) {
    if (s.action.kind !== "wrong-key") continue;
    const r = s.action.registry;
    const end = nemesis.steps.find(
      (e) => e.at >= s.at && e.action.kind === "right-key" && e.action.registry === r,
    );
    const list = wrongWindows.get(r) ?? [];
    list.push({ from: s.at - 2_000, to: (end?.at ?? profile.durationMs) + 2_000 });
    wrongWindows.set(r, list);
  }
  const gen = generatorSteps(new Prng(`${profile.seed}/generator`), profile, registries, wrongWindows);
  const steps = [...gen.steps, ...nemesis.steps].sort((a, b) => a.at - b.at);
  return {
    registries,
    initial: gen.initial,
    steps,
    settle: [
      { kind: "heal" },
      { kind: "ecr-ok" },
      { kind: "ecr-fast" },
      { kind: "ecr-normal-tokens" },
      { kind: "sts-ok" },
      ...registries.map((r): Action => ({ kind: "right-key", registry: r.index })),
      { kind: "ensure-replicas" },
    ],
  };
}

function generatorSteps(
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

function nemesisSteps(p: Prng, profile: Profile, registries: readonly Registry[]): { steps: Step[] } {
  const steps: Step[] = [];
  const push = (at: number, action: Fault): void => {
    steps.push({ at, actor: "nemesis", action });
  };
  const end = profile.durationMs - 5_000;
  const hasRole = registries.some((r) => r.role);
  // Process-level faults (kills, cuts, restarts) one at a time; each AWS channel one fault at a time;
  // faults of different kinds overlap freely.
  let processFree = 0;
  let ecrFree = 0;
  let latencyFree = 0;
  let tokensFree = 0;
  let stsFree = 0;
  let keyFree = 0;
  for (let t = 6_000; t < end; t += p.int(3_000, 9_000)) {
    const kind = p.weighted({
      "leader-kill": 3,
      "leader-term": 2,
      "cut-leader": 2,
      "cut-follower": 1.5,
      "apiserver-restart": 2,
      "compact-restart": 1.5,
      "ecr-fail": 3,
      "ecr-slow": 1.5,
      "ecr-short-tokens": 1.5,
      "sts-fail": hasRole ? 1.5 : 0,
      "wrong-key": 1.5,
    });
    const windowEnd = (lo: number, hi: number): number => Math.min(end, t + p.int(lo, hi));
    switch (kind) {
      case "leader-kill":
      case "leader-term": {
        if (t < processFree) break;
        push(t, { kind });
        push(t + p.int(2_000, 6_000), { kind: "ensure-replicas" });
        processFree = t + 12_000;
        break;
      }
      case "cut-leader":
      case "cut-follower": {
        if (t < processFree) break;
        const heal = windowEnd(6_000, 14_000);
        push(t, { kind: "cut", target: kind === "cut-leader" ? "leader" : "follower" });
        push(heal, { kind: "heal" });
        push(heal + 1_000, { kind: "ensure-replicas" });
        processFree = heal + 8_000;
        break;
      }
      case "apiserver-restart":
      case "compact-restart": {
        if (t < processFree) break;
        push(t, { kind });
        push(t + 10_000, { kind: "ensure-replicas" });
        processFree = t + 16_000;
        break;
      }
      case "ecr-fail": {
        if (t < ecrFree) break;
        const to = windowEnd(4_000, 20_000);
        push(t, { kind, mode: p.pick(["throttle", "server", "disconnect", "access-denied"] as const) });
        push(to, { kind: "ecr-ok" });
        ecrFree = to + 2_000;
        break;
      }
      case "ecr-slow": {
        if (t < latencyFree) break;
        const to = windowEnd(8_000, 25_000);
        // 3 s: slow but answered; 12 s: beyond eatr's 10 s call timeout.
        push(t, { kind, latencyMs: p.pick([3_000, 12_000]) });
        push(to, { kind: "ecr-fast" });
        latencyFree = to + 2_000;
        break;
      }
      case "ecr-short-tokens": {
        if (t < tokensFree) break;
        const to = windowEnd(15_000, 40_000);
        push(t, { kind, lifetimeMs: p.pick([90_000, 150_000]) });
        push(to, { kind: "ecr-normal-tokens" });
        tokensFree = to + 2_000;
        break;
      }
      case "sts-fail": {
        if (t < stsFree) break;
        const to = windowEnd(4_000, 20_000);
        push(t, { kind, mode: p.pick(["throttle", "server"] as const) });
        push(to, { kind: "sts-ok" });
        stsFree = to + 2_000;
        break;
      }
      case "wrong-key": {
        if (t < keyFree) break;
        const registry = p.int(0, registries.length - 1);
        const to = windowEnd(6_000, 20_000);
        push(t, { kind, registry });
        push(to, { kind: "right-key", registry });
        keyFree = to + 2_000;
        break;
      }
    }
  }
  return { steps };
}

/** One line per step, for the report and to compare two schedules. */
export function describeStep(step: Step): string {
  const { kind, ...rest } = step.action;
  const args = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" ");
  return `${(step.at / 1000).toFixed(1).padStart(6)}s ${step.actor.padEnd(9)} ${kind}${args ? ` ${args}` : ""}`;
}
