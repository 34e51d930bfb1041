/**
 * Reads what `eatr status` needs from the API server, read-only and no more than needed: Namespaces and
 * eatr's pull secrets as metadata only (one paged list each), a metadata-only GET for each wanted pull
 * secret not among them (to tell "someone else's" from "none"), one GET per registry's credential secret
 * (reduced to its key names at once), the few Warning Event reasons status reports, and the Lease.
 */
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, MANAGED_SELECTOR } from "../domain/pull-secret.ts";
import { CREDENTIAL_KEYS, credentialSecretName } from "../ecr/credentials.ts";
import type { DeclaredRegistry } from "../ecr/declared-registries.ts";
import { KubeApiError, METADATA_ONLY, namespacedPath, type RestClient } from "../kube/rest.ts";
import type {
  ClusterSnapshot,
  CredentialSecretFacts,
  LeaseFacts,
  NamespaceFacts,
  PullSecretFacts,
  WarningEventFacts,
} from "./snapshot.ts";
import { statusPolicy, wantedRegistries } from "./wanted.ts";

/** The calls the reader makes (RestClient provides them). */
export type ReadClient = Pick<RestClient, "get" | "listPages">;

export interface ReadOptions {
  readonly client: ReadClient;
  readonly hostNamespace: string;
  readonly credentialsSecretPrefix: string;
  /** The config file's registries: their credential secrets are read even when no namespace asks. */
  readonly registries: readonly DeclaredRegistry[];
  /** -restrict-to-declared-registries (as the controller runs): only declared hosts are served. */
  readonly restrictToDeclaredRegistries?: boolean;
  /** The leader election Lease; null when leader election is off. */
  readonly lease: { readonly namespace: string; readonly name: string } | null;
  /** GETs in flight at once (default 16). */
  readonly concurrency?: number;
}

/** A read failed: `message` says which read and why, in one line (no secret in it). */
export class StatusReadError extends Error {
  override readonly name = "StatusReadError";
}

/** Accept header for a list whose items carry metadata only. */
const METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/** Warning Events eatr raises on credential secrets in the host namespace, and on pull secrets anywhere. */
const CREDENTIAL_REASONS = ["InvalidCredentials", "TokenRequestFailed"] as const;
const SECRET_REASONS = ["SecretImmutable", "SecretContested"] as const;

interface Metadata {
  name?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  creationTimestamp?: string;
  managedFields?: { time?: string }[];
}

interface RawEvent {
  metadata?: Metadata;
  reason?: string;
  message?: string;
  count?: number;
  involvedObject?: { kind?: string; name?: string; namespace?: string; uid?: string };
  lastTimestamp?: string | null;
  eventTime?: string | null;
  firstTimestamp?: string | null;
}

interface RawLease {
  spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
}

/** Reads a snapshot. Throws StatusReadError naming the read that failed. */
export async function readCluster(options: ReadOptions): Promise<ClusterSnapshot> {
  const { client } = options;
  const notes: string[] = [];
  const [namespaces, managed, events, lease] = await Promise.all([
    step("listing namespaces", () =>
      listAll<{ metadata?: Metadata }>(client, "/api/v1/namespaces", METADATA_LIST),
    ),
    step("listing eatr's pull secrets", () =>
      listAll<{ metadata?: Metadata }>(client, "/api/v1/secrets", METADATA_LIST, {
        labelSelector: MANAGED_SELECTOR,
      }),
    ),
    readEvents(options, notes),
    readLease(options),
  ]);
  const namespaceFacts: NamespaceFacts[] = namespaces.map((n) => ({
    name: n.metadata?.name ?? "",
    labels: n.metadata?.labels ?? {},
    terminating: n.metadata?.deletionTimestamp != null,
  }));
  const pullSecrets = managed.map((s) => pullSecretFacts(s.metadata ?? {}));
  const have = new Set(pullSecrets.map((s) => `${s.namespace}/${s.name}`));
  const missing: { namespace: string; name: string }[] = [];
  const hosts = new Set(options.registries.map((r) => r.host));
  const policy = statusPolicy(options.registries, options.restrictToDeclaredRegistries);
  for (const ns of namespaceFacts) {
    if (ns.terminating) continue;
    for (const { host } of wantedRegistries(ns, policy)) {
      hosts.add(host);
      if (!have.has(`${ns.name}/${host}`)) missing.push({ namespace: ns.name, name: host });
    }
  }
  const limit = options.concurrency ?? 16;
  const [sameNamed, credentials] = await Promise.all([
    mapLimit(missing, limit, ({ namespace, name }) =>
      step(`reading secret ${namespace}/${name}`, () =>
        getOrUndefined<{ metadata?: Metadata }>(
          client,
          namespacedPath("secrets", namespace, name),
          METADATA_ONLY,
        ),
      ),
    ),
    mapLimit([...hosts].sort(), limit, (host) => readCredentialSecret(options, host)),
  ]);
  for (const found of sameNamed)
    if (found !== undefined) pullSecrets.push(pullSecretFacts(found.metadata ?? {}));
  const credentialSecrets = new Map<string, CredentialSecretFacts>();
  for (const entry of credentials) if (entry !== undefined) credentialSecrets.set(entry[0], entry[1]);
  return { namespaces: namespaceFacts, pullSecrets, credentialSecrets, events, lease, notes };
}

function pullSecretFacts(m: Metadata): PullSecretFacts {
  return {
    namespace: m.namespace ?? "",
    name: m.name ?? "",
    uid: m.uid ?? "",
    managed: m.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE,
    annotations: m.annotations ?? {},
  };
}

/** The credential secret's key names; its values are dropped here, except the aws_web_identity switch. */
async function readCredentialSecret(
  options: ReadOptions,
  host: string,
): Promise<[string, CredentialSecretFacts] | undefined> {
  const name = credentialSecretName(options.credentialsSecretPrefix, host);
  const secret = await step(`reading credential secret ${options.hostNamespace}/${name}`, () =>
    getOrUndefined<{ metadata?: Metadata; data?: Record<string, string> | null }>(
      options.client,
      namespacedPath("secrets", options.hostNamespace, name),
      "application/json",
    ),
  );
  if (secret === undefined) return undefined;
  const data = secret.data ?? {};
  const keys = Object.keys(data)
    .filter((k) => data[k] !== "")
    .sort();
  const flag = data[CREDENTIAL_KEYS.webIdentity];
  const webIdentity = flag !== undefined && Buffer.from(flag, "base64").toString("utf8").trim() === "true";
  const times = [
    secret.metadata?.creationTimestamp,
    ...(secret.metadata?.managedFields ?? []).map((f) => f.time),
  ]
    .map((t) => (t === undefined ? NaN : Date.parse(t)))
    .filter((t) => !Number.isNaN(t));
  return [
    host,
    {
      namespace: options.hostNamespace,
      name,
      keys,
      webIdentity,
      changedAtMs: times.length === 0 ? undefined : Math.max(...times),
    },
  ];
}

/**
 * The Warning Events status reports. Events are a hint, not the state: one the user may not list (HTTP 403)
 * is left out with a note instead of failing the whole report.
 */
async function readEvents(options: ReadOptions, notes: string[]): Promise<WarningEventFacts[]> {
  const list = async (what: string, path: string, reason: string): Promise<RawEvent[] | string> => {
    try {
      return await listAll<RawEvent>(options.client, path, "application/json", {
        fieldSelector: `type=Warning,reason=${reason}`,
      });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.statusCode === 403))
        throw new StatusReadError(`listing ${what}: ${reasonOf(err)}`, { cause: err });
      return `cannot list ${what} (HTTP 403 Forbidden): the problems they report are not shown`;
    }
  };
  const results = await Promise.all([
    ...CREDENTIAL_REASONS.map((reason) =>
      list(
        `${reason} Events in namespace ${options.hostNamespace}`,
        namespacedPath("events", options.hostNamespace),
        reason,
      ),
    ),
    ...SECRET_REASONS.map((reason) => list(`${reason} Events`, "/api/v1/events", reason)),
  ]);
  const lists: RawEvent[][] = [];
  for (const result of results) {
    if (typeof result === "string") notes.push(result);
    else lists.push(result);
  }
  return lists.flat().map((e) => ({
    namespace: e.involvedObject?.namespace ?? e.metadata?.namespace ?? "",
    reason: e.reason ?? "",
    kind: e.involvedObject?.kind ?? "",
    name: e.involvedObject?.name ?? "",
    uid: e.involvedObject?.uid ?? "",
    message: e.message ?? "",
    count: e.count ?? 1,
    lastSeenMs: Date.parse(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? "") || 0,
  }));
}

async function readLease(options: ReadOptions): Promise<LeaseFacts | undefined | null> {
  const lease = options.lease;
  if (lease === null) return null;
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(lease.namespace)}/leases/${encodeURIComponent(lease.name)}`;
  const found = await step(`reading Lease ${lease.namespace}/${lease.name}`, () =>
    getOrUndefined<RawLease>(options.client, path, "application/json"),
  );
  if (found === undefined) return undefined;
  const renew = Date.parse(found.spec?.renewTime ?? "");
  return {
    namespace: lease.namespace,
    name: lease.name,
    holder: found.spec?.holderIdentity,
    renewTimeMs: Number.isNaN(renew) ? undefined : renew,
    leaseDurationSeconds: found.spec?.leaseDurationSeconds,
  };
}

async function listAll<T>(
  client: ReadClient,
  path: string,
  accept: string,
  query: Record<string, string> = {},
): Promise<T[]> {
  const items: T[] = [];
  for await (const page of client.listPages<T>(path, { accept, query })) items.push(...page.items);
  return items;
}

async function getOrUndefined<T>(client: ReadClient, path: string, accept: string): Promise<T | undefined> {
  try {
    return await client.get<T>(path, { accept });
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
    throw err;
  }
}

/** Runs one read; a failure becomes a StatusReadError saying what was read and why it failed. */
async function step<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof StatusReadError) throw err;
    throw new StatusReadError(`${what}: ${reasonOf(err)}`, { cause: err });
  }
}

/** One line: the API server's status and message, or the network error's. */
export function reasonOf(err: unknown): string {
  if (err instanceof KubeApiError) {
    let message = "";
    try {
      const status = JSON.parse(err.body) as { reason?: string; message?: string };
      message = [status.reason, status.message].filter((s) => s !== undefined && s !== "").join(": ");
    } catch {
      // not a Status
    }
    return `HTTP ${err.statusCode}${message === "" ? "" : ` ${message}`}`;
  }
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return `${err.message}${cause}`.split("\n", 1)[0] ?? "";
  }
  return String(err);
}

/** fn over items with at most `limit` calls in flight; results in the items' order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
