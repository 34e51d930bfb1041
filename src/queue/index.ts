export { WorkQueue, type WorkQueueOptions } from "./work-queue.ts";
export { DelayingQueue, type DelayingQueueOptions } from "./delaying-queue.ts";
export { RateLimitingQueue, type RateLimitingQueueOptions } from "./rate-limiting-queue.ts";
export {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
  type BucketRateLimiterOptions,
  type DefaultControllerRateLimiterOptions,
  type ItemExponentialFailureRateLimiterOptions,
  type RateLimiter,
} from "./rate-limiter.ts";
export {
  PrometheusWorkqueueMetrics,
  noopQueueMetrics,
  type PrometheusWorkqueueMetricsOptions,
  type QueueMetrics,
  type WorkqueueMetricsProvider,
} from "./metrics.ts";
export {
  ReconcileMetrics,
  type ReconcileMetricsOptions,
  type ReconcileResultLabel,
} from "./reconcile-metrics.ts";
export { TerminalError, isTerminalError } from "./terminal-error.ts";
export {
  runWorkers,
  type ControllerQueue,
  type Reconciler,
  type ReconcileResult,
  type RunWorkersOptions,
  type WorkerLogger,
  type WorkerPool,
} from "./worker-pool.ts";
