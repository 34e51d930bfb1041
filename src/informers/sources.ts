import type { V1Namespace, V1Secret, V1ServiceAccount } from "@kubernetes/client-node";
import type { Clock } from "../clock.ts";
import { credentialSecretName, registryHostOfCredentialSecret } from "../ecr/credentials.ts";
import { credentialsVersion } from "../ecr/credentials-version.ts";
import { parseRegistryHost } from "../ecr/registry-host.ts";
import { MANAGED_SELECTOR } from "../domain/pull-secret.ts";
import { LABELS_ONLY, type RegistryPolicy } from "../domain/registry-policy.ts";
import {
  ADDED_ANNOTATION,
  IGNORE_ANNOTATION,
  SERVICE_ACCOUNTS_ANNOTATION,
} from "../domain/service-accounts.ts";
import type { OwnWrites } from "../kube/own-writes.ts";
import { METADATA_ONLY, METADATA_ONLY_LIST, type RestClient } from "../kube/rest.ts";
import { Informer, type InformerLogger, type InformerObserver } from "./informer.ts";
import { NamedInformers, type InformerControl, type Store } from "./informer-set.ts";
import { trimPullSecret, type CachedPullSecret } from "./pull-secrets.ts";

/** The index of namespaces by the registries they ask for. */
export const BY_REGISTRY = "registry";

export interface SourcesOptions {
  readonly rest: RestClient;
  readonly clock: Clock;
  readonly hostNamespace: string;
  readonly credentialsSecretPrefix: string;
  /** Queues a namespace for reconcile. */
  readonly enqueue: (namespace: string) => void;
  /** Tells managed secret events that only echo eatr's own writes (their namespace is not queued). */
  readonly ownWrites?: Pick<OwnWrites, "isEcho">;
  /** A registry's credential secret appeared, changed its data, or was deleted. */
  readonly credentialsChanged: (registry: string) => void;
  readonly observer?: InformerObserver;
  readonly logger?: InformerLogger;
  readonly listTimeoutMs?: number;
  /**
   * Run the ServiceAccount informer (-manage-service-accounts): only then does eatr list and watch
   * ServiceAccounts, which needs RBAC on them (without it the watch would fail forever).
   */
  readonly serviceAccounts?: boolean;
  /** Which registries a namespace gets (BY_REGISTRY) and which of its labels that reads; default: labels only. */
  readonly registryPolicy?: Pick<RegistryPolicy, "wanted" | "keepsLabel">;
  /**
   * -restrict-to-declared-registries: the declared registry hosts. Pull secrets are then watched with one
   * cluster-wide watch per host (`fieldSelector=metadata.name=<host>`, which also shows someone else's
   * secret of that name: a conflict) and credential secrets with one watch per host in the host namespace
   * (`metadata.name=<prefix>-<host>`), so eatr never lists or reads a secret of any other name (RBAC
   * `resourceNames` can then name them all). Undefined: one label-selected watch of pull secrets in every
   * namespace, and the whole host namespace.
   */
  readonly restrictTo?: readonly string[];
}

/**
 * The informers eatr runs: namespaces, credential secrets and pull secrets (one informer each, or one
 * per declared registry in restricted mode), plus ServiceAccounts when that feature is on. There is never
 * a cluster-wide informer on all Secrets, and pull secrets are cached as metadata only.
 */
export interface Sources {
  readonly namespaces: Informer<V1Namespace>;
  /** Credential secrets in the host namespace: all of its secrets, or (restricted) those of declared hosts. */
  readonly credentials: Store<V1Secret>;
  /**
   * Pull secrets, metadata only (trimPullSecret): those carrying app.kubernetes.io/managed-by=eatr in every
   * namespace, or (restricted) every secret named after a declared host, ours or not.
   */
  readonly managedSecrets: Store<CachedPullSecret>;
  /** Every ServiceAccount, trimmed (trimServiceAccount); only with SourcesOptions.serviceAccounts. */
  readonly serviceAccounts: Informer<V1ServiceAccount> | undefined;
  /** The names of namespaces that ask for a registry. */
  namespacesUsing(registry: string): string[];
  all(): InformerControl[];
}

/** Informer names of the restricted mode's watches (one per declared host: the metric label stays small). */
export const credentialsInformerName = (host: string): string => `credentials/${host}`;
export const pullSecretsInformerName = (host: string): string => `pull-secrets/${host}`;

/**
 * Shares equal strings between cached objects. Every pull secret of a registry carries the same data
 * (the docker config with the registry's token, about 3.7 KiB with a real ECR token) and the same
 * annotations, but each parsed watch event holds its own copy: at 10,000 namespaces × 3 registries that is
 * over 100 MiB of identical strings. Interned, it is one copy per registry and token. The pool is
 * bounded: when it fills (many distinct values), it starts over, which only loses sharing.
 */
export class InternPool {
  private readonly pool = new Map<string, string>();
  private readonly max: number;

  constructor(max = 4096) {
    this.max = max;
  }

  get size(): number {
    return this.pool.size;
  }

  intern<S extends string | undefined>(s: S): S {
    if (s === undefined) return s;
    const shared = this.pool.get(s);
    if (shared !== undefined) return shared as S;
    if (this.pool.size >= this.max) this.pool.clear();
    this.pool.set(s, s);
    return s;
  }

  /** A copy of record with interned values (undefined stays undefined). */
  record(record: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
    if (record === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(record)) out[k] = this.intern(v);
    return out;
  }

  private readonly lastRecords = new Map<string, Readonly<Record<string, string>>>();
  private readonly lists = new Map<string, readonly { name: string }[]>();

  /**
   * `[{name}, …]` for these names, one shared (frozen) array per distinct list: the ServiceAccounts of a
   * cluster mostly carry the same few imagePullSecrets lists. Callers never mutate the result.
   */
  sharedNames(names: readonly string[]): { name: string }[] {
    const key = names.join("\u0000");
    const shared = this.lists.get(key);
    if (shared !== undefined) return shared as { name: string }[];
    if (this.lists.size >= this.max) this.lists.clear();
    const fresh = Object.freeze(names.map((n) => Object.freeze({ name: this.intern(n) })));
    this.lists.set(key, fresh);
    return fresh as { name: string }[];
  }

  /**
   * Like record(), but returns the record last returned for `slot` when it holds the same entries: the
   * pull secrets of one registry share one data, labels and annotations object instead of one each.
   * Callers never mutate the result.
   */
  sharedRecord(slot: string, record: Readonly<Record<string, string>>): Readonly<Record<string, string>>;
  sharedRecord(
    slot: string,
    record: Readonly<Record<string, string>> | undefined,
  ): Readonly<Record<string, string>> | undefined;
  sharedRecord(
    slot: string,
    record: Readonly<Record<string, string>> | undefined,
  ): Readonly<Record<string, string>> | undefined {
    const fresh = this.record(record);
    if (fresh === undefined) return undefined;
    const last = this.lastRecords.get(slot);
    if (last !== undefined && sameEntries(last, fresh)) return last;
    if (this.lastRecords.size >= this.max) this.lastRecords.clear();
    this.lastRecords.set(slot, fresh);
    return fresh;
  }
}

function sameEntries(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * What reconciles read of a Namespace: name, uid, resourceVersion, phase, deletion, only the labels
 * `keepLabel` names (by default those whose key is an ECR registry host; with declared namespaceSelectors
 * also the keys they read: RegistryPolicy.keepsLabel), and only the annotation eatr/service-accounts.
 * Namespaces asking for the same registries then share one labels object, and all active namespaces one
 * status object.
 */
export function trimNamespace(
  ns: V1Namespace,
  pool: InternPool,
  keepLabel: (key: string) => boolean = (key) => parseRegistryHost(key) !== undefined,
): V1Namespace {
  const m = ns.metadata ?? {};
  let registryLabels: Record<string, string> | undefined;
  for (const [key, value] of Object.entries(m.labels ?? {})) {
    if (!keepLabel(key)) continue;
    (registryLabels ??= {})[key] = value;
  }
  const metadata: V1Namespace["metadata"] = {
    name: m.name,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    labels: pool.sharedRecord("namespace\u0000labels", registryLabels),
  };
  const selection = m.annotations?.[SERVICE_ACCOUNTS_ANNOTATION];
  if (selection !== undefined)
    metadata.annotations = pool.sharedRecord("namespace\u0000annotations", {
      [SERVICE_ACCOUNTS_ANNOTATION]: selection,
    });
  if (m.deletionTimestamp !== undefined) metadata.deletionTimestamp = m.deletionTimestamp;
  const phase = ns.status?.phase;
  return {
    metadata,
    status: phase === undefined ? {} : pool.sharedRecord("namespace\u0000status", { phase }),
  };
}

/** A Secret without managedFields (often larger than the secret itself, and never read). */
function withoutManagedFields(secret: V1Secret): V1Secret {
  if (secret.metadata?.managedFields === undefined) return secret;
  return { ...secret, metadata: { ...secret.metadata, managedFields: undefined } };
}

/**
 * What reconciles read of a ServiceAccount: name, namespace, uid, resourceVersion, imagePullSecrets and
 * eatr's two annotations (the ignore mark and the record of what eatr added). Writes read the live object.
 */
export function trimServiceAccount(
  sa: V1ServiceAccount,
  pool: InternPool,
  namespaceName: (namespace: string) => string | undefined = () => undefined,
): V1ServiceAccount {
  const m = sa.metadata ?? {};
  let annotations: Record<string, string> | undefined;
  for (const key of [IGNORE_ANNOTATION, ADDED_ANNOTATION]) {
    const value = m.annotations?.[key];
    if (value !== undefined) (annotations ??= {})[key] = value;
  }
  const namespace = m.namespace === undefined ? undefined : (namespaceName(m.namespace) ?? m.namespace);
  const out: V1ServiceAccount = {
    metadata: {
      name: pool.intern(m.name),
      namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(annotations === undefined
        ? {}
        : { annotations: pool.sharedRecord("serviceaccount\u0000annotations", annotations) }),
    },
  };
  if (sa.imagePullSecrets !== undefined)
    out.imagePullSecrets = pool.sharedNames(sa.imagePullSecrets.map((e) => e.name ?? ""));
  return out;
}

/**
 * Fingerprint of what a namespace event can change for eatr (its registry labels and the labels the
 * namespaceSelectors read, its eatr/service-accounts annotation and whether it is active), of a cached,
 * trimmed namespace.
 */
function relevant(ns: V1Namespace): string {
  // Cached namespaces (trimNamespace) carry only the labels eatr reads and eatr's annotation.
  const labels = Object.entries(ns.metadata?.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([
    labels,
    ns.metadata?.annotations?.[SERVICE_ACCOUNTS_ANNOTATION] ?? null,
    ns.status?.phase ?? "",
    ns.metadata?.deletionTimestamp !== undefined,
  ]);
}

/**
 * Fingerprint of what a ServiceAccount event can change for eatr, of a cached, trimmed ServiceAccount: its
 * service-accounts informer queues the namespace on an update only when this changed.
 */
export function relevantServiceAccount(sa: V1ServiceAccount): string {
  const a = sa.metadata?.annotations ?? {};
  return JSON.stringify([
    (sa.imagePullSecrets ?? []).map((e) => e.name ?? ""),
    a[IGNORE_ANNOTATION] ?? null,
    a[ADDED_ANNOTATION] ?? null,
  ]);
}

/**
 * Builds the informers and wires their handlers to keys: a namespace event queues that namespace (only
 * when its registry labels or phase changed); a managed secret event queues its namespace; a credential
 * secret event reports its registry. Handlers do nothing else.
 */
export function createSources(o: SourcesOptions): Sources {
  const pool = new InternPool();
  const policy = o.registryPolicy ?? LABELS_ONLY;
  const keepLabel = (key: string): boolean => policy.keepsLabel(key);
  const listPages =
    <T>(path: string) =>
    (sel: { labelSelector?: string; fieldSelector?: string }) =>
      o.rest.listPages<T>(path, { query: sel, timeoutMs: o.listTimeoutMs ?? 60_000 });
  const nameOf = (obj: { metadata?: { name?: string } }) => obj.metadata?.name ?? "";
  const namespaceOf = (obj: { metadata?: { namespace?: string } }) => obj.metadata?.namespace ?? "";

  const namespaces = new Informer<V1Namespace>({
    name: "namespaces",
    watch: o.rest,
    path: "/api/v1/namespaces",
    list: listPages<V1Namespace>("/api/v1/namespaces"),
    clock: o.clock,
    transform: (ns) => trimNamespace(ns, pool, keepLabel),
    indexers: { [BY_REGISTRY]: (ns) => policy.wanted(ns).map((r) => r.host) },
    handlers: {
      onAdd: (ns) => {
        o.enqueue(nameOf(ns));
      },
      onUpdate: (old, cur) => {
        if (relevant(old) !== relevant(cur)) o.enqueue(nameOf(cur));
      },
    },
    ...(o.observer ? { observer: o.observer } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  });

  // A secret named like a credential secret, but for no ECR registry host: said once, at info.
  const ignored = new Set<string>();
  const ignoredOnce = (secret: string, registryPart: string): void => {
    if (ignored.has(secret) || ignored.size >= 1_000) return;
    ignored.add(secret);
    o.logger?.info(
      { secret: `${o.hostNamespace}/${secret}`, registryPart },
      `secret ignored: named like a credential secret (${o.credentialsSecretPrefix}-<registry host>), but "${registryPart}" is not an ECR registry host such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com`,
    );
  };
  const credentialRegistry = (s: V1Secret): string | undefined => {
    const host = registryHostOfCredentialSecret(o.credentialsSecretPrefix, nameOf(s));
    if (host === undefined || parseRegistryHost(host)?.host === host) return host;
    ignoredOnce(nameOf(s), host);
    return undefined;
  };
  const isOwnWrite = (s: V1Secret): boolean =>
    o.ownWrites?.isEcho(namespaceOf(s), nameOf(s), s.metadata?.resourceVersion) === true;
  const credentialsPath = `/api/v1/namespaces/${encodeURIComponent(o.hostNamespace)}/secrets`;
  const credentialsInformer = (name: string, fieldSelector?: string): Informer<V1Secret> =>
    new Informer<V1Secret>({
      name,
      watch: o.rest,
      path: credentialsPath,
      ...(fieldSelector === undefined ? {} : { fieldSelector }),
      list: listPages<V1Secret>(credentialsPath),
      clock: o.clock,
      // Credential secrets are few: not interned, so no copy of a rotated key outlives its secret.
      transform: withoutManagedFields,
      handlers: {
        onAdd: (s) => {
          const registry = credentialRegistry(s);
          if (registry !== undefined) o.credentialsChanged(registry);
        },
        onUpdate: (old, cur) => {
          const registry = credentialRegistry(cur);
          if (registry !== undefined && credentialsVersion(old) !== credentialsVersion(cur))
            o.credentialsChanged(registry);
        },
        onDelete: (s) => {
          const registry = credentialRegistry(s);
          if (registry !== undefined) o.credentialsChanged(registry);
        },
      },
      ...(o.observer ? { observer: o.observer } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
    });

  // Metadata only (PartialObjectMetadata): the cache never holds a token. The reconciler reads a secret's
  // data only when its managedFields say someone else set it (CachedPullSecret.contentsByEatr).
  const pullSecretsInformer = (
    name: string,
    selector: { labelSelector: string } | { fieldSelector: string },
  ) =>
    new Informer<CachedPullSecret>({
      name,
      watch: o.rest,
      path: "/api/v1/secrets",
      ...selector,
      watchAccept: METADATA_ONLY,
      list: (sel) =>
        o.rest.listPages<CachedPullSecret>("/api/v1/secrets", {
          query: sel,
          accept: METADATA_ONLY_LIST,
          timeoutMs: o.listTimeoutMs ?? 60_000,
        }),
      clock: o.clock,
      transform: (secret) => trimPullSecret(secret, pool, (ns) => namespaces.get(ns)?.metadata?.name),
      handlers: {
        onAdd: (s) => {
          if (!isOwnWrite(s)) o.enqueue(namespaceOf(s));
        },
        onUpdate: (_old, cur) => {
          if (!isOwnWrite(cur)) o.enqueue(namespaceOf(cur));
        },
        onDelete: (s) => {
          isOwnWrite(s); // forgets any write of ours to it: a deletion always queues its namespace
          o.enqueue(namespaceOf(s));
        },
      },
      ...(o.observer ? { observer: o.observer } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
    });

  let credentials: Informer<V1Secret> | NamedInformers<V1Secret>;
  let managedSecrets: Informer<CachedPullSecret> | NamedInformers<CachedPullSecret>;
  let secretInformers: InformerControl[];
  if (o.restrictTo === undefined) {
    const c = credentialsInformer("credentials");
    const m = pullSecretsInformer("managed-secrets", { labelSelector: MANAGED_SELECTOR });
    credentials = c;
    managedSecrets = m;
    secretInformers = [c, m];
  } else {
    const hosts = [...new Set(o.restrictTo)];
    const byCredentialName = new Map<string, Informer<V1Secret>>();
    const byHost = new Map<string, Informer<CachedPullSecret>>();
    for (const host of hosts) {
      const credName = credentialSecretName(o.credentialsSecretPrefix, host);
      byCredentialName.set(
        credName,
        credentialsInformer(credentialsInformerName(host), `metadata.name=${credName}`),
      );
      byHost.set(
        host,
        pullSecretsInformer(pullSecretsInformerName(host), { fieldSelector: `metadata.name=${host}` }),
      );
    }
    const c = new NamedInformers(byCredentialName);
    const m = new NamedInformers(byHost);
    credentials = c;
    managedSecrets = m;
    secretInformers = [...c.informers(), ...m.informers()];
  }

  const serviceAccountPool = new InternPool();
  const serviceAccounts = o.serviceAccounts
    ? new Informer<V1ServiceAccount>({
        name: "service-accounts",
        watch: o.rest,
        path: "/api/v1/serviceaccounts",
        list: listPages<V1ServiceAccount>("/api/v1/serviceaccounts"),
        clock: o.clock,
        // A pool of its own: many distinct ServiceAccount names must not churn the pull secrets' pool.
        transform: (sa) =>
          trimServiceAccount(sa, serviceAccountPool, (ns) => namespaces.get(ns)?.metadata?.name),
        handlers: {
          onAdd: (sa) => {
            o.enqueue(namespaceOf(sa));
          },
          onUpdate: (old, cur) => {
            if (relevantServiceAccount(old) !== relevantServiceAccount(cur)) o.enqueue(namespaceOf(cur));
          },
          // A deleted ServiceAccount needs nothing: what eatr added went with it.
        },
        ...(o.observer ? { observer: o.observer } : {}),
        ...(o.logger ? { logger: o.logger } : {}),
      })
    : undefined;

  const informers = [namespaces, ...secretInformers, ...(serviceAccounts ? [serviceAccounts] : [])];
  return {
    namespaces,
    credentials,
    managedSecrets,
    serviceAccounts,
    namespacesUsing: (registry) => namespaces.byIndex(BY_REGISTRY, registry).map(nameOf),
    all: () => informers,
  };
}
