/**
 * Capped exponential backoff, the one formula every retry loop in eatr uses (informers, the token cache,
 * the work queue's per-key limiter): the n-th consecutive failure (n = 0 for the first) waits
 * baseMs * 2^n, capped at maxMs, then optionally jittered down by up to `jitter` of that.
 */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
  /** Fraction in [0, 1) the delay may be shortened by at random (0.5: between half and all of it). */
  readonly jitter?: number;
}

/** Throws when the policy cannot work (0 < baseMs <= maxMs, 0 <= jitter < 1); `owner` names the caller. */
export function validateBackoff(owner: string, policy: BackoffPolicy): void {
  const { baseMs, maxMs, jitter = 0 } = policy;
  if (!(baseMs > 0 && Number.isFinite(baseMs) && maxMs >= baseMs && Number.isFinite(maxMs)))
    throw new RangeError(`${owner}: need 0 < base delay (${baseMs}) <= max delay (${maxMs})`);
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`${owner}: jitter must be in [0, 1), got ${jitter}`);
}

/** The delay after `failures` earlier consecutive failures (0 for the first failure). */
export function backoffDelay(
  policy: BackoffPolicy,
  failures: number,
  random: () => number = Math.random,
): number {
  // 2 ** failures overflows to Infinity for huge counts, which the cap handles.
  const capped = Math.min(policy.baseMs * 2 ** Math.max(0, failures), policy.maxMs);
  const jitter = policy.jitter ?? 0;
  return jitter === 0 ? capped : Math.round(capped * (1 - jitter * random()));
}
