import PQueue from "p-queue";
import type { Registry } from "prom-client";
import { realClock, type Clock } from "../clock.ts";
import { ReconcileMetrics } from "./reconcile-metrics.ts";
import type { RateLimitingQueue } from "./rate-limiting-queue.ts";
import { isTerminalError } from "./terminal-error.ts";

/** What a reconcile asks for when it succeeds: nothing, or another run after requeueAfterMs. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/**
 * Brings the object named by key to its desired state. Throwing means "retry with backoff"; throwing a
 * TerminalError means "do not retry".
 */
export type Reconciler = (key: string) => Promise<ReconcileResult | undefined>;

/** The queue operations the worker pool uses; a RateLimitingQueue provides them. */
export type ControllerQueue = Pick<
  RateLimitingQueue,
  "get" | "done" | "addRateLimited" | "addAfter" | "forget" | "shutDown"
>;

/** The logging the worker pool needs; a pino logger fits. */
export interface WorkerLogger {
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface RunWorkersOptions {
  /** Source of keys; the pool shuts it down when it stops. */
  queue: ControllerQueue;
  reconcile: Reconciler;
  /** Most reconciles running at once; a positive integer. */
  concurrency: number;
  /** Controller name: the controller label of the metrics and a field of log lines. */
  name: string;
  /** Registry for the controller_runtime_* metrics; they are reported nowhere when omitted. */
  registry?: Registry;
  logger?: WorkerLogger;
  /** Measures reconcile time; defaults to the real clock. */
  clock?: Clock;
  /** Aborting it does what stop() does. */
  signal?: AbortSignal;
}

/** A running controller loop. */
export interface WorkerPool {
  /**
   * Stops taking keys and shuts the queue down; in-flight reconciles run to completion. Resolves once
   * none is running (race it against a grace period). Idempotent.
   */
  stop(): Promise<void>;
  /** Resolves once the pool has stopped (stop(), the signal, or the queue shut down) and is idle. */
  readonly finished: Promise<void>;
}

type Outcome = { ok: true; result: ReconcileResult | undefined } | { ok: false; error: unknown };

interface HandlerContext {
  queue: ControllerQueue;
  metrics: ReconcileMetrics;
  logger: WorkerLogger | undefined;
  controller: string;
  /** True once the pool is stopping: a reconcile that fails then was cut short by the shutdown. */
  stopping: () => boolean;
}

/**
 * controller-runtime's reconcileHandler: the whole retry policy. Errors are retried with backoff,
 * terminal errors are forgotten, requeueAfterMs > 0 forgets the backoff and adds after that delay,
 * success forgets the backoff. The caller calls done(key) afterwards.
 */
function applyOutcome(c: HandlerContext, key: string, outcome: Outcome): void {
  if (!outcome.ok) {
    const terminal = isTerminalError(outcome.error);
    if (terminal) c.queue.forget(key);
    else c.queue.addRateLimited(key);
    c.metrics.count("error", terminal);
    // A reconcile in flight when the pool stops (leadership lost, SIGTERM) fails because the parts it
    // uses were closed under it: that is the shutdown, not a fault; it wrote nothing after the halt.
    if (c.stopping())
      c.logger?.debug(
        { err: outcome.error, controller: c.controller, key },
        "Reconcile cut short by shutdown",
      );
    else c.logger?.error({ err: outcome.error, controller: c.controller, key, terminal }, "Reconciler error");
    return;
  }
  const after = outcome.result?.requeueAfterMs;
  c.queue.forget(key);
  if (after !== undefined && after > 0) {
    c.queue.addAfter(key, after);
    c.metrics.count("requeue_after");
    c.logger?.debug({ controller: c.controller, key, requeueAfterMs: after }, "Reconcile done, requeueing");
    return;
  }
  c.metrics.count("success");
}

function validate(options: RunWorkersOptions): void {
  const o = options as Partial<Record<keyof RunWorkersOptions, unknown>>;
  if (typeof o.name !== "string" || o.name === "") {
    throw new TypeError("runWorkers: options.name must be a non-empty string");
  }
  if (typeof o.reconcile !== "function")
    throw new TypeError("runWorkers: options.reconcile must be a function");
  if (typeof o.queue !== "object" || o.queue === null)
    throw new TypeError("runWorkers: options.queue is required");
  if (typeof o.concurrency !== "number" || !Number.isSafeInteger(o.concurrency) || o.concurrency < 1) {
    throw new RangeError(
      `runWorkers: options.concurrency must be a positive integer, got ${String(o.concurrency)}`,
    );
  }
}

/**
 * Runs the controller loop: takes keys from the queue while a worker is free, reconciles each on a
 * p-queue pool of `concurrency` workers, maps the outcome to queue actions and metrics, and always
 * calls done(key). A key is taken from the queue only when a worker is free to run it.
 */
export function runWorkers(options: RunWorkersOptions): WorkerPool {
  validate(options);
  const { queue, reconcile, concurrency, logger, signal } = options;
  const clock = options.clock ?? realClock;
  const metrics = new ReconcileMetrics({ registry: options.registry, controller: options.name });
  metrics.setMaxConcurrentReconciles(concurrency);
  const pool = new PQueue({ concurrency });
  let running = 0;
  let stopping = false;
  const isStopping = (): boolean => stopping;
  const context: HandlerContext = { queue, metrics, logger, controller: options.name, stopping: isStopping };
  let wake: (() => void) | undefined;
  const wakeDispatcher = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const processKey = async (key: string): Promise<void> => {
    metrics.workerStarted();
    const started = clock.monotonic();
    let outcome: Outcome;
    try {
      outcome = { ok: true, result: await reconcile(key) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    metrics.observeTime((clock.monotonic() - started) / 1000);
    metrics.workerFinished();
    try {
      applyOutcome(context, key, outcome);
    } finally {
      queue.done(key);
    }
  };

  const dispatch = async (): Promise<void> => {
    while (!stopping) {
      if (running >= concurrency) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const key = await queue.get();
      if (key === undefined) return;
      // stop() may have run while get() was pending (a closure write TypeScript cannot see).
      if (isStopping()) {
        queue.done(key);
        return;
      }
      running++;
      void pool
        .add(() => processKey(key))
        .catch((err: unknown) => {
          logger?.error({ err, controller: options.name, key }, "Worker failed to handle reconcile outcome");
        })
        .finally(() => {
          running--;
          wakeDispatcher();
        });
    }
  };

  const stop = (): Promise<void> => {
    if (!stopping) {
      stopping = true;
      queue.shutDown();
      wakeDispatcher();
    }
    return finished;
  };

  const finished = dispatch()
    .catch((err: unknown) => {
      stopping = true;
      logger?.error({ err, controller: options.name }, "Worker pool dispatcher failed");
    })
    .then(() => pool.onIdle());

  if (signal?.aborted) void stop();
  else signal?.addEventListener("abort", () => void stop(), { once: true });

  return { stop, finished };
}
