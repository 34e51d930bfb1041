import type { V1Namespace, V1ObjectReference, V1Secret } from "@kubernetes/client-node";
import { credentialSecretName, CredentialsError, parseCredentials } from "../ecr/credentials.ts";
import { credentialsVersion } from "../ecr/credentials-version.ts";
import { parseRegistryHost, type RegistryHost } from "../ecr/registry-host.ts";
import type { TokenCache } from "../ecr/token-cache.ts";
import { describeApiError, isNamespaceTerminating, statusOf } from "../kube/api.ts";
import type { EventType } from "../kube/event-recorder.ts";
import { ANNOTATIONS, buildPullSecret, decide, recordedToken, type Verdict } from "./pull-secret.ts";
import type { PullSecretWriter } from "./secret-writer.ts";

/** Read-only views of the informer caches the reconciler needs. */
export interface Caches {
  namespace(name: string): V1Namespace | undefined;
  /** A credential secret in the host namespace. */
  credentialSecret(name: string): V1Secret | undefined;
  /** Managed pull secrets in a namespace. */
  managedSecrets(namespace: string): V1Secret[];
  /** One managed pull secret, by namespace and name. */
  managedSecret(namespace: string, name: string): V1Secret | undefined;
}

export interface ReconcileEvents {
  record(obj: V1ObjectReference, type: EventType, reason: string, message: string): void;
}

export interface ReconcileObserver {
  /** A pull secret was created or updated (the seed's secrets_created_total). */
  written?(namespace: string, name: string, verdict: "create" | "update"): void;
  conflict?(namespace: string, name: string): void;
  credentialProblem?(registry: string, reason: "missing" | "invalid"): void;
}

export interface ReconcileLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface NamespaceReconcilerOptions {
  readonly caches: Caches;
  readonly tokens: TokenCache;
  readonly writer: PullSecretWriter;
  readonly events: ReconcileEvents;
  readonly hostNamespace: string;
  readonly credentialsSecretPrefix: string;
  readonly logger: ReconcileLogger;
  readonly observer?: ReconcileObserver;
}

/** A namespace's registries that could not be served this time; the queue retries with backoff. */
export class ReconcileError extends Error {
  override readonly name = "ReconcileError";
}

/** The registries a namespace asks for: label keys that are ECR hosts, with the value exactly "true". */
export function requestedRegistries(ns: V1Namespace): RegistryHost[] {
  const out: RegistryHost[] = [];
  for (const [key, value] of Object.entries(ns.metadata?.labels ?? {})) {
    if (value !== "true") continue;
    const registry = parseRegistryHost(key);
    if (registry) out.push(registry);
  }
  return out;
}

/**
 * Level-based reconcile of one namespace (the key): makes its managed pull secrets match its registry
 * labels. Reads state only from the caches; writes only through the SecretWriter.
 */
export class NamespaceReconciler {
  private readonly o: NamespaceReconcilerOptions;
  /** Secrets of the same name that belong to someone else (not in the managed cache): read, don't create. */
  private readonly foreign = new Set<string>();

  constructor(options: NamespaceReconcilerOptions) {
    this.o = options;
  }

  async reconcile(namespace: string): Promise<void> {
    const ns = this.o.caches.namespace(namespace);
    const log = { namespace };
    if (!ns) {
      this.o.logger.debug(log, "namespace gone: nothing to do");
      return;
    }
    if (ns.metadata?.deletionTimestamp !== undefined || (ns.status?.phase ?? "Active") !== "Active") {
      this.o.logger.debug(log, "namespace is terminating: skipped");
      return;
    }
    const wanted = new Map(requestedRegistries(ns).map((r) => [r.host, r]));
    const failures: string[] = [];

    for (const secret of this.o.caches.managedSecrets(namespace)) {
      const registry = secret.metadata?.annotations?.[ANNOTATIONS.registry] ?? secret.metadata?.name ?? "";
      if (wanted.has(registry)) continue;
      if (!(await this.apply(ns, registry, decide(undefined, secret)))) return;
    }

    for (const registry of wanted.values()) {
      try {
        if (!(await this.ensure(ns, registry))) return;
      } catch (err) {
        failures.push(`${registry.host}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (failures.length > 0) {
      throw new ReconcileError(`namespace ${namespace}: ${failures.join("; ")}`);
    }
  }

  /** Makes one registry's pull secret current. Returns false when the namespace turned out to be terminating. */
  private async ensure(ns: V1Namespace, registry: RegistryHost): Promise<boolean> {
    const namespace = ns.metadata?.name ?? "";
    const credName = credentialSecretName(this.o.credentialsSecretPrefix, registry.host);
    const credSecret = this.o.caches.credentialSecret(credName);
    if (!credSecret) {
      this.o.observer?.credentialProblem?.(registry.host, "missing");
      this.o.logger.warn(
        { namespace, registry: registry.host, credentialSecret: `${this.o.hostNamespace}/${credName}` },
        "credential secret missing; existing pull secret kept",
      );
      this.o.events.record(
        namespaceRef(ns),
        "Warning",
        "CredentialsMissing",
        `No credential secret ${this.o.hostNamespace}/${credName} for registry ${registry.host}; create it with keys aws_access_key_id and aws_secret_access_key. Any existing pull secret is kept until it expires.`,
      );
      return true;
    }
    let credentials;
    try {
      credentials = parseCredentials(credSecret, registry);
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err;
      this.o.observer?.credentialProblem?.(registry.host, "invalid");
      this.o.logger.warn(
        { namespace, registry: registry.host, err: err.message },
        "credential secret unusable; existing pull secret kept",
      );
      this.o.events.record(secretRef(credSecret), "Warning", "InvalidCredentials", err.message);
      return true;
    }
    const version = credentialsVersion(credSecret);
    const cached = this.o.caches.managedSecret(namespace, registry.host);
    if (cached && this.o.tokens.peek(registry.host) === undefined) {
      // After a restart, reuse the token already written rather than minting a new one and rewriting all.
      const recorded = recordedToken(cached, registry.host);
      if (recorded?.credentialsVersion === version) this.o.tokens.prime(registry.host, recorded, version);
    }
    const token = await this.o.tokens.get(registry, credentials, version);
    const desired = buildPullSecret({
      namespace,
      registry,
      authorizationToken: token.authorizationToken,
      fetchedAtMs: token.fetchedAtMs,
      expiresAtMs: token.expiresAtMs,
      credentialsVersion: version,
    });
    const key = `${namespace}/${registry.host}`;
    let actual = cached;
    if (!actual && this.foreign.has(key)) actual = await this.o.writer.read(namespace, registry.host);
    if (cached) this.foreign.delete(key);
    return this.apply(ns, registry.host, decide(desired, actual), desired);
  }

  /** Carries out a verdict. Returns false when the namespace is terminating (stop, no error). */
  private async apply(
    ns: V1Namespace,
    registry: string,
    verdict: Verdict,
    desired?: V1Secret,
  ): Promise<boolean> {
    const namespace = ns.metadata?.name ?? "";
    const log = { namespace, registry, verdict: verdict.kind };
    this.o.logger.debug(log, "reconcile decision");
    try {
      switch (verdict.kind) {
        case "unchanged":
          return true;
        case "create":
          try {
            await this.o.writer.create(verdict.secret);
          } catch (err) {
            if (statusOf(err) !== 409 || desired === undefined) throw err;
            // A secret of that name exists but is not in our cache: ours but not yet seen, or someone else's.
            const existing = await this.o.writer.read(namespace, registry);
            return await this.apply(ns, registry, decide(desired, existing));
          }
          this.o.observer?.written?.(namespace, registry, "create");
          return true;
        case "update":
          await this.o.writer.update(verdict.secret);
          if (verdict.adopt) this.o.logger.info(log, "adopted pull secret written by the original eatr");
          this.o.observer?.written?.(namespace, registry, "update");
          return true;
        case "delete":
          try {
            await this.o.writer.delete(verdict.secret);
          } catch (err) {
            if (statusOf(err) !== 404) throw err;
          }
          this.o.logger.info(log, "removed pull secret: namespace no longer asks for this registry");
          return true;
        case "conflict":
          this.foreign.add(`${namespace}/${registry}`);
          this.o.observer?.conflict?.(namespace, registry);
          this.o.logger.warn(log, "a secret of that name exists and is not managed by eatr; left untouched");
          this.o.events.record(
            namespaceRef(ns),
            "Warning",
            "SecretConflict",
            `Secret ${namespace}/${registry} exists and is not managed by eatr (no label app.kubernetes.io/managed-by=eatr); it is left untouched. Delete or rename it to let eatr manage the pull secret for ${registry}.`,
          );
          return true;
      }
    } catch (err) {
      if (isNamespaceTerminating(err)) {
        this.o.logger.debug(log, "namespace is terminating: skipped");
        return false;
      }
      throw new Error(`${verdict.kind} secret ${namespace}/${registry} failed: ${describeApiError(err)}`, {
        cause: err,
      });
    }
  }
}

function namespaceRef(ns: V1Namespace): V1ObjectReference {
  // Cluster-scoped: client-go records such events in "default".
  return { apiVersion: "v1", kind: "Namespace", name: ns.metadata?.name ?? "", uid: ns.metadata?.uid ?? "" };
}

/** A reference to a secret, for events. */
export function secretRef(secret: V1Secret): V1ObjectReference {
  return {
    apiVersion: "v1",
    kind: "Secret",
    name: secret.metadata?.name ?? "",
    namespace: secret.metadata?.namespace ?? "",
    uid: secret.metadata?.uid ?? "",
  };
}
