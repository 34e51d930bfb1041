/** Leader election over a coordination.k8s.io/v1 Lease, with client-go's algorithm. */
export { defaultIdentity } from "./identity.ts";
export {
  LeaderElector,
  type LeaderElectorOptions,
  type LeaderHealth,
  type StopReason,
} from "./leader-elector.ts";
export { LeaseLock, type LeaseApi, type LeaseLockOptions } from "./lease-lock.ts";
export {
  LockConflictError,
  LockNamespaceNotFoundError,
  type CallBounds,
  type LeaderElectionRecord,
  type LeaderLock,
  type ObservedLease,
} from "./lock.ts";
export {
  noopElectionMetrics,
  PrometheusLeaderElectionMetrics,
  type ElectionMetrics,
  type LeaderElectionMetricsProvider,
  type PrometheusLeaderElectionMetricsOptions,
} from "./metrics.ts";
export {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  JITTER_FACTOR,
  timingProblems,
} from "./timings.ts";
