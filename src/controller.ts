import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { realClock, sleep, type Clock, type TimerHandle } from "./clock.ts";
import { credentialSecretName } from "./ecr/credentials.ts";
import { TokenCache } from "./ecr/token-cache.ts";
import type { TokenProvider } from "./ecr/token-provider.ts";
import { createSources, type Sources } from "./informers/sources.ts";
import { EventRecorder } from "./kube/event-recorder.ts";
import { RestClient } from "./kube/rest.ts";
import { ControllerMetrics, ecrResult } from "./metrics/metrics.ts";
import { PrometheusWorkqueueMetrics } from "./queue/metrics.ts";
import { RateLimitingQueue } from "./queue/rate-limiting-queue.ts";
import { runWorkers, type WorkerPool } from "./queue/worker-pool.ts";
import { NamespaceReconciler, secretRef } from "./reconcilers/namespace-reconciler.ts";
import { OwnWrites } from "./reconcilers/own-writes.ts";
import { SecretWriter } from "./reconcilers/secret-writer.ts";

export const CONTROLLER_NAME = "eatr";

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly tokenProvider: TokenProvider;
  readonly logger: Logger;
  readonly metrics: ControllerMetrics;
  readonly hostNamespace: string;
  readonly credentialsSecretPrefix: string;
  readonly renewalIntervalMs: number;
  readonly tokenSafetyMarginMs: number;
  /** Every cached namespace is re-queued this often (0 = never); costs no API call unless there is drift. */
  readonly resyncIntervalMs: number;
  readonly workers: number;
  readonly kubeApiQps: number;
  readonly kubeApiBurst: number;
  readonly clock?: Clock;
  /** This process's identity in Events; defaults to hostname + random suffix. */
  readonly identity?: string;
}

/**
 * The controller: informers feed namespace keys into a rate-limited, de-duplicating queue; workers
 * reconcile them against the caches with tokens from the per-registry cache. main.ts only wires this up.
 */
export class Controller {
  readonly identity: string;
  readonly sources: Sources;
  readonly queue: RateLimitingQueue;
  readonly tokens: TokenCache;
  private readonly o: ControllerOptions;
  private readonly clock: Clock;
  private readonly reconciler: NamespaceReconciler;
  /** Aborted to halt every pull secret write at once (leadership lost). */
  private readonly writes = new AbortController();
  /** Records Events (also used by main for leader election transitions). */
  readonly events: EventRecorder;
  private workers: WorkerPool | undefined;
  private resyncTimer: TimerHandle | undefined;
  private started = false;
  private stopped = false;

  constructor(options: ControllerOptions) {
    this.o = options;
    this.clock = options.clock ?? realClock;
    this.identity = options.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`;
    const { logger, metrics } = options;
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    // Pull secret writes and lists go through the lean JSON client; Events use client-node's API.
    const rest = new RestClient(options.kubeConfig);
    const ownWrites = new OwnWrites();
    this.queue = new RateLimitingQueue({
      name: CONTROLLER_NAME,
      clock: this.clock,
      metrics: new PrometheusWorkqueueMetrics({ registry: metrics.registry }),
    });
    const events = (this.events = new EventRecorder({
      core,
      clock: this.clock,
      component: CONTROLLER_NAME,
      instance: this.identity,
      logger,
    }));
    this.sources = createSources({
      rest,
      clock: this.clock,
      hostNamespace: options.hostNamespace,
      credentialsSecretPrefix: options.credentialsSecretPrefix,
      enqueue: (ns) => {
        this.queue.add(ns);
      },
      isOwnWrite: (s) =>
        ownWrites.isEcho(s.metadata?.namespace ?? "", s.metadata?.name ?? "", s.metadata?.resourceVersion),
      credentialsChanged: (registry) => {
        this.tokens.invalidate(registry);
        this.enqueueUsersOf(registry);
      },
      logger,
      observer: {
        relisted: (name) => {
          metrics.informerRelists.inc({ informer: name });
        },
        watchError: (name) => {
          metrics.informerWatchErrors.inc({ informer: name });
        },
      },
    });
    metrics.observeInformers(() =>
      this.sources.all().map((i) => ({ name: i.name, synced: i.hasSynced(), healthy: i.isHealthy() })),
    );
    this.tokens = new TokenCache({
      provider: options.tokenProvider,
      clock: this.clock,
      renewalIntervalMs: options.renewalIntervalMs,
      safetyMarginMs: options.tokenSafetyMarginMs,
      onRefreshDue: (registry) => {
        if (this.sources.namespacesUsing(registry).length > 0) {
          this.enqueueUsersOf(registry);
          return;
        }
        // Nobody uses this registry any more: forget its token rather than renew it, and stop reporting
        // an expiry that nothing depends on (it would raise the token-expiry alert).
        this.tokens.invalidate(registry);
        metrics.tokenExpiry.remove({ registry });
        logger.info({ registry }, "no namespace uses this registry any more; its token is no longer renewed");
      },
      observer: {
        fetched: (registry, token, renewal) => {
          metrics.ecrTokenRequests.inc({ registry, result: "success" });
          if (token.expiresAtMs !== undefined)
            metrics.tokenExpiry.set({ registry }, token.expiresAtMs / 1000);
          if (renewal) metrics.secretRenewals.inc();
          logger.info(
            {
              registry,
              renewal,
              expiresAt: token.expiresAtMs === undefined ? null : new Date(token.expiresAtMs).toISOString(),
              refreshAt: new Date(token.refreshAtMs).toISOString(),
            },
            "ECR token fetched",
          );
        },
        failed: (registry, err, retryInMs) => {
          const result = ecrResult(err);
          metrics.ecrTokenRequests.inc({ registry, result });
          logger.warn(
            { registry, err, result, retryInMs },
            "ECR GetAuthorizationToken failed; existing pull secrets kept",
          );
          const cred = this.sources.credentials.get(
            credentialSecretName(options.credentialsSecretPrefix, registry),
            options.hostNamespace,
          );
          if (cred) {
            const name = err instanceof Error ? err.name : "Error";
            events.record(
              secretRef(cred),
              "Warning",
              "TokenRequestFailed",
              `ECR GetAuthorizationToken for ${registry} failed (${name}: ${err instanceof Error ? err.message : String(err)}); retrying in ${Math.round(retryInMs / 1000)}s. Existing pull secrets are kept until they expire.`,
            );
          }
        },
      },
    });
    const writer = new SecretWriter({
      rest,
      clock: this.clock,
      qps: options.kubeApiQps,
      burst: options.kubeApiBurst,
      // The API server records who wrote what: with several replicas, writes are traceable to one leader.
      fieldManager: `${CONTROLLER_NAME}/${this.identity}`,
      signal: this.writes.signal,
      observe: (operation, result) => {
        metrics.pullSecretWrites.inc({ operation, result });
      },
      writing: (secret) => {
        ownWrites.begin(secret.metadata?.namespace ?? "", secret.metadata?.name ?? "");
      },
      written: (secret, resourceVersion) => {
        const namespace = secret.metadata?.namespace ?? "";
        if (ownWrites.end(namespace, secret.metadata?.name ?? "", resourceVersion)) this.queue.add(namespace);
      },
    });
    this.reconciler = new NamespaceReconciler({
      caches: {
        namespace: (name) => this.sources.namespaces.get(name),
        credentialSecret: (name) => this.sources.credentials.get(name, options.hostNamespace),
        managedSecrets: (ns) => this.sources.managedSecrets.list(ns),
        managedSecret: (ns, name) => this.sources.managedSecrets.get(name, ns),
      },
      tokens: this.tokens,
      writer,
      events,
      hostNamespace: options.hostNamespace,
      credentialsSecretPrefix: options.credentialsSecretPrefix,
      logger,
      observer: {
        written: (namespace, name) => {
          metrics.secretsCreated.inc(namespace, name);
        },
        conflict: (namespace) => {
          metrics.pullSecretConflicts.inc({ namespace });
        },
        credentialProblem: (registry, reason) => {
          metrics.credentialErrors.inc({ registry, reason });
        },
      },
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
      reconcile: async (key) => {
        await this.reconciler.reconcile(key);
        return undefined;
      },
      concurrency: this.o.workers,
      name: CONTROLLER_NAME,
      registry: this.o.metrics.registry,
      logger: this.o.logger,
      clock: this.clock,
    });
    this.scheduleResync();
  }

  /** Whether the informers' loops are running and the workers (when started) have not died. */
  health(): { ok: boolean; detail: string } {
    const states = this.sources.all().map((i) => `${i.name}=${i.isHealthy() ? "ok" : "retrying"}`);
    return { ok: !this.stopped, detail: states.join(" ") };
  }

  /** Ready once every informer has synced. */
  readiness(): { ok: boolean; detail: string } {
    const pending = this.sources
      .all()
      .filter((i) => !i.hasSynced())
      .map((i) => i.name);
    return pending.length === 0
      ? { ok: true, detail: "all informers synced" }
      : { ok: false, detail: `waiting for ${pending.join(", ")}` };
  }

  /**
   * Stops intake (informers, resync, token timers) and lets in-flight reconciles finish within graceMs.
   * Resolves true when they all finished in time.
   */
  async stop(graceMs: number): Promise<boolean> {
    if (this.stopped) return true;
    this.stopped = true;
    this.resyncTimer?.cancel();
    this.tokens.close();
    await Promise.all(this.sources.all().map((i) => i.stop()));
    if (!this.workers) {
      this.queue.shutDown();
      return true;
    }
    let timer: TimerHandle | undefined;
    const finished = await Promise.race([
      this.workers.stop().then(() => true),
      new Promise<boolean>(
        (resolve) =>
          (timer = this.clock.setTimeout(() => {
            resolve(false);
          }, graceMs)),
      ),
    ]);
    timer?.cancel();
    return finished;
  }

  /** Halts every pull secret write at once, in flight or queued; reconciles then fail fast. Irreversible. */
  haltWrites(reason: string): void {
    this.writes.abort(new Error(reason));
  }

  private enqueueUsersOf(registry: string): void {
    for (const ns of this.sources.namespacesUsing(registry)) this.queue.add(ns);
  }

  private scheduleResync(): void {
    if (this.o.resyncIntervalMs <= 0 || this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      for (const ns of this.sources.namespaces.list()) this.queue.add(ns.metadata?.name ?? "");
      this.scheduleResync();
    }, this.o.resyncIntervalMs);
  }
}
