/**
 * Time as the controller sees it. Everything that waits or measures takes a Clock so tests can
 * step a fake one instead of sleeping.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (for timestamps shown to users and token expiry). */
  now(): number;
  /** Monotonic milliseconds, for measuring durations and judging expiry of things this process observed. */
  monotonic(): number;
  /** Runs fn after ms; the returned handle cancels it. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

export interface TimerHandle {
  cancel(): void;
}

/** The real clock, backed by Date.now, performance.now and unref'd timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return {
      cancel: () => {
        clearTimeout(t);
      },
    };
  },
};

/** Resolves after ms on clock, or at once when signal aborts (it never rejects). */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const done = (): void => {
      timer.cancel();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
