import assert from "node:assert/strict";
import type { Registry } from "prom-client";

/** Lets every queued promise callback run (one macrotask turn). No clock moves; nothing sleeps. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A promise a test settles by hand. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * The value of one series in registry, found by metric (or histogram sample) name and exact labels.
 * Throws if the series does not exist, so a missing metric fails the test rather than reading 0.
 */
export async function sample(
  registry: Registry,
  sampleName: string,
  labels: Record<string, string | number>,
): Promise<number> {
  const metrics = await registry.getMetricsAsJSON();
  for (const metric of metrics) {
    for (const value of metric.values) {
      const name =
        "metricName" in value && typeof value.metricName === "string" ? value.metricName : metric.name;
      if (name !== sampleName) continue;
      const actual = value.labels as Record<string, string | number | undefined>;
      const keys = new Set([...Object.keys(actual), ...Object.keys(labels)]);
      if ([...keys].every((k) => String(actual[k]) === String(labels[k]))) return value.value;
    }
  }
  throw new Error(`no sample ${sampleName}${JSON.stringify(labels)} in registry`);
}

/** Whether the promise has settled by now (after a flush). */
export async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await flush();
  return settled;
}

/** The value promise has resolved with by now (after a flush); fails instead of waiting forever. */
export async function resolvedNow<T>(promise: Promise<T>): Promise<T> {
  let result: { value: T } | undefined;
  void promise.then((value) => (result = { value }));
  await flush();
  if (result === undefined) assert.fail("expected the promise to have resolved by now");
  return result.value;
}
