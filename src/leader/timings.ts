/** client-go's JitterFactor: acquire attempts are retryPeriod plus up to 1.2 × retryPeriod apart. */
export const JITTER_FACTOR = 1.2;
/** controller-runtime's defaults. */
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

/**
 * Every problem with the election timings (client-go's rules: all above 0, leaseDuration > renewDeadline >
 * JITTER_FACTOR × retryPeriod, and a lease duration in whole seconds as the Lease stores it).
 */
export function timingProblems(t: {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}): string[] {
  const problems: string[] = [];
  for (const name of ["leaseDurationMs", "renewDeadlineMs", "retryPeriodMs"] as const) {
    const value = t[name];
    if (!Number.isFinite(value) || value <= 0) problems.push(`${name} must be above 0, got ${value}`);
  }
  if (problems.length > 0) return problems;
  if (t.leaseDurationMs % 1000 !== 0) {
    problems.push(`leaseDurationMs must be a whole number of seconds, got ${t.leaseDurationMs}`);
  }
  if (t.leaseDurationMs <= t.renewDeadlineMs) {
    problems.push(
      `leaseDurationMs (${t.leaseDurationMs}) must be greater than renewDeadlineMs (${t.renewDeadlineMs})`,
    );
  }
  if (t.renewDeadlineMs <= jittered(t.retryPeriodMs)) {
    problems.push(
      `renewDeadlineMs (${t.renewDeadlineMs}) must be greater than ${JITTER_FACTOR} × retryPeriodMs (${t.retryPeriodMs}) = ${jittered(t.retryPeriodMs)}`,
    );
  }
  return problems;
}

/** JITTER_FACTOR × ms, without float noise in messages (1.2 × 3 is 3.5999999999999996 in binary). */
function jittered(ms: number): number {
  return Math.round(JITTER_FACTOR * ms * 1e6) / 1e6;
}
