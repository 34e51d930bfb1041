import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Clock } from "../clock.ts";

/**
 * What a work queue reports about itself. Calls mirror the queue's transitions: add when a key becomes
 * dirty, get when a worker takes it, done when the worker finishes, retry on every delayed add.
 */
export interface QueueMetrics {
  add(key: string): void;
  get(key: string): void;
  done(key: string): void;
  retry(): void;
}

/** Creates the metrics of one named queue. Queues without a provider report nothing. */
export interface WorkqueueMetricsProvider {
  /** Returns the metrics for the queue called name; each name may be claimed once per provider. */
  forQueue(name: string, clock: Clock): QueueMetrics;
}

/** Metrics that record nothing, for queues built without a provider. */
export const noopQueueMetrics: QueueMetrics = {
  add: () => undefined,
  get: () => undefined,
  done: () => undefined,
  retry: () => undefined,
};

/** prometheus.ExponentialBuckets(10e-9, 10, 12), computed the way Go does so the bounds match exactly. */
function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const buckets: number[] = [];
  let bound = start;
  for (let i = 0; i < count; i++) {
    buckets.push(bound);
    bound *= factor;
  }
  return buckets;
}

const DURATION_BUCKETS = exponentialBuckets(10e-9, 10, 12);

type Label = "name" | "controller";

export interface PrometheusWorkqueueMetricsOptions {
  /** The registry to register on; never the global one. One provider per registry. */
  registry: Registry;
}

/**
 * controller-runtime's workqueue metrics (pkg/metrics/workqueue.go) on an injected registry, labelled
 * {name, controller} with both set to the queue name. Unfinished-work and longest-running gauges are
 * computed when scraped. Registering a second provider on the same registry throws.
 */
export class PrometheusWorkqueueMetrics implements WorkqueueMetricsProvider {
  private readonly depth: Gauge<Label>;
  private readonly adds: Counter<Label>;
  private readonly latency: Histogram<Label>;
  private readonly workDuration: Histogram<Label>;
  private readonly retries: Counter<Label>;
  private readonly queues = new Map<string, PrometheusQueueMetrics>();

  constructor(options: PrometheusWorkqueueMetricsOptions) {
    if (!((options.registry as unknown) instanceof Registry)) {
      throw new TypeError("PrometheusWorkqueueMetrics: options.registry must be a prom-client Registry");
    }
    const registers = [options.registry];
    const labelNames: Label[] = ["name", "controller"];
    const queues = this.queues;
    this.depth = new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue",
      labelNames,
      registers,
    });
    this.adds = new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue",
      labelNames,
      registers,
    });
    this.latency = new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      labelNames,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes.",
      labelNames,
      buckets: DURATION_BUCKETS,
      registers,
    });
    new Gauge({
      name: "workqueue_unfinished_work_seconds",
      help:
        "How many seconds of work has been done that is in progress and hasn't been observed by " +
        "work_duration. Large values indicate stuck threads. One can deduce the number of stuck " +
        "threads by observing the rate at which this increases.",
      labelNames,
      registers,
      collect() {
        for (const q of queues.values()) this.set(q.labels, q.unfinishedSeconds());
      },
    });
    new Gauge({
      name: "workqueue_longest_running_processor_seconds",
      help: "How many seconds has the longest running processor for workqueue been running.",
      labelNames,
      registers,
      collect() {
        for (const q of queues.values()) this.set(q.labels, q.longestRunningSeconds());
      },
    });
    this.retries = new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue",
      labelNames,
      registers,
    });
  }

  forQueue(name: string, clock: Clock): QueueMetrics {
    if (name === "") throw new RangeError("PrometheusWorkqueueMetrics: a queue with metrics needs a name");
    if (this.queues.has(name)) {
      throw new RangeError(`PrometheusWorkqueueMetrics: a queue named "${name}" already reports metrics`);
    }
    const labels = { name, controller: name };
    const metrics = new PrometheusQueueMetrics(labels, clock, {
      depth: this.depth,
      adds: this.adds,
      latency: this.latency,
      workDuration: this.workDuration,
      retries: this.retries,
    });
    this.queues.set(name, metrics);
    return metrics;
  }
}

interface QueueInstruments {
  depth: Gauge<Label>;
  adds: Counter<Label>;
  latency: Histogram<Label>;
  workDuration: Histogram<Label>;
  retries: Counter<Label>;
}

/** client-go's defaultQueueMetrics: tracks when each key was added and when its processing started. */
class PrometheusQueueMetrics implements QueueMetrics {
  readonly labels: Record<Label, string>;
  private readonly clock: Clock;
  private readonly m: QueueInstruments;
  private readonly addTimes = new Map<string, number>();
  private readonly processingStartTimes = new Map<string, number>();

  constructor(labels: Record<Label, string>, clock: Clock, instruments: QueueInstruments) {
    this.labels = labels;
    this.clock = clock;
    this.m = instruments;
    this.m.depth.set(labels, 0);
    this.m.adds.inc(labels, 0);
    this.m.retries.inc(labels, 0);
    this.m.latency.zero(labels);
    this.m.workDuration.zero(labels);
  }

  add(key: string): void {
    this.m.adds.inc(this.labels);
    this.m.depth.inc(this.labels);
    if (!this.addTimes.has(key)) this.addTimes.set(key, this.clock.monotonic());
  }

  get(key: string): void {
    const now = this.clock.monotonic();
    this.m.depth.dec(this.labels);
    this.processingStartTimes.set(key, now);
    const addedAt = this.addTimes.get(key);
    if (addedAt !== undefined) {
      this.m.latency.observe(this.labels, (now - addedAt) / 1000);
      this.addTimes.delete(key);
    }
  }

  done(key: string): void {
    const startedAt = this.processingStartTimes.get(key);
    if (startedAt !== undefined) {
      this.m.workDuration.observe(this.labels, (this.clock.monotonic() - startedAt) / 1000);
      this.processingStartTimes.delete(key);
    }
  }

  retry(): void {
    this.m.retries.inc(this.labels);
  }

  unfinishedSeconds(): number {
    const now = this.clock.monotonic();
    let total = 0;
    for (const startedAt of this.processingStartTimes.values()) total += now - startedAt;
    return total / 1000;
  }

  longestRunningSeconds(): number {
    const now = this.clock.monotonic();
    let longest = 0;
    for (const startedAt of this.processingStartTimes.values()) longest = Math.max(longest, now - startedAt);
    return longest / 1000;
  }
}
