import type { V1Namespace, V1ObjectReference, V1ServiceAccount } from "@kubernetes/client-node";
import { requestedRegistries } from "../domain/registry-labels.ts";
import type { RegistryHost } from "../ecr/registry-host.ts";
import {
  isIgnored,
  isSelected,
  namespaceSelection,
  planImagePullSecrets,
  applyPlan,
  addedByEatr,
  SERVICE_ACCOUNTS_ANNOTATION,
  type ImagePullSecretsPlan,
  type Selection,
} from "../domain/service-accounts.ts";
import { describeApiError, statusOf } from "../kube/api.ts";
import type { EventType } from "../kube/event-recorder.ts";
import type { ServiceAccountApi, ServiceAccountOperation } from "../kube/service-account-writer.ts";
import type { ReconcileResult } from "../queue/worker-pool.ts";

/** Read-only views of the informer caches the ServiceAccount reconciler needs. */
export interface ServiceAccountCaches {
  namespace(name: string): V1Namespace | undefined;
  /** The (trimmed) ServiceAccounts of a namespace. */
  serviceAccounts(namespace: string): V1ServiceAccount[];
  /** True once eatr's pull secret for the registry exists in the namespace (never reference a missing one). */
  pullSecretExists(namespace: string, registryHost: string): boolean;
}

export interface ServiceAccountEvents {
  record(obj: V1ObjectReference, type: EventType, reason: string, message: string): void;
}

export interface ServiceAccountLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ServiceAccountReconcilerOptions {
  readonly caches: ServiceAccountCaches;
  readonly api: ServiceAccountApi;
  readonly events: ServiceAccountEvents;
  readonly logger: ServiceAccountLogger;
  /** The selection of namespaces without the eatr/service-accounts annotation (-service-accounts). */
  readonly defaultSelection: Selection;
  /** Read-modify-write rounds per ServiceAccount before a run gives up (409 each time); default 5. */
  readonly maxAttempts?: number;
  /** The writes' halt signal (leadership lost): once aborted, a reconcile stops at its next step. */
  readonly signal?: AbortSignal;
  /** The registries a namespace gets (RegistryPolicy.wanted); default: its "true" labels. */
  readonly registries?: (ns: V1Namespace) => readonly RegistryHost[];
}

/** ServiceAccounts of a namespace that could not be updated this time; the queue retries with backoff. */
export class ServiceAccountReconcileError extends Error {
  override readonly name = "ServiceAccountReconcileError";
}

/**
 * Level-based reconcile of one namespace's ServiceAccounts (the key): each selected one carries an
 * imagePullSecrets entry for every registry the namespace asks for whose pull secret exists; entries eatr
 * added and no longer wants are removed. Decides from the caches (no call when nothing is to change), then
 * writes by read-modify-write on the live object with its resourceVersion, retrying on 409.
 */
export class ServiceAccountReconciler {
  private readonly o: ServiceAccountReconcilerOptions & { maxAttempts: number };
  /** Invalid annotation values already told about (once per process and value). */
  private readonly told = new Set<string>();

  constructor(options: ServiceAccountReconcilerOptions) {
    this.o = { maxAttempts: 5, ...options };
  }

  async reconcile(namespace: string): Promise<ReconcileResult | undefined> {
    const ns = this.o.caches.namespace(namespace);
    if (!ns || ns.metadata?.deletionTimestamp !== undefined || (ns.status?.phase ?? "Active") !== "Active")
      return undefined;
    const selection = namespaceSelection(
      ns.metadata?.annotations?.[SERVICE_ACCOUNTS_ANNOTATION],
      this.o.defaultSelection,
    );
    if ("error" in selection) {
      this.tellInvalid(ns, selection.error);
      return undefined; // ServiceAccounts are left as they are until the annotation is fixed
    }
    const served = (this.o.registries ?? requestedRegistries)(ns)
      .map((r) => r.host)
      .filter((host) => this.o.caches.pullSecretExists(namespace, host))
      .sort();
    const failures: string[] = [];
    for (const cached of this.o.caches.serviceAccounts(namespace)) {
      if (isIgnored(cached)) continue;
      const wanted = isSelected(selection, cached) ? served : [];
      if (wanted.length === 0 && addedByEatr(cached).length === 0) continue;
      if (!planImagePullSecrets(cached, wanted).changed) continue;
      const name = cached.metadata?.name ?? "";
      try {
        await this.update(namespace, name, wanted);
      } catch (err) {
        if (this.o.signal?.aborted === true) throw err;
        const why = describeApiError(err);
        failures.push(`${name}: ${why}`);
        this.o.logger.warn({ namespace, serviceAccount: name, err: why }, "could not update ServiceAccount");
        this.o.events.record(
          { apiVersion: "v1", kind: "ServiceAccount", namespace, name, uid: cached.metadata?.uid ?? "" },
          "Warning",
          "ServiceAccountUpdateFailed",
          `eatr could not update imagePullSecrets of ServiceAccount ${namespace}/${name} (${why}); it retries with backoff. Annotate it eatr/ignore-service-account=true to have eatr leave it alone.`,
        );
      }
    }
    if (failures.length > 0)
      throw new ServiceAccountReconcileError(
        `namespace ${namespace}: ServiceAccounts not updated: ${failures.join("; ")}`,
      );
    return undefined;
  }

  /** Read-modify-write of one ServiceAccount on its live object, retried on 409. */
  private async update(namespace: string, name: string, wanted: readonly string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const live = await this.o.api.read(namespace, name);
      if (!live || isIgnored(live)) return;
      const plan = planImagePullSecrets(live, wanted);
      if (!plan.changed) return;
      try {
        await this.o.api.update(applyPlan(live, plan), operationOf(live, plan));
        this.o.logger.info(
          { namespace, serviceAccount: name, imagePullSecrets: plan.added },
          "ServiceAccount imagePullSecrets updated",
        );
        return;
      } catch (err) {
        if (statusOf(err) === 404) return;
        if (statusOf(err) !== 409 || attempt >= this.o.maxAttempts) throw err;
        this.o.logger.debug({ namespace, serviceAccount: name, attempt }, "ServiceAccount changed meanwhile");
      }
    }
  }

  private tellInvalid(ns: V1Namespace, error: string): void {
    const namespace = ns.metadata?.name ?? "";
    const id = `${namespace}\u0000${ns.metadata?.annotations?.[SERVICE_ACCOUNTS_ANNOTATION] ?? ""}`;
    if (this.told.has(id)) return;
    if (this.told.size >= 10_000) this.told.clear();
    this.told.add(id);
    this.o.logger.warn(
      { namespace, annotation: SERVICE_ACCOUNTS_ANNOTATION },
      `annotation ignored: ${error}`,
    );
    this.o.events.record(
      { apiVersion: "v1", kind: "Namespace", name: namespace, uid: ns.metadata?.uid ?? "" },
      "Warning",
      "ServiceAccountSelectionInvalid",
      `Annotation ${SERVICE_ACCOUNTS_ANNOTATION} is ignored: ${error}. ServiceAccounts are left as they are until it is fixed.`,
    );
  }
}

function operationOf(live: V1ServiceAccount, plan: ImagePullSecretsPlan): ServiceAccountOperation {
  const before = new Set((live.imagePullSecrets ?? []).map((e) => e.name));
  const after = new Set(plan.imagePullSecrets.map((e) => e.name));
  const added = [...after].some((n) => !before.has(n));
  const removed = [...before].some((n) => !after.has(n));
  return added && removed ? "update" : removed ? "remove" : "add";
}

/**
 * Pull secrets eatr just created that the managed-secret cache may not show yet (their watch echo does not
 * queue the namespace again): so the ServiceAccounts of the same reconcile get them at once. An entry goes
 * once the cache shows the secret; bounded (oldest first).
 */
export class FreshPullSecrets {
  private readonly fresh = new Set<string>();

  written(namespace: string, name: string): void {
    // Bounded: the oldest goes first (its namespace's ServiceAccounts were reconciled long since).
    if (this.fresh.size >= 10_000) {
      const oldest = this.fresh.values().next();
      if (oldest.done !== true) this.fresh.delete(oldest.value);
    }
    this.fresh.add(`${namespace}/${name}`);
  }

  /** True when the cache has the secret, or eatr wrote it and the cache has not caught up. */
  exists(namespace: string, name: string, cached: boolean): boolean {
    const key = `${namespace}/${name}`;
    if (cached) {
      this.fresh.delete(key);
      return true;
    }
    return this.fresh.has(key);
  }
}

/**
 * One namespace's reconcile with its ServiceAccounts: a ServiceAccount pass before the pull secrets (it
 * removes entries for registries no longer asked for before their secret is deleted), the pull secrets,
 * and a pass after (it adds the secrets just created). Each part runs even when an earlier one failed;
 * the first failure is rethrown (retry with backoff). Halted writes (signal aborted) end it at once.
 */
export async function reconcileWithServiceAccounts(
  key: string,
  parts: {
    readonly secrets: (key: string) => Promise<ReconcileResult | undefined>;
    readonly serviceAccounts: ServiceAccountReconciler;
    readonly signal?: AbortSignal;
  },
): Promise<ReconcileResult | undefined> {
  let failure: { err: unknown } | undefined;
  const run = async <T>(part: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await part();
    } catch (err) {
      if (parts.signal?.aborted === true) throw err;
      failure ??= { err };
      return undefined;
    }
  };
  await run(() => parts.serviceAccounts.reconcile(key));
  const result = await run(() => parts.secrets(key));
  if (failure === undefined) await run(() => parts.serviceAccounts.reconcile(key));
  if (failure !== undefined) throw failure.err;
  return result;
}
