/**
 * The generator and the nemesis: a pure function of the seed and the profile that lays out, in time, every
 * operation of the workload (namespace and secret churn) and every fault. The same seed gives the same
 * schedule; what the system does in response depends on timing and may differ from run to run.
 *
 * The generator keeps a model of what it asked for (namespaces, their labels, credential secrets, foreign
 * secrets) only to choose sensible operations; the checker never trusts that model, it reads what the
 * admin watches saw.
 */
import { generatorSteps, type Window } from "./generator.ts";
import { nemesisSteps } from "./nemesis.ts";
import { Prng } from "./prng.ts";

export { NAMESPACE_PREFIX, UNRELATED_PREFIX } from "./generator.ts";

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

/** One line per step, for the report and to compare two schedules. */
export function describeStep(step: Step): string {
  const { kind, ...rest } = step.action;
  const args = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" ");
  return `${(step.at / 1000).toFixed(1).padStart(6)}s ${step.actor.padEnd(9)} ${kind}${args ? ` ${args}` : ""}`;
}
