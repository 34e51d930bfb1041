import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Registry } from "prom-client";
import { RateLimitingQueue } from "../../../src/queue/rate-limiting-queue.ts";
import { TerminalError } from "../../../src/queue/terminal-error.ts";
import { runWorkers, type ReconcileResult, type WorkerPool } from "../../../src/queue/worker-pool.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { deferred, flush, isSettled, resolvedNow, sample, type Deferred } from "./helpers.ts";

const controller = { controller: "eatr" };

/** A reconciler whose runs a test finishes one by one; records every call. */
class FakeReconciler {
  readonly calls: string[] = [];
  private readonly running: { key: string; run: Deferred<ReconcileResult | undefined> }[] = [];
  maxInFlight = 0;

  readonly reconcile = (key: string): Promise<ReconcileResult | undefined> => {
    assert.ok(!this.inFlight().includes(key), `${key} reconciled twice at once`);
    this.calls.push(key);
    const run = deferred<ReconcileResult | undefined>();
    this.running.push({ key, run });
    this.maxInFlight = Math.max(this.maxInFlight, this.running.length);
    return run.promise;
  };

  inFlight(): string[] {
    return this.running.map((r) => r.key);
  }

  /** Finishes the run of key with result (or error) and lets the pool react. */
  async finish(key: string, outcome: { result?: ReconcileResult; error?: unknown } = {}): Promise<void> {
    const i = this.running.findIndex((r) => r.key === key);
    assert.ok(i >= 0, `${key} is not running`);
    const [entry] = this.running.splice(i, 1);
    if (outcome.error === undefined) entry?.run.resolve(outcome.result);
    else entry?.run.reject(outcome.error);
    await flush();
  }
}

function setup(concurrency = 1): {
  clock: FakeClock;
  registry: Registry;
  queue: RateLimitingQueue;
  reconciler: FakeReconciler;
  pool: WorkerPool;
} {
  const clock = new FakeClock();
  const registry = new Registry();
  const queue = new RateLimitingQueue({ clock });
  const reconciler = new FakeReconciler();
  const pool = runWorkers({
    queue,
    reconcile: reconciler.reconcile,
    concurrency,
    name: "eatr",
    registry,
    clock,
  });
  return { clock, registry, queue, reconciler, pool };
}

async function advance(clock: FakeClock, ms: number): Promise<void> {
  clock.advance(ms);
  await flush();
}

describe("runWorkers", () => {
  it("runs at most `concurrency` reconciles at once", async () => {
    const { queue, reconciler, registry, pool } = setup(2);
    for (const key of ["a", "b", "c", "d", "e"]) queue.add(key);
    await flush();
    assert.deepEqual(reconciler.inFlight(), ["a", "b"]);
    assert.equal(queue.len(), 3, "keys stay in the queue until a worker is free");
    assert.equal(await sample(registry, "controller_runtime_active_workers", controller), 2);
    assert.equal(await sample(registry, "controller_runtime_max_concurrent_reconciles", controller), 2);
    await reconciler.finish("a");
    assert.deepEqual(reconciler.inFlight(), ["b", "c"]);
    for (const key of ["b", "c", "d", "e"]) await reconciler.finish(key);
    assert.deepEqual(reconciler.calls, ["a", "b", "c", "d", "e"]);
    assert.equal(reconciler.maxInFlight, 2);
    assert.equal(await sample(registry, "controller_runtime_active_workers", controller), 0);
    assert.equal(
      await sample(registry, "controller_runtime_reconcile_total", { ...controller, result: "success" }),
      5,
    );
    await resolvedNow(pool.stop());
  });

  it("collapses adds during a run into one more run, never two at once", async () => {
    const { queue, reconciler, pool } = setup(4);
    queue.add("a");
    await flush();
    queue.add("a");
    queue.add("a");
    queue.add("a");
    await flush();
    assert.deepEqual(reconciler.calls, ["a"]);
    await reconciler.finish("a");
    assert.deepEqual(reconciler.calls, ["a", "a"]);
    await reconciler.finish("a");
    assert.deepEqual(reconciler.calls, ["a", "a"]);
    await resolvedNow(pool.stop());
  });

  it("retries a failed reconcile with growing backoff and forgets it on success", async () => {
    const { clock, queue, reconciler, registry, pool } = setup();
    queue.add("a");
    await flush();
    await reconciler.finish("a", { error: new Error("ECR unavailable") });
    assert.equal(queue.numRequeues("a"), 1);
    await advance(clock, 4);
    assert.equal(reconciler.calls.length, 1);
    await advance(clock, 1);
    assert.equal(reconciler.calls.length, 2, "first retry after 5 ms");
    await reconciler.finish("a", { error: new Error("still unavailable") });
    await advance(clock, 9);
    assert.equal(reconciler.calls.length, 2);
    await advance(clock, 1);
    assert.equal(reconciler.calls.length, 3, "second retry after 10 ms");
    await reconciler.finish("a");
    assert.equal(queue.numRequeues("a"), 0);
    await advance(clock, 1_000_000);
    assert.equal(reconciler.calls.length, 3, "success is not retried");
    assert.equal(
      await sample(registry, "controller_runtime_reconcile_total", { ...controller, result: "error" }),
      2,
    );
    assert.equal(
      await sample(registry, "controller_runtime_reconcile_total", { ...controller, result: "success" }),
      1,
    );
    assert.equal(await sample(registry, "controller_runtime_reconcile_errors_total", controller), 2);
    assert.equal(await sample(registry, "controller_runtime_terminal_reconcile_errors_total", controller), 0);
    await resolvedNow(pool.stop());
  });

  it("does not retry a terminal error, even one wrapped as a cause", async () => {
    const { clock, queue, reconciler, registry, pool } = setup();
    queue.add("a");
    await flush();
    await reconciler.finish("a", {
      error: new Error("secret unusable", { cause: new TerminalError("bad name") }),
    });
    await advance(clock, 2_000_000);
    assert.deepEqual(reconciler.calls, ["a"]);
    assert.equal(queue.numRequeues("a"), 0);
    assert.equal(queue.len() + queue.waitingLen(), 0);
    assert.equal(await sample(registry, "controller_runtime_terminal_reconcile_errors_total", controller), 1);
    assert.equal(await sample(registry, "controller_runtime_reconcile_errors_total", controller), 1);
    assert.equal(
      await sample(registry, "controller_runtime_reconcile_total", { ...controller, result: "error" }),
      1,
    );
    await resolvedNow(pool.stop());
  });

  it("requeues after requeueAfterMs and resets the backoff", async () => {
    const { clock, queue, reconciler, registry, pool } = setup();
    queue.add("a");
    await flush();
    await reconciler.finish("a", { error: new Error("boom") });
    await advance(clock, 5);
    await reconciler.finish("a", { result: { requeueAfterMs: 30_000 } });
    assert.equal(queue.numRequeues("a"), 0);
    await advance(clock, 29_999);
    assert.equal(reconciler.calls.length, 2);
    await advance(clock, 1);
    assert.equal(reconciler.calls.length, 3);
    const result = { ...controller, result: "requeue_after" };
    assert.equal(await sample(registry, "controller_runtime_reconcile_total", result), 1);
    await reconciler.finish("a");
    await resolvedNow(pool.stop());
  });

  it("measures reconcile time on the injected clock", async () => {
    const { clock, queue, reconciler, registry, pool } = setup();
    queue.add("a");
    await flush();
    clock.advance(250);
    await reconciler.finish("a");
    assert.equal(await sample(registry, "controller_runtime_reconcile_time_seconds_count", controller), 1);
    assert.equal(await sample(registry, "controller_runtime_reconcile_time_seconds_sum", controller), 0.25);
    await resolvedNow(pool.stop());
  });

  it("treats a synchronous throw like a rejected reconcile", async () => {
    const clock = new FakeClock();
    const registry = new Registry();
    const queue = new RateLimitingQueue({ clock });
    const pool = runWorkers({
      queue,
      reconcile: () => {
        throw new Error("sync");
      },
      concurrency: 1,
      name: "eatr",
      registry,
      clock,
    });
    queue.add("a");
    await flush();
    assert.equal(queue.numRequeues("a"), 1);
    assert.equal(await sample(registry, "controller_runtime_reconcile_errors_total", controller), 1);
    await resolvedNow(pool.stop());
  });

  it("stop takes no new keys, lets in-flight reconciles finish, then resolves", async () => {
    const { queue, reconciler, pool } = setup(1);
    queue.add("a");
    queue.add("b");
    await flush();
    const stopped = pool.stop();
    assert.equal(queue.shuttingDown(), true);
    assert.equal(await isSettled(stopped), false, "a is still running");
    assert.equal(await isSettled(pool.finished), false);
    await reconciler.finish("a");
    assert.equal(await isSettled(stopped), true);
    assert.deepEqual(reconciler.calls, ["a"], "b was not taken after stop");
    assert.equal(await isSettled(pool.stop()), true, "stop is idempotent");
  });

  it("does not run a key handed over in the same tick as stop", async () => {
    const { queue, reconciler, pool } = setup(1);
    await flush();
    queue.add("late");
    const stopped = pool.stop();
    assert.equal(await isSettled(stopped), true);
    assert.deepEqual(reconciler.calls, []);
    await resolvedNow(queue.shutDownWithDrain()); // resolves only if the key was marked done
  });

  it("stops at once when idle, and when its signal aborts", async () => {
    const clock = new FakeClock();
    const queue = new RateLimitingQueue({ clock });
    const abort = new AbortController();
    const reconciler = new FakeReconciler();
    const pool = runWorkers({
      queue,
      reconcile: reconciler.reconcile,
      concurrency: 3,
      name: "eatr",
      clock,
      signal: abort.signal,
    });
    await flush();
    assert.equal(await isSettled(pool.finished), false);
    abort.abort();
    assert.equal(queue.shuttingDown(), true);
    assert.equal(await isSettled(pool.finished), true);
  });

  it("logs errors and requeues through a pino logger", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        callback();
      },
    });
    const logger = pino({ level: "debug" }, sink);
    const clock = new FakeClock();
    const queue = new RateLimitingQueue({ clock });
    const reconciler = new FakeReconciler();
    const pool = runWorkers({
      queue,
      reconcile: reconciler.reconcile,
      concurrency: 1,
      name: "eatr",
      logger,
      clock,
    });
    queue.add("ns-1");
    await flush();
    await reconciler.finish("ns-1", { error: new Error("token expired") });
    await advance(clock, 5);
    await reconciler.finish("ns-1", { result: { requeueAfterMs: 60_000 } });
    await flush();
    assert.deepEqual(
      lines.map((l) => ({ level: l.level, msg: l.msg, key: l.key, controller: l.controller })),
      [
        { level: 50, msg: "Reconciler error", key: "ns-1", controller: "eatr" },
        { level: 20, msg: "Reconcile done, requeueing", key: "ns-1", controller: "eatr" },
      ],
    );
    assert.equal((lines[0]?.err as { message?: unknown } | undefined)?.message, "token expired");
    assert.equal(lines[1]?.requeueAfterMs, 60_000);
    await resolvedNow(pool.stop());
  });

  it("logs a reconcile that fails while the pool stops (cut short by the shutdown) at debug, not as an error", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        callback();
      },
    });
    const clock = new FakeClock();
    const queue = new RateLimitingQueue({ clock });
    const reconciler = new FakeReconciler();
    const pool = runWorkers({
      queue,
      reconcile: reconciler.reconcile,
      concurrency: 1,
      name: "eatr",
      logger: pino({ level: "debug" }, sink),
      clock,
    });
    queue.add("ns-1");
    await flush();
    const stopped = pool.stop();
    await reconciler.finish("ns-1", { error: new Error("TokenCache is closed") });
    await resolvedNow(stopped);
    assert.deepEqual(
      lines.map((l) => ({ level: l.level, msg: l.msg, key: l.key })),
      [{ level: 20, msg: "Reconcile cut short by shutdown", key: "ns-1" }],
    );
  });

  it("lets two controllers share one registry", async () => {
    const registry = new Registry();
    const clock = new FakeClock();
    const pools = ["one", "two"].map((name) =>
      runWorkers({
        queue: new RateLimitingQueue({ clock }),
        reconcile: () => Promise.resolve(undefined),
        concurrency: name === "one" ? 1 : 4,
        name,
        registry,
        clock,
      }),
    );
    assert.equal(
      await sample(registry, "controller_runtime_max_concurrent_reconciles", { controller: "one" }),
      1,
    );
    assert.equal(
      await sample(registry, "controller_runtime_max_concurrent_reconciles", { controller: "two" }),
      4,
    );
    await resolvedNow(Promise.all(pools.map((p) => p.stop())));
  });

  it("validates its options", () => {
    const queue = new RateLimitingQueue({ clock: new FakeClock() });
    const reconcile = (): Promise<undefined> => Promise.resolve(undefined);
    assert.throws(() => runWorkers({ queue, reconcile, concurrency: 0, name: "eatr" }), /concurrency/);
    assert.throws(() => runWorkers({ queue, reconcile, concurrency: 1.5, name: "eatr" }), /concurrency/);
    assert.throws(() => runWorkers({ queue, reconcile, concurrency: 1, name: "" }), /name/);
    assert.equal(queue.shuttingDown(), false, "a rejected configuration leaves the queue alone");
  });
});
