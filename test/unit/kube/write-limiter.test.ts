import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KubeApiError } from "../../../src/kube/rest.ts";
import { WriteLimiter, type WriteKind } from "../../../src/kube/write-limiter.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** 429 as rest.ts throws it; retryAfter undefined: no header. */
const tooMany = (retryAfter?: string): KubeApiError =>
  new KubeApiError("POST", "/api/v1/namespaces/a/secrets", 429, '{"kind":"Status","code":429}', retryAfter);

function setup(o: { qps?: number; burst?: number; maxRetries?: number; maxRetryAfterMs?: number } = {}) {
  const clock = new FakeClock();
  const warnings: object[] = [];
  const infos: object[] = [];
  const throttled: WriteKind[] = [];
  const limiter = new WriteLimiter({
    qps: o.qps ?? 10,
    burst: o.burst ?? 10,
    clock,
    ...(o.maxRetries === undefined ? {} : { maxRetries: o.maxRetries }),
    ...(o.maxRetryAfterMs === undefined ? {} : { maxRetryAfterMs: o.maxRetryAfterMs }),
    logger: {
      warn: (obj) => warnings.push(obj),
      info: (obj) => infos.push(obj),
    },
    throttled: (operation) => throttled.push(operation),
  });
  return { clock, limiter, warnings, infos, throttled };
}

/** A write that fails with each of `failures` in turn, then succeeds; records when it was sent. */
function scripted(clock: FakeClock, failures: Error[]) {
  const sentAt: number[] = [];
  const send = (): Promise<string> => {
    sentAt.push(clock.monotonic());
    const f = failures.shift();
    return f === undefined ? Promise.resolve("ok") : Promise.reject(f);
  };
  return { send, sentAt };
}

describe("WriteLimiter", () => {
  it("lets the burst through at once, then spaces writes by 1/qps", async () => {
    const clock = new FakeClock();
    const limiter = new WriteLimiter({ qps: 10, burst: 2, clock });
    let done = 0;
    const takes = [limiter.take(), limiter.take(), limiter.take()].map((p) => p.then(() => done++));
    await Promise.all(takes.slice(0, 2));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(done, 2);
    clock.advance(99);
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(done, 2, "the third waits 100 ms");
    clock.advance(1);
    await Promise.all(takes);
    assert.equal(done, 3);
  });

  it("rejects when the signal aborts while waiting, and refuses silly limits", async () => {
    const clock = new FakeClock();
    const limiter = new WriteLimiter({ qps: 1, burst: 1, clock });
    await limiter.take();
    const abort = new AbortController();
    const waiting = limiter.take(abort.signal);
    abort.abort(new Error("leadership lost"));
    await assert.rejects(waiting, /leadership lost/);
    assert.throws(
      () => new WriteLimiter({ qps: 0, burst: 1, clock }),
      /WriteLimiter: qps must be a positive/,
    );
    assert.throws(() => new WriteLimiter({ qps: 1, burst: 0.5, clock }), /burst must be a positive integer/);
    assert.throws(() => new WriteLimiter({ qps: 1, burst: 1, clock, maxRetries: -1 }), /maxRetries/);
  });

  it("sends a write answered 429 again only after its Retry-After, and counts the 429", async () => {
    const { clock, limiter, throttled } = setup();
    const { send, sentAt } = scripted(clock, [tooMany("3")]);
    let result: string | undefined;
    const running = limiter.run("secret_create", send).then((r) => (result = r));
    await flush();
    assert.deepEqual(sentAt, [0]);
    clock.advance(2_999);
    await flush();
    assert.deepEqual(sentAt, [0], "not before the 3 s the server asked for");
    clock.advance(1);
    await running;
    assert.equal(result, "ok");
    assert.deepEqual(sentAt, [0, 3_000]);
    assert.deepEqual(throttled, ["secret_create"]);
  });

  it("holds every other writer back for the Retry-After, and halves the rate once per episode", async () => {
    const { clock, limiter, warnings } = setup({ qps: 10, burst: 10 });
    // Two writes in flight get 429 together: one backoff step, one log line.
    const a = scripted(clock, [tooMany("2")]);
    const b = scripted(clock, [tooMany("2")]);
    const runs = [limiter.run("secret_update", a.send), limiter.run("event_create", b.send)];
    await flush();
    assert.equal(warnings.length, 1, "one log line per backoff step, not per write");
    assert.equal(limiter.rate, 5);
    const other = scripted(clock, []);
    const third = limiter.run("secret_delete", other.send);
    await flush();
    assert.deepEqual(other.sentAt, [], "a writer that never saw the 429 waits too");
    clock.advance(2_000);
    await flush();
    // After the pause the saved-up burst is gone: writes come at the halved rate, 200 ms apart.
    for (let i = 0; i < 5; i++) {
      clock.advance(100);
      await flush();
    }
    await Promise.all([...runs, third]);
    const sent = [...a.sentAt.slice(1), ...b.sentAt.slice(1), ...other.sentAt].sort((x, y) => x - y);
    assert.ok(
      sent.every((t) => t >= 2_000),
      `nothing sent during the pause: ${sent.join(",")}`,
    );
    assert.deepEqual(
      sent.map((t, i) => (i === 0 ? 0 : t - (sent[i - 1] ?? 0))).slice(1),
      [200, 200],
      "spaced at 5/s",
    );
  });

  it("gives back a tenth of qps per second without a 429, and logs when the full rate is back", async () => {
    const { clock, limiter, infos } = setup({ qps: 100, burst: 100 });
    const w = scripted(clock, [tooMany("1"), tooMany("1")]);
    const run = limiter.run("secret_create", w.send);
    await flush();
    assert.equal(limiter.rate, 50);
    clock.advance(1_000);
    await flush();
    // The retry was throttled again, after the first pause: a second step.
    assert.equal(limiter.rate, 25);
    clock.advance(1_000);
    await run;
    assert.equal(limiter.rate, 25, "recovery starts when the pause ends");
    clock.advance(1_000);
    assert.equal(limiter.rate, 35);
    clock.advance(5_000);
    assert.equal(limiter.rate, 85);
    assert.equal(infos.length, 0);
    clock.advance(2_000);
    assert.equal(limiter.rate, 100, "never above qps");
    assert.equal(infos.length, 1);
  });

  it("returns the 429 after maxRetries retries, and caps a huge Retry-After", async () => {
    const { clock, limiter, throttled } = setup({ maxRetries: 2, maxRetryAfterMs: 5_000 });
    const w = scripted(clock, [tooMany("3600"), tooMany("3600"), tooMany("3600"), tooMany("3600")]);
    let error: unknown;
    const run = limiter.run("service_account_update", w.send).catch((err: unknown) => (error = err));
    for (let i = 0; i < 3; i++) {
      await flush();
      clock.advance(5_000);
    }
    await run;
    assert.equal((error as KubeApiError | undefined)?.statusCode, 429);
    assert.deepEqual(w.sentAt, [0, 5_000, 10_000], "the first try and 2 retries, 5 s apart (capped)");
    assert.equal(throttled.length, 3);
  });

  it("waits with the exponential fallback when a 429 names no wait, and passes other errors at once", async () => {
    const { clock, limiter } = setup();
    const w = scripted(clock, [tooMany(), tooMany()]);
    const run = limiter.run("secret_create", w.send);
    await flush();
    clock.advance(1_000);
    await flush();
    clock.advance(2_000);
    await run;
    assert.deepEqual(w.sentAt, [0, 1_000, 3_000], "1 s, then 2 s");
    const conflict = scripted(clock, [new KubeApiError("PUT", "/x", 409, "{}")]);
    const rejected = assert.rejects(limiter.run("secret_update", conflict.send), /HTTP 409/);
    await flush();
    clock.advance(1_000); // the rate is 2.5/s after two steps
    await rejected;
    assert.equal(conflict.sentAt.length, 1);
  });

  it("stops waiting out a Retry-After the moment the signal aborts", async () => {
    const { clock, limiter } = setup();
    const w = scripted(clock, [tooMany("30")]);
    const abort = new AbortController();
    const run = limiter.run("secret_create", w.send, abort.signal);
    await flush();
    abort.abort(new Error("shutting down"));
    await assert.rejects(run, /shutting down/);
    assert.deepEqual(w.sentAt, [0]);
    assert.equal(clock.pendingTimers(), 0, "no timer left behind");
  });
});
