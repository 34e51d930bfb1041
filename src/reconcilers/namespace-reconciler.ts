import type { V1Namespace, V1ObjectReference, V1Secret } from "@kubernetes/client-node";
import {
  ANNOTATIONS,
  buildPullSecret,
  isManaged,
  recordedToken,
  writtenBy,
  type RecordedToken,
} from "../domain/pull-secret.ts";
import { nearMissLabels, OPT_IN_VALUE } from "../domain/registry-labels.ts";
import { LABELS_ONLY, type RegistryPolicy } from "../domain/registry-policy.ts";
import {
  credentialSecretName,
  CredentialsError,
  parseCredentials,
  type AwsCredentials,
} from "../ecr/credentials.ts";
import { credentialsVersion } from "../ecr/credentials-version.ts";
import {
  declaredCredentials,
  declaredVersion,
  mergeDeclared,
  type DeclaredRegistry,
} from "../ecr/declared-registries.ts";
import type { RegistryHost } from "../ecr/registry-host.ts";
import type { CachedPullSecret } from "../informers/pull-secrets.ts";
import { TokenPendingError, type CachedToken } from "../ecr/token-cache.ts";
import { describeApiError, isNamespaceTerminating, statusBody, statusOf } from "../kube/api.ts";
import type { EventType } from "../kube/event-recorder.ts";
import type { PullSecretWriter } from "../kube/secret-writer.ts";
import type { ReconcileResult } from "../queue/worker-pool.ts";
import type { Contests } from "./contests.ts";
import type { CredentialProblems } from "./credential-problems.ts";
import type { Notices } from "./notices.ts";
import { KnownContents } from "./known-contents.ts";
import { decide, type ConflictReason, type Contents, type Verdict } from "./verdict.ts";

/** Read-only views of the informer caches the reconciler needs. */
export interface Caches {
  namespace(name: string): V1Namespace | undefined;
  /** A credential secret in the host namespace. */
  credentialSecret(name: string): V1Secret | undefined;
  /**
   * Pull secrets in a namespace, metadata only: the managed ones (label selected), or in restricted mode
   * every secret named after a declared host, someone else's included.
   */
  managedSecrets(namespace: string): CachedPullSecret[];
  /** One of them, by namespace and name. */
  managedSecret(namespace: string, name: string): CachedPullSecret | undefined;
}

/** The Contents of a secret whose managedFields show only eatr set them: what eatr wrote with its annotations. */
const WRITTEN_BY_EATR: Contents = { asDesired: true, seedShaped: true, immutable: false };

/** The token cache as the reconciler uses it. */
export interface Tokens {
  peek(registryHost: string): CachedToken | undefined;
  prime(registryHost: string, token: RecordedToken, credentialsVersion: string): boolean;
  /** A usable token, or throws (TokenPendingError while the first one is being fetched). */
  get(registry: RegistryHost, credentials: AwsCredentials, credentialsVersion: string): Promise<CachedToken>;
  /**
   * After get threw: ms until ECR may be called again for the registry (its failure backoff), if that is
   * why. The cache re-queues the registry's namespaces then (onRefreshDue), as it does when a fetch settles.
   */
  unavailableForMs(registryHost: string): number | undefined;
}

export interface ReconcileEvents {
  record(obj: V1ObjectReference, type: EventType, reason: string, message: string): void;
}

export interface ReconcileObserver {
  /** A pull secret was created or updated (the seed's secrets_created_total). */
  written?(namespace: string, name: string, verdict: "create" | "update"): void;
  /** A secret eatr cannot manage as it wants, reported (once per backoff step while it lasts). */
  conflict?(namespace: string, name: string, reason: ConflictReason | "contested" | "undeclared"): void;
}

export interface ReconcileLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface NamespaceReconcilerOptions {
  readonly caches: Caches;
  readonly tokens: Tokens;
  /**
   * Reads a Namespace from the API server (GET; undefined when it is gone). Before deleting a pull secret
   * its namespace no longer asks for, eatr checks the live namespace: a replica whose namespace watch was
   * cut off (a partition it has not noticed yet) and that just became leader must not delete a secret on a
   * label change it has not seen. Unset: the cache is trusted (unit tests).
   */
  readonly liveNamespace?: (name: string) => Promise<V1Namespace | undefined>;
  readonly writer: PullSecretWriter;
  readonly events: ReconcileEvents;
  readonly hostNamespace: string;
  readonly credentialsSecretPrefix: string;
  /** The config file's `registries` entry for a host, if any (a declared registry needs no secret). */
  readonly declaredRegistry?: (host: string) => DeclaredRegistry | undefined;
  /**
   * Which registries a namespace gets (labels, namespaceSelector, excludeNamespaces) and, with
   * -restrict-to-declared-registries, which hosts eatr may touch at all. Default: labels only, every host.
   */
  readonly registryPolicy?: Pick<RegistryPolicy, "wants" | "manages">;
  /** This installation's id (installationId()), recorded on every pull secret it writes. */
  readonly installation: string;
  /** Registry-wide credential problems, reported once for all the namespaces they affect. */
  readonly credentialProblems: Pick<CredentialProblems, "report" | "resolved">;
  /** Fights with another installation over a secret. */
  readonly contests: Pick<Contests, "check" | "wrote">;
  /** Throttles repeated per-secret problem reports to one per backoff step. */
  readonly notices: Pick<Notices, "due" | "clear">;
  readonly logger: ReconcileLogger;
  readonly observer?: ReconcileObserver;
  /** What was read of secrets that someone else had a hand in; default: a fresh one. */
  readonly knownContents?: KnownContents;
}

/** A namespace's registries that could not be served this time; the queue retries with backoff. */
export class ReconcileError extends Error {
  override readonly name = "ReconcileError";
}

/** Stop reconciling this namespace: it is being deleted. */
const TERMINATING = Symbol("terminating");
type Step = { requeueAfterMs?: number } | typeof TERMINATING | undefined;

/** How soon a namespace whose cache was found behind the API server is looked at again. */
const STALE_CACHE_REQUEUE_MS = 5_000;

/**
 * Level-based reconcile of one namespace (the key): makes its managed pull secrets match its registry
 * labels. Reads state only from the caches; writes only through the PullSecretWriter. Registry-wide
 * problems go to CredentialProblems; only namespace-specific ones raise Events here.
 */
export class NamespaceReconciler {
  private readonly o: NamespaceReconcilerOptions;
  /** Secrets of the same name that belong to someone else (not in the managed cache): read, don't create. */
  private readonly foreign = new Set<string>();
  /** Near-miss labels already told about (once per process). */
  private readonly told = new Set<string>();
  private readonly known: KnownContents;
  /** Token priming reads in flight, by registry (concurrent reconciles of a registry wait for the one). */
  private readonly priming = new Map<string, Promise<void>>();
  /** Registry and credentials version pairs a token was primed from a pull secret for (tried once). */
  private readonly primed = new Set<string>();

  constructor(options: NamespaceReconcilerOptions) {
    this.o = options;
    this.known = options.knownContents ?? new KnownContents();
  }

  async reconcile(namespace: string): Promise<ReconcileResult | undefined> {
    const ns = this.o.caches.namespace(namespace);
    const log = { namespace };
    if (!ns) {
      this.o.logger.debug(log, "namespace gone: nothing to do");
      return undefined;
    }
    if (ns.metadata?.deletionTimestamp !== undefined || (ns.status?.phase ?? "Active") !== "Active") {
      this.o.logger.debug(log, "namespace is terminating: skipped");
      return undefined;
    }
    this.tellNearMisses(ns);
    const policy = this.o.registryPolicy ?? LABELS_ONLY;
    const wants = policy.wants(ns);
    for (const registry of wants.undeclared) this.tellUndeclared(ns, registry.host);
    const wanted = new Map(wants.wanted.map((r) => [r.host, r]));
    const failures: string[] = [];
    let requeueAfterMs: number | undefined;
    const later = (step: Step): boolean => {
      if (step === TERMINATING) return false;
      const after = step?.requeueAfterMs;
      if (after !== undefined) requeueAfterMs = Math.min(requeueAfterMs ?? after, after);
      return true;
    };

    for (const cached of this.o.caches.managedSecrets(namespace)) {
      // Someone else's secret named after a registry (seen in restricted mode) is never deleted: not read.
      if (!isManaged(cached) || wanted.has(cached.metadata?.name ?? "")) continue;
      const registry = cached.metadata?.annotations?.[ANNOTATIONS.registry] ?? cached.metadata?.name ?? "";
      if (!policy.manages(cached.metadata?.name ?? "") || !policy.manages(registry)) {
        // Restricted mode: a secret of an undeclared registry is left as it is, never deleted.
        this.o.logger.debug({ namespace, registry }, "pull secret of an undeclared registry left alone");
        continue;
      }
      if (await this.stillWanted(namespace, cached.metadata?.name ?? "", policy)) {
        // The cache is behind the API server: its namespace event is on the way; look again shortly.
        later({ requeueAfterMs: STALE_CACHE_REQUEUE_MS });
        continue;
      }
      const { actual, contents } = await this.beforeDelete(namespace, cached);
      if (!later(await this.apply(ns, registry, decide(undefined, actual, contents)))) return undefined;
    }

    for (const registry of wanted.values()) {
      try {
        if (!later(await this.ensure(ns, registry))) return undefined;
      } catch (err) {
        failures.push(`${registry.host}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (failures.length > 0) {
      throw new ReconcileError(`namespace ${namespace}: ${failures.join("; ")}`);
    }
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  /** Makes one registry's pull secret current. */
  private async ensure(ns: V1Namespace, registry: RegistryHost): Promise<Step> {
    const namespace = ns.metadata?.name ?? "";
    const credName = credentialSecretName(this.o.credentialsSecretPrefix, registry.host);
    const credSecret = this.o.caches.credentialSecret(credName);
    const log = { namespace, registry: registry.host };
    const declared = this.o.declaredRegistry?.(registry.host);
    const fromDeclaration = credSecret || !declared ? undefined : declaredCredentials(declared, registry);
    if (!credSecret && !fromDeclaration) {
      this.o.logger.debug(log, "credential secret missing; existing pull secret kept");
      this.o.credentialProblems.report(registry.host, namespace, {
        reason: "missing",
        where: { apiVersion: "v1", kind: "Secret", namespace: this.o.hostNamespace, name: credName },
        detail: `No credential secret ${this.o.hostNamespace}/${credName}: create it with keys aws_access_key_id and aws_secret_access_key${declared ? ` (the registries entry says source ${declared.source}, which needs them)` : ", or aws_role_arn, or declare the registry in the config file's registries list"}.`,
      });
      return undefined;
    }
    let credentials: AwsCredentials;
    let version: string;
    if (credSecret) {
      let fromSecret: AwsCredentials;
      try {
        fromSecret = parseCredentials(credSecret, registry);
        credentials = mergeDeclared(fromSecret, declared);
      } catch (err) {
        if (!(err instanceof CredentialsError)) throw err;
        this.o.logger.debug(
          { ...log, err: err.message },
          "credential secret unusable; existing pull secret kept",
        );
        this.o.credentialProblems.report(registry.host, namespace, {
          reason: "invalid",
          where: secretRef(credSecret),
          detail: err.message,
        });
        return undefined;
      }
      const secretVersion = credentialsVersion(credSecret);
      // A declaration that changed nothing keeps the secret's version: no re-mint on upgrade.
      version =
        credentials === fromSecret || !declared ? secretVersion : declaredVersion(declared, secretVersion);
      if (credentials.configuredRegion !== undefined)
        this.tellRegionMismatch(credSecret, registry, credentials.configuredRegion);
    } else {
      credentials = fromDeclaration ?? assertNever();
      version = declared ? declaredVersion(declared) : "";
    }
    this.o.credentialProblems.resolved(registry.host);
    const cached = this.o.caches.managedSecret(namespace, registry.host);
    if (cached && this.o.tokens.peek(registry.host) === undefined) await this.primeToken(cached, version);
    await this.priming.get(registry.host);
    let token: CachedToken;
    try {
      token = await this.o.tokens.get(registry, credentials, version);
    } catch (err) {
      // The first token is being fetched: this worker does not wait for ECR; the namespace is queued
      // again when the fetch settles.
      if (err instanceof TokenPendingError) {
        this.o.logger.debug(log, "token being fetched; requeued when it arrives");
        return undefined;
      }
      // The registry's ECR call failed and backs off: a registry-wide problem, logged and raised as an
      // Event once for the registry (TokenReporter). Each namespace failing too would log it once per
      // namespace and per queue retry; the cache re-queues every namespace of the registry when its
      // backoff ends, as for a fetch in flight.
      const waitMs = this.o.tokens.unavailableForMs(registry.host);
      if (waitMs === undefined) throw err;
      this.o.logger.debug(
        { ...log, err: err instanceof Error ? err.message : String(err), retryInMs: Math.round(waitMs) },
        "no token for the registry until its next ECR call; requeued then",
      );
      return undefined;
    }
    const desired = buildPullSecret({
      namespace,
      registry,
      authorizationToken: token.authorizationToken,
      fetchedAtMs: token.fetchedAtMs,
      expiresAtMs: token.expiresAtMs,
      credentialsVersion: version,
      installation: this.o.installation,
    });
    const key = `${namespace}/${registry.host}`;
    let actual: V1Secret | undefined;
    let contents: Contents | undefined;
    if (cached) {
      this.foreign.delete(key);
      ({ actual, contents } = await this.contentsOf(cached, desired));
    } else if (this.foreign.has(key)) actual = await this.read(namespace, registry.host);
    const verdict = decide(desired, actual, contents);
    const other = actual === undefined ? undefined : writtenBy(actual);
    const contested = verdict.kind === "update" && other !== undefined && other !== this.o.installation;
    if (contested) {
      const { waitMs, rounds } = this.o.contests.check(key);
      if (waitMs > 0) {
        if (this.o.notices.due(`contested\u0000${key}`))
          this.reportContest(ns, registry.host, other, rounds, waitMs);
        return { requeueAfterMs: waitMs };
      }
    }
    const step = await this.apply(ns, registry.host, verdict, desired, actual);
    if (verdict.kind === "update" || verdict.kind === "create") this.o.contests.wrote(key, contested);
    return step;
  }

  /**
   * The actual secret and what is known of its contents, for a cached pull secret (metadata only). Its
   * contents are known without a read when its managedFields show only eatr set them (then they are what
   * eatr wrote with its annotations: decide() compares those), or when it was read at this very
   * resourceVersion (KnownContents). Otherwise it is read whole (GET) and decided on as read: a hand edit
   * of the data, someone else's secret, an immutable one. Someone else's secret is always read before any
   * write (its cached metadata is trimmed).
   */
  private async contentsOf(
    cached: CachedPullSecret,
    desired: V1Secret,
  ): Promise<{ actual: V1Secret | undefined; contents: Contents | undefined }> {
    const managed = isManaged(cached);
    if (managed && cached.contentsByEatr) return { actual: cached, contents: WRITTEN_BY_EATR };
    const namespace = cached.metadata?.namespace ?? "";
    const name = cached.metadata?.name ?? "";
    const known = this.known.at(namespace, name, cached.metadata?.resourceVersion, desired);
    if (known !== undefined && (managed || !known.seedShaped)) return { actual: cached, contents: known };
    return { actual: await this.read(namespace, name), contents: undefined };
  }

  /**
   * The secret to decide a deletion on: deleting needs the data's proof (isOwnedPullSecret), so it is read
   * (GET) first, unless a read at this resourceVersion already showed it unprovable.
   */
  /**
   * True when the live namespace still asks for this pull secret although the cached one does not. Costs one
   * GET, and only before a delete (a label removal), never on the warm path.
   */
  private async stillWanted(
    namespace: string,
    secretName: string,
    policy: Pick<RegistryPolicy, "wants">,
  ): Promise<boolean> {
    if (this.o.liveNamespace === undefined) return false;
    let live: V1Namespace | undefined;
    try {
      live = await this.o.liveNamespace(namespace);
    } catch (err) {
      throw new Error(`read namespace ${namespace} failed: ${describeApiError(err)}`, { cause: err });
    }
    if (live === undefined) return false;
    const wanted = policy.wants(live).wanted.some((r) => r.host === secretName);
    if (wanted)
      this.o.logger.info(
        { namespace, registry: secretName },
        "pull secret kept: the cached namespace no longer asks for it, but the API server's does (the cache is behind)",
      );
    return wanted;
  }

  private async beforeDelete(
    namespace: string,
    cached: CachedPullSecret,
  ): Promise<{ actual: V1Secret | undefined; contents: Contents | undefined }> {
    const name = cached.metadata?.name ?? "";
    const known = this.known.at(namespace, name, cached.metadata?.resourceVersion, undefined);
    if (known !== undefined && !known.seedShaped) return { actual: cached, contents: known };
    return { actual: await this.read(namespace, name), contents: undefined };
  }

  /** Reads one secret whole (GET) and remembers what it holds; undefined when it does not exist. */
  private async read(namespace: string, name: string): Promise<V1Secret | undefined> {
    let secret: V1Secret | undefined;
    try {
      secret = await this.o.writer.read(namespace, name);
    } catch (err) {
      throw new Error(`read secret ${namespace}/${name} failed: ${describeApiError(err)}`, { cause: err });
    }
    if (secret) this.known.remember(secret);
    return secret;
  }

  /**
   * After a restart, reuses the token a pull secret already carries rather than minting a new one and
   * rewriting every secret: reads that one secret (the cache holds no data) once per registry and
   * credentials version, when its annotations say it was minted with the current credentials and its
   * managedFields that only eatr set its data.
   */
  private async primeToken(cached: CachedPullSecret, version: string): Promise<void> {
    const host = cached.metadata?.name ?? "";
    // Only from a secret whose data no one but eatr set (a hand-edited token is never reused).
    if (!cached.contentsByEatr || cached.metadata?.annotations?.[ANNOTATIONS.credentialsVersion] !== version)
      return;
    const inFlight = this.priming.get(host);
    if (inFlight !== undefined) return inFlight;
    const id = `${host}\u0000${version}`;
    if (this.primed.has(id)) return;
    if (this.primed.size >= 1_000) this.primed.clear();
    this.primed.add(id);
    const priming = (async () => {
      try {
        const secret = await this.read(cached.metadata?.namespace ?? "", host);
        const recorded = secret && recordedToken(secret, host);
        if (recorded?.credentialsVersion === version) this.o.tokens.prime(host, recorded, version);
      } catch (err) {
        // Not fatal: the registry gets a new token instead.
        this.o.logger.debug(
          { registry: host, err: describeApiError(err) },
          "could not read a pull secret's token",
        );
      } finally {
        this.priming.delete(host);
      }
    })();
    this.priming.set(host, priming);
    return priming;
  }

  /**
   * Carries out a verdict. A write that finds the secret other than the cache said (a create answered 409,
   * an update answered 404) decides once more from what the API server has; `again` stops a second round.
   */
  private async apply(
    ns: V1Namespace,
    registry: string,
    verdict: Verdict,
    desired?: V1Secret,
    actual?: V1Secret,
    again = false,
  ): Promise<Step> {
    const namespace = ns.metadata?.name ?? "";
    const log = { namespace, registry, verdict: verdict.kind };
    this.o.logger.debug(log, "reconcile decision");
    try {
      switch (verdict.kind) {
        case "unchanged":
          return undefined;
        case "create":
          try {
            await this.o.writer.create(verdict.secret);
          } catch (err) {
            if (statusOf(err) !== 409 || desired === undefined || again) throw err;
            // A secret of that name exists but is not in our cache: ours but not yet seen, or someone else's.
            const existing = await this.read(namespace, registry);
            return await this.apply(ns, registry, decide(desired, existing), desired, existing, true);
          }
          this.o.observer?.written?.(namespace, registry, "create");
          return undefined;
        case "update":
          try {
            await this.o.writer.update(verdict.secret);
          } catch (err) {
            if (statusOf(err) === 404 && desired !== undefined && !again) {
              // Deleted after our cache saw it (by hand; its watch event is still on the way): write it anew
              // now rather than fail until the cache catches up.
              this.o.logger.debug(log, "pull secret deleted meanwhile; creating it again");
              return await this.apply(ns, registry, decide(desired, undefined), desired, undefined, true);
            }
            // Made immutable after our cache saw it: the same as finding it so.
            if (!isImmutableRefusal(err)) throw err;
            this.conflict(ns, actual ?? verdict.secret, "immutable");
            return undefined;
          }
          if (verdict.adopt) this.o.logger.info(log, "adopted pull secret written by the original eatr");
          this.o.notices.clear(`immutable\u0000${namespace}/${registry}`);
          this.o.observer?.written?.(namespace, registry, "update");
          return undefined;
        case "delete":
          try {
            await this.o.writer.delete(verdict.secret);
          } catch (err) {
            if (statusOf(err) !== 404) throw err;
          }
          this.o.logger.info(log, "removed pull secret: namespace no longer asks for this registry");
          return undefined;
        case "conflict":
          if (verdict.reason === "unmanaged") this.foreign.add(`${namespace}/${registry}`);
          this.conflict(ns, verdict.secret, verdict.reason);
          return undefined;
      }
    } catch (err) {
      if (isNamespaceTerminating(err)) {
        this.o.logger.debug(log, "namespace is terminating: skipped");
        return TERMINATING;
      }
      throw new Error(`${verdict.kind} secret ${namespace}/${registry} failed: ${describeApiError(err)}`, {
        cause: err,
      });
    }
  }

  /** Reports a secret eatr leaves alone: an Event on it, a log line and the metric, once per backoff step. */
  private conflict(ns: V1Namespace, secret: V1Secret, reason: ConflictReason): void {
    const namespace = ns.metadata?.name ?? "";
    const name = secret.metadata?.name ?? "";
    if (!this.o.notices.due(`${reason}\u0000${namespace}/${name}`)) return;
    const { event, message, log } = CONFLICTS[reason](`${namespace}/${name}`, secret);
    this.o.observer?.conflict?.(namespace, name, reason);
    this.o.logger.warn({ namespace, secret: name, reason }, log);
    this.o.events.record(secretRef(secret, namespace), "Warning", event, message);
  }

  private reportContest(
    ns: V1Namespace,
    registry: string,
    other: string,
    rounds: number,
    waitMs: number,
  ): void {
    const namespace = ns.metadata?.name ?? "";
    const ref = `${namespace}/${registry}`;
    this.o.observer?.conflict?.(namespace, registry, "contested");
    this.o.logger.warn(
      {
        namespace,
        secret: registry,
        otherInstallation: other,
        installation: this.o.installation,
        rounds,
        waitMs,
      },
      "another eatr installation keeps rewriting this pull secret; backing off",
    );
    this.o.events.record(
      { apiVersion: "v1", kind: "Secret", namespace, name: registry },
      "Warning",
      "SecretContested",
      `Secret ${ref} keeps being rewritten by another eatr installation (${other}) right after this one (${this.o.installation}) writes it: two installations serve registry ${registry}. Keep one installation per registry (uninstall or narrow the other); until then this one rewrites it at most every ${Math.round(waitMs / 1000)}s.`,
    );
  }

  /** A credential secret's aws_region disagrees with its registry: registry-wide, once per backoff step. */
  private tellRegionMismatch(credSecret: V1Secret, registry: RegistryHost, configured: string): void {
    if (!this.o.notices.due(`region\u0000${registry.host}\u0000${configured}`)) return;
    const where = `${credSecret.metadata?.namespace ?? ""}/${credSecret.metadata?.name ?? ""}`;
    this.o.logger.warn(
      {
        registry: registry.host,
        credentialSecret: where,
        awsRegion: configured,
        hostRegion: registry.region,
      },
      "aws_region of the credential secret disagrees with the registry host; ECR is called in the host's region",
    );
    this.o.events.record(
      secretRef(credSecret),
      "Warning",
      "RegionMismatch",
      `Credential secret ${where} sets aws_region ${configured}, but registry ${registry.host} is in ${registry.region}. ECR tokens work only in their own region, so eatr calls ECR in ${registry.region}; remove aws_region or set it to ${registry.region}.`,
    );
  }

  /**
   * A namespace asks (label "true") for a registry that restricted mode does not serve: a Warning Event on
   * the Namespace, a log line and the metric, once per namespace and registry per backoff step.
   */
  private tellUndeclared(ns: V1Namespace, registry: string): void {
    const namespace = ns.metadata?.name ?? "";
    if (!this.o.notices.due(`undeclared\u0000${namespace}/${registry}`)) return;
    this.o.observer?.conflict?.(namespace, registry, "undeclared");
    this.o.logger.warn(
      { namespace, registry },
      "registry not declared: eatr serves only the registries list (-restrict-to-declared-registries)",
    );
    this.o.events.record(
      namespaceRef(ns),
      "Warning",
      "RegistryNotDeclared",
      `Namespace ${namespace} asks for registry ${registry} (label ${registry}=${OPT_IN_VALUE}), but eatr runs with -restrict-to-declared-registries and ${registry} is not in its registries list: eatr writes, renews and deletes no pull secret for it (one written before is left as it is until its token expires). Add ${registry} to the registries list of eatr's config file (chart value registries), or remove the label (kubectl label namespace ${namespace} ${registry}-).`,
    );
  }

  /** Tells, once, about registry labels whose value looks like an opt-in but is not exactly "true". */
  private tellNearMisses(ns: V1Namespace): void {
    const namespace = ns.metadata?.name ?? "";
    for (const { key, value } of nearMissLabels(ns)) {
      const id = `${namespace}\u0000${key}\u0000${value}`;
      if (this.told.has(id)) continue;
      if (this.told.size >= 10_000) this.told.clear();
      this.told.add(id);
      this.o.logger.info(
        { namespace, label: key, value },
        `registry label ignored: only the value "${OPT_IN_VALUE}" opts a namespace in`,
      );
      this.o.events.record(
        namespaceRef(ns),
        "Normal",
        "RegistryLabelIgnored",
        `Label ${key}=${value} is ignored: only the exact value "${OPT_IN_VALUE}" asks eatr for a pull secret (kubectl label namespace ${namespace} ${key}=${OPT_IN_VALUE} --overwrite).`,
      );
    }
  }
}

const CONFLICTS: Readonly<
  Record<ConflictReason, (ref: string, secret: V1Secret) => { event: string; message: string; log: string }>
> = {
  unmanaged: (ref) => ({
    event: "SecretConflict",
    message: `Secret ${ref} exists and is not managed by eatr (no label app.kubernetes.io/managed-by=eatr); it is left untouched. Delete or rename it to let eatr manage the pull secret for this registry.`,
    log: "a secret of that name exists and is not managed by eatr; left untouched",
  }),
  unproven: (ref) => ({
    event: "SecretNotOwned",
    message: `Secret ${ref} carries the label app.kubernetes.io/managed-by=eatr, but eatr cannot prove it wrote it (its name must be a registry host equal to its eatr/registry annotation, of type kubernetes.io/dockerconfigjson holding only that registry's auths entry); it is never deleted. Remove the label if the secret is yours, or delete it if it is a leftover.`,
    log: "a secret carries eatr's label but is not provably eatr's; never deleted",
  }),
  immutable: (ref, secret) => ({
    event: "SecretImmutable",
    message: `Secret ${ref} is immutable, so eatr cannot renew its ECR token${expirySuffix(secret)}. Delete it (kubectl delete secret -n ${ref.replace("/", " ")}); eatr recreates it at once with a fresh token. An immutable secret cannot be made mutable again.`,
    log: "pull secret is immutable: its token cannot be renewed",
  }),
};

function expirySuffix(secret: V1Secret): string {
  const at = secret.metadata?.annotations?.[ANNOTATIONS.tokenExpiresAt];
  return at === undefined ? "" : ` (the token in it expires at ${at})`;
}

/** The API server's refusal to change an immutable secret (HTTP 422, "field is immutable"). */
function isImmutableRefusal(err: unknown): boolean {
  return statusOf(err) === 422 && /immutable/i.test(statusBody(err).message ?? "");
}

function namespaceRef(ns: V1Namespace): V1ObjectReference {
  // Cluster-scoped: client-go records such events in "default".
  return { apiVersion: "v1", kind: "Namespace", name: ns.metadata?.name ?? "", uid: ns.metadata?.uid ?? "" };
}

/** A reference to a secret, for events. */
export function secretRef(secret: V1Secret, namespace?: string): V1ObjectReference {
  return {
    apiVersion: "v1",
    kind: "Secret",
    name: secret.metadata?.name ?? "",
    namespace: secret.metadata?.namespace ?? namespace ?? "",
    uid: secret.metadata?.uid ?? "",
  };
}

function assertNever(): never {
  throw new Error("unreachable: a declared registry without credentials");
}
