/**
 * The status report: from a snapshot of the cluster's own objects to one row per registry, the list of
 * namespaces with problems and the exit code. Pure: no I/O, time is an argument.
 */
import { ANNOTATIONS, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../domain/pull-secret.ts";
import type { DeclaredRegistry } from "../ecr/declared-registries.ts";
import { credentialsOf, type CredentialsProblem, type RegistryCredentials } from "./registry-credentials.ts";
import type { ClusterSnapshot, PullSecretFacts, WarningEventFacts } from "./snapshot.ts";
import { shortDuration, timeText } from "./time-text.ts";
import { statusPolicy, wantedRegistries } from "./wanted.ts";

/** The controller settings the report depends on (the same options as the controller's). */
export interface StatusSettings {
  readonly hostNamespace: string;
  readonly credentialsSecretPrefix: string;
  readonly tokenSafetyMarginMs: number;
  /** The config file's `registries` list. */
  readonly registries: readonly DeclaredRegistry[];
  /** -restrict-to-declared-registries: labels for undeclared hosts are not served (nor reported). */
  readonly restrictToDeclaredRegistries?: boolean;
  /** This installation's id (installationId(): its Lease `<namespace>/<name>`). */
  readonly installation: string;
}

/** Why a namespace cannot count on its pull secret for a registry. */
export type ProblemReason =
  | "missing"
  | "conflict"
  | "expired"
  | "expiring"
  | "immutable"
  | "contested"
  | "credentials-missing"
  | "credentials-invalid"
  | "credentials-failed";

/** One namespace's problem with one registry's pull secret. */
export interface Problem {
  readonly namespace: string;
  readonly registry: string;
  readonly reason: ProblemReason;
  /** What is wrong and what to do; names no secret value. */
  readonly detail: string;
}

export interface RegistryStatus {
  readonly registry: string;
  readonly credentials: RegistryCredentials;
  /** The earliest token expiry among the registry's pull secrets (eatr/token-expires-at); undefined if none says. */
  readonly tokenExpiresAtMs: number | undefined;
  /** The newest eatr/token-fetched-at among them. */
  readonly tokenFetchedAtMs: number | undefined;
  /** Namespace names, sorted. */
  readonly asking: readonly string[];
  /** Have eatr's pull secret, not expired. */
  readonly served: readonly string[];
  /** Have someone else's secret of that name. */
  readonly conflict: readonly string[];
  /** Ask while the registry's credentials are missing, unusable or failing. */
  readonly lackingCredentials: readonly string[];
}

/** The installation's leader, from its Lease. */
export interface LeaderStatus {
  /** `<namespace>/<name>`. */
  readonly lease: string;
  /** null: nobody holds it (released, or never taken). */
  readonly holder: string | null;
  readonly renewTimeMs: number | undefined;
  readonly leaseDurationSeconds: number | undefined;
  /** The holder did not renew within the lease duration: nobody is working. */
  readonly expired: boolean;
}

export interface StatusReport {
  readonly nowMs: number;
  readonly tokenSafetyMarginMs: number;
  /** Registries asked for by a namespace or declared in the config file, sorted by host. */
  readonly registries: readonly RegistryStatus[];
  /** Sorted by namespace, then registry. */
  readonly problems: readonly Problem[];
  /** undefined: the Lease does not exist; null: leader election is off. */
  readonly leader: LeaderStatus | undefined | null;
  /** 0 when no namespace has a problem, else 1. */
  readonly exitCode: 0 | 1;
  /** What could not be read (ClusterSnapshot.notes). */
  readonly notes: readonly string[];
}

/** The state of one namespace's pull secret for one registry. */
type SecretState =
  | { readonly kind: "missing" }
  | { readonly kind: "conflict" }
  | {
      readonly kind: "served";
      readonly expiresAtMs: number | undefined;
      readonly issue: "expired" | "expiring" | "immutable" | "contested" | undefined;
      readonly other?: string;
    };

export type { CredentialsProblem, RegistryCredentials } from "./registry-credentials.ts";

/** Builds the report. `nowMs` is the time the snapshot was read. */
export function summarize(snapshot: ClusterSnapshot, settings: StatusSettings, nowMs: number): StatusReport {
  const declared = new Map(settings.registries.map((r) => [r.host, r]));
  const secrets = new Map(snapshot.pullSecrets.map((s) => [`${s.namespace}/${s.name}`, s]));
  const asking = new Map<string, string[]>();
  const policy = statusPolicy(settings.registries, settings.restrictToDeclaredRegistries);
  for (const ns of [...snapshot.namespaces].sort((a, b) => compare(a.name, b.name))) {
    if (ns.terminating) continue;
    for (const host of new Set(wantedRegistries(ns, policy).map((r) => r.host))) {
      const list = asking.get(host) ?? [];
      list.push(ns.name);
      asking.set(host, list);
    }
  }
  const hosts = [...new Set([...asking.keys(), ...declared.keys()])].sort(compare);
  const registries: RegistryStatus[] = [];
  const problems: Problem[] = [];
  for (const host of hosts) {
    const names = asking.get(host) ?? [];
    const managed = names
      .map((ns) => secrets.get(`${ns}/${host}`))
      .filter((s): s is PullSecretFacts => s?.managed === true);
    const fetched = latest(managed.map((s) => timeOf(s.annotations[ANNOTATIONS.tokenFetchedAt])));
    const credentials = credentialsOf(host, snapshot, settings, declared.get(host), fetched);
    const served: string[] = [];
    const conflict: string[] = [];
    for (const ns of names) {
      const state = stateOf(secrets.get(`${ns}/${host}`), snapshot.events, settings, nowMs);
      if (state.kind === "served" && state.issue !== "expired") served.push(ns);
      if (state.kind === "conflict") conflict.push(ns);
      const problem = problemOf(ns, host, state, credentials.problem, settings, nowMs);
      if (problem !== undefined) problems.push(problem);
    }
    registries.push({
      registry: host,
      credentials,
      tokenExpiresAtMs: earliest(managed.map((s) => timeOf(s.annotations[ANNOTATIONS.tokenExpiresAt]))),
      tokenFetchedAtMs: fetched,
      asking: names,
      served,
      conflict,
      lackingCredentials: credentials.problem === null ? [] : names,
    });
  }
  problems.sort((a, b) => compare(a.namespace, b.namespace) || compare(a.registry, b.registry));
  return {
    nowMs,
    tokenSafetyMarginMs: settings.tokenSafetyMarginMs,
    registries,
    problems,
    leader: leaderOf(snapshot.lease, nowMs),
    exitCode: problems.length === 0 ? 0 : 1,
    notes: snapshot.notes,
  };
}

function stateOf(
  secret: PullSecretFacts | undefined,
  events: readonly WarningEventFacts[],
  settings: StatusSettings,
  nowMs: number,
): SecretState {
  if (secret === undefined) return { kind: "missing" };
  if (!secret.managed) return { kind: "conflict" };
  const expiresAtMs = timeOf(secret.annotations[ANNOTATIONS.tokenExpiresAt]);
  const about = (reason: string) =>
    events.some(
      (e) =>
        e.reason === reason &&
        e.kind === "Secret" &&
        e.namespace === secret.namespace &&
        e.name === secret.name,
    );
  // An immutable secret stays immutable: the Event holds for as long as that very secret (its uid) exists.
  const immutable = events.some(
    (e) => e.reason === "SecretImmutable" && e.kind === "Secret" && e.uid !== "" && e.uid === secret.uid,
  );
  const writer = secret.annotations[ANNOTATIONS.installation];
  // Contested while the secret still carries the other installation's write.
  const contested = about("SecretContested") && writer !== undefined && writer !== settings.installation;
  let issue: "expired" | "expiring" | "immutable" | "contested" | undefined;
  if (expiresAtMs !== undefined && expiresAtMs <= nowMs) issue = "expired";
  else if (immutable) issue = "immutable";
  else if (contested) issue = "contested";
  else if (expiresAtMs !== undefined && expiresAtMs - nowMs < settings.tokenSafetyMarginMs)
    issue = "expiring";
  return { kind: "served", expiresAtMs, issue, ...(writer === undefined ? {} : { other: writer }) };
}

function problemOf(
  namespace: string,
  registry: string,
  state: SecretState,
  credentials: CredentialsProblem | null,
  settings: StatusSettings,
  nowMs: number,
): Problem | undefined {
  const name = `${namespace}/${registry}`;
  const problem = (reason: ProblemReason, detail: string): Problem => ({
    namespace,
    registry,
    reason,
    detail,
  });
  if (state.kind === "conflict") {
    return problem(
      "conflict",
      `secret ${name} is not eatr's (no label ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}), so eatr leaves it alone: rename or delete it and eatr writes its own`,
    );
  }
  if (credentials !== null) {
    const now =
      state.kind === "missing"
        ? "no pull secret yet"
        : state.expiresAtMs === undefined
          ? "its pull secret is kept but not renewed"
          : state.expiresAtMs <= nowMs
            ? `its pull secret expired ${timeText(state.expiresAtMs, nowMs)}`
            : `its pull secret is kept until it expires ${timeText(state.expiresAtMs, nowMs)}, not renewed`;
    return problem(`credentials-${credentials.reason}`, `${now}: ${credentials.detail}`);
  }
  if (state.kind === "missing") {
    return problem(
      "missing",
      `no pull secret ${name}: eatr has not written it (is eatr running and leading? see the Lease)`,
    );
  }
  switch (state.issue) {
    case undefined:
      return undefined;
    case "expired":
      return problem(
        "expired",
        `token expired ${timeText(state.expiresAtMs ?? nowMs, nowMs)}: eatr has not renewed it (is eatr running and leading?)`,
      );
    case "immutable":
      return problem(
        "immutable",
        `secret ${name} is immutable, so its token cannot be renewed: delete it and eatr recreates it at once`,
      );
    case "contested":
      return problem(
        "contested",
        `another eatr installation (${state.other ?? "?"}) keeps rewriting secret ${name}: run one installation per registry`,
      );
    case "expiring":
      return problem(
        "expiring",
        `token expires ${timeText(state.expiresAtMs ?? nowMs, nowMs)}, within the safety margin ${shortDuration(settings.tokenSafetyMarginMs)}: eatr should have renewed it`,
      );
  }
}

function leaderOf(lease: ClusterSnapshot["lease"], nowMs: number): LeaderStatus | undefined | null {
  if (lease === null || lease === undefined) return lease;
  const holder = lease.holder === undefined || lease.holder === "" ? null : lease.holder;
  const expired =
    holder === null ||
    lease.renewTimeMs === undefined ||
    lease.renewTimeMs + (lease.leaseDurationSeconds ?? 0) * 1000 < nowMs;
  return {
    lease: `${lease.namespace}/${lease.name}`,
    holder,
    renewTimeMs: lease.renewTimeMs,
    leaseDurationSeconds: lease.leaseDurationSeconds,
    expired,
  };
}

function timeOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function earliest(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : known.reduce((a, b) => Math.min(a, b));
}

function latest(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : known.reduce((a, b) => Math.max(a, b));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
