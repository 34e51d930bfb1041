import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import {
  CoreV1Api,
  type KubeConfig,
  type V1Namespace,
  type V1ObjectReference,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { realClock, sleep, type Clock } from "./clock.ts";
import { credentialSecretName } from "./ecr/credentials.ts";
import { TokenCache } from "./ecr/token-cache.ts";
import type { TokenProvider } from "./ecr/token-provider.ts";
import type { DeclaredRegistry } from "./ecr/declared-registries.ts";
import { TokenReporter } from "./ecr/token-reporter.ts";
import { informersReadiness } from "./informers/informer.ts";
import { EATR_FIELD_MANAGER_PREFIX } from "./informers/pull-secrets.ts";
import { createSources, type Sources } from "./informers/sources.ts";
import { statusOf } from "./kube/api.ts";
import { EventRecorder } from "./kube/event-recorder.ts";
import { OwnWrites } from "./kube/own-writes.ts";
import { RestClient } from "./kube/rest.ts";
import { SecretWriter } from "./kube/secret-writer.ts";
import { WriteLimiter } from "./kube/write-limiter.ts";
import type { ControllerMetrics } from "./metrics/metrics.ts";
import { PrometheusWorkqueueMetrics } from "./queue/metrics.ts";
import { RateLimitingQueue } from "./queue/rate-limiting-queue.ts";
import { Resync } from "./queue/resync.ts";
import { runWorkers, type WorkerPool } from "./queue/worker-pool.ts";
import { Contests } from "./reconcilers/contests.ts";
import { CredentialProblems } from "./reconcilers/credential-problems.ts";
import { NamespaceReconciler, secretRef } from "./reconcilers/namespace-reconciler.ts";
import { Notices } from "./reconcilers/notices.ts";
import { RegistryRenewals } from "./reconcilers/registry-renewals.ts";
import {
  FreshPullSecrets,
  reconcileWithServiceAccounts,
  ServiceAccountReconciler,
} from "./reconcilers/service-accounts.ts";
import { NO_SERVICE_ACCOUNTS, parseSelection } from "./domain/service-accounts.ts";
import { RegistryPolicy } from "./domain/registry-policy.ts";
import { isManaged } from "./domain/pull-secret.ts";
import { ServiceAccountWriter } from "./kube/service-account-writer.ts";

export const CONTROLLER_NAME = "eatr";

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly tokenProvider: TokenProvider;
  readonly logger: Logger;
  readonly metrics: ControllerMetrics;
  readonly hostNamespace: string;
  readonly credentialsSecretPrefix: string;
  /** The config file's `registries` list (credential sources; a declared registry needs no secret). */
  readonly registries?: readonly DeclaredRegistry[];
  /** This installation's id (installationId(): its Lease), recorded on every pull secret it writes. */
  readonly installation: string;
  readonly renewalIntervalMs: number;
  readonly tokenSafetyMarginMs: number;
  /** Every cached namespace is re-queued this often (0 = never); costs no API call unless there is drift. */
  readonly resyncIntervalMs: number;
  readonly workers: number;
  /** The client-side limit on every write (pull secrets and Events; not Lease renewals). */
  readonly kubeApiQps: number;
  readonly kubeApiBurst: number;
  readonly clock?: Clock;
  /** This process's identity in Events; defaults to hostname + random suffix. */
  readonly identity?: string;
  /**
   * ServiceAccount imagePullSecrets (-manage-service-accounts): undefined leaves ServiceAccounts alone (no
   * informer, no RBAC needed); a string turns the feature on with that cluster-wide selection (-service-accounts).
   */
  readonly serviceAccounts?: string;
  /**
   * -restrict-to-declared-registries: serve only `registries` (labels for other hosts are refused with a
   * Warning Event), and read secrets only by the names the declared hosts give them.
   */
  readonly restrictToDeclaredRegistries?: boolean;
}

/**
 * The controller: informers feed namespace keys into a rate-limited, de-duplicating queue; workers
 * reconcile them against the caches with tokens from the per-registry cache. It only builds and wires
 * the parts; each part holds its own policy. main.ts runs it.
 */
export class Controller {
  readonly identity: string;
  readonly sources: Sources;
  readonly queue: RateLimitingQueue;
  readonly tokens: TokenCache;
  /** Records Events (also used by main for leader election transitions). */
  readonly events: EventRecorder;
  private readonly o: ControllerOptions;
  private readonly clock: Clock;
  private readonly reconciler: NamespaceReconciler;
  private readonly serviceAccounts: ServiceAccountReconciler | undefined;
  private readonly resync: Resync;
  private readonly credentialProblems: CredentialProblems;
  /** Which registries each namespace gets (labels, namespaceSelector, excludeNamespaces, restriction). */
  private readonly registryPolicy: RegistryPolicy;
  /** Aborted to halt every pull secret write at once (leadership lost). */
  private readonly writes = new AbortController();
  private workers: WorkerPool | undefined;
  private started = false;
  private stopped = false;

  constructor(options: ControllerOptions) {
    this.o = options;
    const clock = (this.clock = options.clock ?? realClock);
    this.identity = options.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`;
    const { logger, metrics, hostNamespace, credentialsSecretPrefix } = options;
    // Pull secret writes and lists go through the lean JSON client; Events use client-node's API.
    const rest = new RestClient(options.kubeConfig);
    const limiter = new WriteLimiter({
      qps: options.kubeApiQps,
      burst: options.kubeApiBurst,
      clock,
      logger,
      throttled: (operation) => {
        metrics.kubeApiThrottled.inc({ operation });
      },
    });
    metrics.observeWriteRate(() => limiter.rate);
    const queue = (this.queue = new RateLimitingQueue({
      name: CONTROLLER_NAME,
      clock,
      metrics: new PrometheusWorkqueueMetrics({ registry: metrics.registry }),
    }));
    const enqueue = (ns: string): void => {
      queue.add(ns);
    };
    const events = (this.events = new EventRecorder({
      core: options.kubeConfig.makeApiClient(CoreV1Api),
      clock,
      component: CONTROLLER_NAME,
      instance: this.identity,
      logger,
      limiter,
    }));
    const ownWrites = new OwnWrites({ missed: enqueue });
    const registryPolicy = (this.registryPolicy = new RegistryPolicy({
      registries: options.registries ?? [],
      restrictToDeclared: options.restrictToDeclaredRegistries === true,
    }));
    const sources = (this.sources = createSources({
      rest,
      clock,
      hostNamespace,
      credentialsSecretPrefix,
      enqueue,
      ownWrites,
      credentialsChanged: (registry) => {
        this.tokens.invalidate(registry);
        renewals.settled(registry);
      },
      logger,
      serviceAccounts: options.serviceAccounts !== undefined,
      observer: metrics.informerObserver(),
      registryPolicy,
      // Restricted: one watch per declared host, by name (README "Least privilege").
      ...(options.restrictToDeclaredRegistries === true
        ? { restrictTo: (options.registries ?? []).map((r) => r.host) }
        : {}),
    }));
    metrics.observeInformers(() =>
      sources.all().map((i) => ({ name: i.name, synced: i.hasSynced(), healthy: i.isHealthy() })),
    );
    const credentialRef = (registry: string): V1ObjectReference | undefined => {
      const secret = sources.credentials.get(
        credentialSecretName(credentialsSecretPrefix, registry),
        hostNamespace,
      );
      return secret === undefined ? undefined : secretRef(secret);
    };
    const reporter = new TokenReporter({ metrics, logger, events, credentialSecret: credentialRef });
    const renewals = new RegistryRenewals({
      usersOf: (registry) => sources.namespacesUsing(registry),
      enqueue,
      forget: (registry) => {
        this.tokens.invalidate(registry);
        reporter.forgotten(registry);
      },
    });
    this.tokens = new TokenCache({
      provider: options.tokenProvider,
      clock,
      renewalIntervalMs: options.renewalIntervalMs,
      safetyMarginMs: options.tokenSafetyMarginMs,
      onRefreshDue: (registry) => {
        renewals.due(registry);
      },
      onSettled: (registry) => {
        renewals.settled(registry);
      },
      observer: reporter,
    });
    this.credentialProblems = new CredentialProblems({
      clock,
      events,
      logger,
      usersOf: (registry) => sources.namespacesUsing(registry),
      observer: metrics.credentialProblemObserver(),
    });
    const counted = metrics.reconcileObserver();
    // Only with the ServiceAccount feature: pull secrets just written, for the ServiceAccounts' pass.
    const fresh = options.serviceAccounts === undefined ? undefined : new FreshPullSecrets();
    this.serviceAccounts = fresh && this.serviceAccountReconciler(rest, limiter, fresh);
    this.reconciler = new NamespaceReconciler({
      caches: {
        namespace: (name) => sources.namespaces.get(name),
        credentialSecret: (name) => sources.credentials.get(name, hostNamespace),
        managedSecrets: (ns) => sources.managedSecrets.list(ns),
        managedSecret: (ns, name) => sources.managedSecrets.get(name, ns),
      },
      tokens: this.tokens,
      writer: new SecretWriter({
        rest,
        limiter,
        // The API server records who wrote what: with several replicas, writes are traceable to one leader.
        // The cache trusts data whose managedFields name only such managers (src/informers/pull-secrets.ts).
        fieldManager: `${EATR_FIELD_MANAGER_PREFIX}${this.identity}`,
        signal: this.writes.signal,
        ownWrites,
        observe: (operation, result) => {
          metrics.pullSecretWrites.inc({ operation, result });
        },
      }),
      events,
      hostNamespace,
      credentialsSecretPrefix,
      declaredRegistry: (host) => options.registries?.find((r) => r.host === host),
      registryPolicy,
      liveNamespace: async (name) => {
        try {
          return await rest.get<V1Namespace>(`/api/v1/namespaces/${encodeURIComponent(name)}`);
        } catch (err) {
          if (statusOf(err) === 404) return undefined;
          throw err;
        }
      },
      installation: options.installation,
      credentialProblems: this.credentialProblems,
      contests: new Contests({ clock }),
      notices: new Notices(clock),
      logger,
      observer: {
        ...counted,
        written: (namespace, name) => {
          counted.written(namespace, name);
          fresh?.written(namespace, name);
        },
      },
    });
    this.resync = new Resync({
      clock,
      intervalMs: options.resyncIntervalMs,
      keys: () => sources.namespaces.list().map((ns) => ns.metadata?.name ?? ""),
      add: enqueue,
    });
  }

  /** The ServiceAccount reconciler when the feature is on (options.serviceAccounts), else undefined. */
  private serviceAccountReconciler(
    rest: RestClient,
    limiter: WriteLimiter,
    fresh: FreshPullSecrets,
  ): ServiceAccountReconciler | undefined {
    const { serviceAccounts, metrics, logger } = this.o;
    const informer = this.sources.serviceAccounts;
    if (serviceAccounts === undefined || informer === undefined) return undefined;
    const selection = parseSelection(serviceAccounts);
    if ("error" in selection) throw new Error(`service-accounts: ${selection.error}`);
    return new ServiceAccountReconciler({
      caches: {
        namespace: (name) => this.sources.namespaces.get(name),
        serviceAccounts: (ns) => informer.list(ns),
        pullSecretExists: (ns, host) =>
          // isManaged: in restricted mode the cache also shows someone else's secret of that name.
          fresh.exists(ns, host, isManaged(this.sources.managedSecrets.get(host, ns))),
      },
      api: new ServiceAccountWriter({
        rest,
        limiter,
        fieldManager: `${CONTROLLER_NAME}/${this.identity}`,
        signal: this.writes.signal,
        observe: (operation, result) => {
          metrics.serviceAccountUpdates.inc({ operation, result });
        },
      }),
      events: this.events,
      logger,
      defaultSelection: selection.kind === "none" ? NO_SERVICE_ACCOUNTS : selection,
      signal: this.writes.signal,
      registries: (ns) => this.registryPolicy.wanted(ns),
    });
  }

  /** Starts the informers (every replica runs them, so caches are warm). Returns at once. */
  startInformers(): void {
    for (const informer of this.sources.all()) informer.start();
  }

  /** Resolves once every informer has filled its cache, or rejects when the signal aborts first. */
  async waitForSync(signal: AbortSignal): Promise<void> {
    while (!this.sources.all().every((i) => i.hasSynced())) {
      if (signal.aborted) throw new Error("stopped before the caches synced");
      await sleep(this.clock, 50, signal);
    }
  }

  /** Starts the workers and the periodic resync. Call after waitForSync. */
  startWorkers(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.workers = runWorkers({
      queue: this.queue,
      reconcile: (key) =>
        this.serviceAccounts === undefined
          ? this.reconciler.reconcile(key)
          : reconcileWithServiceAccounts(key, {
              secrets: (k) => this.reconciler.reconcile(k),
              serviceAccounts: this.serviceAccounts,
              signal: this.writes.signal,
            }),
      concurrency: this.o.workers,
      name: CONTROLLER_NAME,
      registry: this.o.metrics.registry,
      logger: this.o.logger,
      clock: this.clock,
      // Halted writes (a lost lease) stop the pool too: no new reconcile starts, and the ones the halt
      // cuts short are logged as that, not as errors.
      signal: this.writes.signal,
    });
    this.resync.start();
  }

  /** Whether the informers' loops are running and the workers (when started) have not died. */
  health(): { ok: boolean; detail: string } {
    const states = this.sources.all().map((i) => `${i.name}=${i.isHealthy() ? "ok" : "retrying"}`);
    return { ok: !this.stopped, detail: states.join(" ") };
  }

  /** Ready once every informer has synced, and while none is failing (the detail names server and since when). */
  readiness(): { ok: boolean; detail: string } {
    return informersReadiness(this.sources.all().map((i) => i.state()));
  }

  /**
   * Stops intake (informers, resync, token timers) and lets in-flight reconciles finish within graceMs.
   * Resolves true when they all finished in time.
   */
  async stop(graceMs: number): Promise<boolean> {
    if (this.stopped) return true;
    this.stopped = true;
    this.resync.stop();
    this.tokens.close();
    this.credentialProblems.close();
    await Promise.all(this.sources.all().map((i) => i.stop()));
    if (!this.workers) {
      this.queue.shutDown();
      return true;
    }
    const abort = new AbortController();
    const finished = await Promise.race([
      this.workers.stop().then(() => true),
      sleep(this.clock, graceMs, abort.signal).then(() => false),
    ]);
    abort.abort();
    return finished;
  }

  /** Halts every pull secret write at once, in flight or queued; reconciles then fail fast. Irreversible. */
  haltWrites(reason: string): void {
    this.writes.abort(new Error(reason));
  }
}
