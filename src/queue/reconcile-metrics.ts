import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The result label of controller_runtime_reconcile_total. */
export type ReconcileResultLabel = "success" | "error" | "requeue" | "requeue_after";

const RESULTS: readonly ReconcileResultLabel[] = ["success", "error", "requeue", "requeue_after"];

/** controller-runtime's reconcile time buckets (pkg/internal/controller/metrics). */
const RECONCILE_TIME_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
  1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

type MetricClass = typeof Counter | typeof Gauge | typeof Histogram;

/** Returns the metric already registered under name (several controllers share one registry), else undefined. */
function existing<C extends MetricClass>(
  registry: Registry,
  name: string,
  cls: C,
): InstanceType<C> | undefined {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  if (!(metric instanceof cls)) throw new TypeError(`metric ${name} is already registered with another type`);
  return metric as InstanceType<C>;
}

export interface ReconcileMetricsOptions {
  /** Registry to report on; a private registry (reported nowhere) when omitted. */
  registry?: Registry;
  /** Value of the controller label. */
  controller: string;
}

/**
 * controller-runtime's controller metrics for one controller: controller_runtime_reconcile_total,
 * _reconcile_errors_total, _terminal_reconcile_errors_total, _reconcile_time_seconds, _active_workers
 * and _max_concurrent_reconciles. Controllers may share a registry; each controller name is one series.
 */
export class ReconcileMetrics {
  private readonly labels: { controller: string };
  private readonly total: Counter<"controller" | "result">;
  private readonly errors: Counter<"controller">;
  private readonly terminalErrors: Counter<"controller">;
  private readonly time: Histogram<"controller">;
  private readonly activeWorkers: Gauge<"controller">;
  private readonly maxConcurrent: Gauge<"controller">;

  constructor(options: ReconcileMetricsOptions) {
    const registry = options.registry ?? new Registry();
    const registers = [registry];
    this.labels = { controller: options.controller };
    this.total =
      existing(registry, "controller_runtime_reconcile_total", Counter) ??
      new Counter({
        name: "controller_runtime_reconcile_total",
        help: "Total number of reconciliations per controller",
        labelNames: ["controller", "result"],
        registers,
      });
    this.errors =
      existing(registry, "controller_runtime_reconcile_errors_total", Counter) ??
      new Counter({
        name: "controller_runtime_reconcile_errors_total",
        help: "Total number of reconciliation errors per controller",
        labelNames: ["controller"],
        registers,
      });
    this.terminalErrors =
      existing(registry, "controller_runtime_terminal_reconcile_errors_total", Counter) ??
      new Counter({
        name: "controller_runtime_terminal_reconcile_errors_total",
        help: "Total number of terminal reconciliation errors per controller",
        labelNames: ["controller"],
        registers,
      });
    this.time =
      existing(registry, "controller_runtime_reconcile_time_seconds", Histogram) ??
      new Histogram({
        name: "controller_runtime_reconcile_time_seconds",
        help: "Length of time per reconciliation per controller",
        labelNames: ["controller"],
        buckets: RECONCILE_TIME_BUCKETS,
        registers,
      });
    this.maxConcurrent =
      existing(registry, "controller_runtime_max_concurrent_reconciles", Gauge) ??
      new Gauge({
        name: "controller_runtime_max_concurrent_reconciles",
        help: "Maximum number of concurrent reconciles per controller",
        labelNames: ["controller"],
        registers,
      });
    this.activeWorkers =
      existing(registry, "controller_runtime_active_workers", Gauge) ??
      new Gauge({
        name: "controller_runtime_active_workers",
        help: "Number of currently used workers per controller",
        labelNames: ["controller"],
        registers,
      });
    // controller-runtime initialises every series at zero so rates work from the first scrape.
    for (const result of RESULTS) this.total.inc({ ...this.labels, result }, 0);
    this.errors.inc(this.labels, 0);
    this.terminalErrors.inc(this.labels, 0);
    this.time.zero(this.labels);
    this.activeWorkers.set(this.labels, 0);
  }

  /** Records the configured worker count. */
  setMaxConcurrentReconciles(n: number): void {
    this.maxConcurrent.set(this.labels, n);
  }

  workerStarted(): void {
    this.activeWorkers.inc(this.labels);
  }

  workerFinished(): void {
    this.activeWorkers.dec(this.labels);
  }

  /** Records how long one reconcile took. */
  observeTime(seconds: number): void {
    this.time.observe(this.labels, seconds);
  }

  /** Counts one reconcile by result; an error result also counts as an error, and terminal if so. */
  count(result: ReconcileResultLabel, terminal = false): void {
    this.total.inc({ ...this.labels, result });
    if (result === "error") this.errors.inc(this.labels);
    if (terminal) this.terminalErrors.inc(this.labels);
  }
}
