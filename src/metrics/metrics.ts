import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import { WRITE_KINDS } from "../kube/write-limiter.ts";
import { PairCounter } from "./pair-counter.ts";

/** The state of one informer, read when metrics are scraped. */
export interface InformerState {
  readonly name: string;
  readonly synced: boolean;
  readonly healthy: boolean;
}

/**
 * eatr's own metrics, on one prom-client Registry per controller instance (never the global one). The
 * work queue and reconcile metrics are registered on the same registry by src/queue.
 */
export class ControllerMetrics {
  readonly registry: Registry;
  /**
   * The seed's counter: pull secrets created or updated (one per successful write), by namespace and name.
   * Not on the registry (one series per pull secret): scrapes append it, see render().
   */
  readonly secretsCreated: PairCounter;
  /** The seed's counter: registry tokens renewed (a cached token replaced by a fresh one from ECR). */
  readonly secretRenewals: Counter;
  readonly ecrTokenRequests: Counter<"registry" | "result">;
  readonly stsRequests: Counter<"registry" | "result">;
  readonly tokenExpiry: Gauge<"registry">;
  readonly tokenFetched: Gauge<"registry">;
  readonly pullSecretWrites: Counter<"operation" | "result">;
  readonly pullSecretConflicts: Counter<"namespace" | "reason">;
  readonly serviceAccountUpdates: Counter<"operation" | "result">;
  readonly kubeApiThrottled: Counter<"operation">;
  readonly kubeApiWriteRate: Gauge;
  readonly credentialErrors: Counter<"registry" | "reason">;
  readonly credentialsProblem: Gauge<"registry" | "reason">;
  readonly informerSynced: Gauge<"informer">;
  readonly informerHealthy: Gauge<"informer">;
  readonly informerWatchErrors: Counter<"informer">;
  readonly informerRelists: Counter<"informer">;
  private informerStates: () => readonly InformerState[] = () => [];
  private writeRate: (() => number) | undefined;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    collectDefaultMetrics({ register: registry });
    // prom-client names these gauges *_total, which promtool rejects (a _total suffix means a counter).
    for (const name of [
      "nodejs_active_handles_total",
      "nodejs_active_requests_total",
      "nodejs_active_resources_total",
    ]) {
      registry.removeSingleMetric(name);
    }
    this.secretsCreated = new PairCounter({
      name: "secrets_created_total",
      help: "Number of pull secrets created or updated (new or renewed), by namespace and secret name.",
      labelNames: ["namespace", "name"],
    });
    this.secretRenewals = new Counter({
      name: "secret_renewals_total",
      help: "Number of registry token renewals: a cached ECR token replaced by a fresh one, after which every namespace using the registry is rewritten.",
      registers,
    });
    this.ecrTokenRequests = new Counter({
      name: "eatr_ecr_token_requests_total",
      help: "ECR GetAuthorizationToken calls by registry and result (success, throttled, invalid_credentials, error).",
      labelNames: ["registry", "result"],
      registers,
    });
    this.stsRequests = new Counter({
      name: "eatr_sts_requests_total",
      help: "STS calls (AssumeRole, AssumeRoleWithWebIdentity) for registries' credential sources, by registry and result (success, throttled, invalid_credentials, error).",
      labelNames: ["registry", "result"],
      registers,
    });
    this.tokenExpiry = new Gauge({
      name: "eatr_registry_token_expiry_timestamp_seconds",
      help: "Expiry of the cached ECR token of each registry, as a Unix timestamp in seconds.",
      labelNames: ["registry"],
      registers,
    });
    this.tokenFetched = new Gauge({
      name: "eatr_registry_token_fetched_timestamp_seconds",
      help: "When the cached ECR token of each registry was fetched (its last successful refresh), as a Unix timestamp in seconds.",
      labelNames: ["registry"],
      registers,
    });
    this.pullSecretWrites = new Counter({
      name: "eatr_pull_secret_writes_total",
      help: "Pull secret API writes by operation (create, update, delete) and result (success, already_exists, conflict, not_found, error).",
      labelNames: ["operation", "result"],
      registers,
    });
    this.pullSecretConflicts = new Counter({
      name: "eatr_pull_secret_conflicts_total",
      help: "Pull secrets eatr leaves alone, by namespace and reason (unmanaged: someone else's secret of that name; unproven: carries eatr's label without proof eatr wrote it; immutable: cannot be renewed; contested: another eatr installation keeps rewriting it; undeclared: a namespace labelled for a registry that -restrict-to-declared-registries does not serve), counted when reported: at once, then once per backoff step while it lasts.",
      labelNames: ["namespace", "reason"],
      registers,
    });
    this.serviceAccountUpdates = new Counter({
      name: "eatr_service_account_updates_total",
      help: "ServiceAccount imagePullSecrets updates by operation (add, remove, update: both) and result (success, conflict, not_found, error).",
      labelNames: ["operation", "result"],
      registers,
    });
    this.kubeApiThrottled = new Counter({
      name: "eatr_kube_api_throttled_total",
      help: "Writes the API server answered with HTTP 429 (API Priority and Fairness), by operation (secret_create, secret_update, secret_delete, event_create, event_patch, service_account_update); each is sent again after Retry-After while every writer slows down.",
      labelNames: ["operation"],
      registers,
    });
    // Every operation from the start: a dashboard or an alert on rate(...) sees 0, not "no data".
    for (const operation of WRITE_KINDS) this.kubeApiThrottled.inc({ operation }, 0);
    const writeRate = () => this.writeRate?.();
    this.kubeApiWriteRate = new Gauge({
      name: "eatr_kube_api_write_rate",
      help: "Writes per second the API server may receive from eatr now: -kube-api-qps, or less while it backs off after HTTP 429s.",
      registers,
      collect() {
        const rate = writeRate();
        if (rate !== undefined) this.set(rate);
      },
    });
    this.credentialErrors = new Counter({
      name: "eatr_credential_errors_total",
      help: "Times a registry's credentials were found unusable, by registry and reason (missing, invalid): once per occurrence, not per namespace or retry.",
      labelNames: ["registry", "reason"],
      registers,
    });
    this.credentialsProblem = new Gauge({
      name: "eatr_registry_credentials_problem",
      help: "1 while namespaces ask for the registry and its credentials are unusable, by reason (missing, invalid); absent otherwise.",
      labelNames: ["registry", "reason"],
      registers,
    });
    const states = () => this.informerStates();
    this.informerSynced = new Gauge({
      name: "eatr_informer_synced",
      help: "1 once the informer's cache has been filled by its first list.",
      labelNames: ["informer"],
      registers,
      collect() {
        for (const s of states()) this.set({ informer: s.name }, s.synced ? 1 : 0);
      },
    });
    this.informerHealthy = new Gauge({
      name: "eatr_informer_healthy",
      help: "1 while the informer's last list or watch succeeded, 0 while it retries after an error.",
      labelNames: ["informer"],
      registers,
      collect() {
        for (const s of states()) this.set({ informer: s.name }, s.healthy ? 1 : 0);
      },
    });
    this.informerWatchErrors = new Counter({
      name: "eatr_informer_watch_errors_total",
      help: "List or watch failures, each followed by a backoff, by informer.",
      labelNames: ["informer"],
      registers,
    });
    this.informerRelists = new Counter({
      name: "eatr_informer_relists_total",
      help: "Full lists (the first one, and each after a 410 Gone or an error), by informer.",
      labelNames: ["informer"],
      registers,
    });
  }

  /** Every metric in Prometheus text format, in chunks (the registry's, then the per-secret counter). */
  async render(): Promise<Iterable<string>> {
    const text = await this.registry.metrics();
    const secrets = this.secretsCreated;
    return (function* () {
      yield text;
      yield "\n";
      yield* secrets.chunks();
    })();
  }

  /** Counts the informers' relists and list/watch failures. */
  informerObserver(): { relisted(informer: string): void; watchError(informer: string): void } {
    return {
      relisted: (informer) => {
        this.informerRelists.inc({ informer });
      },
      watchError: (informer) => {
        this.informerWatchErrors.inc({ informer });
      },
    };
  }

  /** Counts registry-wide credential problems and keeps their gauge while they last. */
  credentialProblemObserver(): {
    raised(registry: string, reason: string): void;
    cleared(registry: string, reason: string): void;
  } {
    return {
      raised: (registry, reason) => {
        this.credentialErrors.inc({ registry, reason });
        this.credentialsProblem.set({ registry, reason }, 1);
      },
      cleared: (registry, reason) => {
        this.credentialsProblem.remove({ registry, reason });
      },
    };
  }

  /** Counts pull secrets written (the seed's counter) and the ones eatr leaves alone. */
  reconcileObserver(): {
    written(namespace: string, name: string): void;
    conflict(namespace: string, name: string, reason: string): void;
  } {
    return {
      written: (namespace, name) => {
        this.secretsCreated.inc(namespace, name);
      },
      conflict: (namespace, _name, reason) => {
        this.pullSecretConflicts.inc({ namespace, reason });
      },
    };
  }

  /** Tells the informer gauges where to read their state at scrape time. */
  observeInformers(states: () => readonly InformerState[]): void {
    this.informerStates = states;
  }

  /** Tells eatr_kube_api_write_rate where to read the write limiter's rate at scrape time. */
  observeWriteRate(rate: () => number): void {
    this.writeRate = rate;
  }
}
