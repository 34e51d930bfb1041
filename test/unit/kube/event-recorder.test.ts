import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiException, type CoreV1Api } from "@kubernetes/client-node";
import { EventRecorder } from "../../../src/kube/event-recorder.ts";
import { WriteLimiter } from "../../../src/kube/write-limiter.ts";
import { FakeClock } from "../../support/fake-clock.ts";

interface Call {
  verb: "create" | "patch";
  namespace: string;
  name: string;
  body: Record<string, unknown>;
}

function setup(limit?: { qps: number; burst: number }) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const calls: Call[] = [];
  const core = {
    createNamespacedEvent: (p: {
      namespace: string;
      body: { metadata: { name: string } } & Record<string, unknown>;
    }) => {
      calls.push({ verb: "create", namespace: p.namespace, name: p.body.metadata.name, body: p.body });
      return Promise.resolve(p.body);
    },
    patchNamespacedEvent: (p: { namespace: string; name: string; body: Record<string, unknown> }) => {
      calls.push({ verb: "patch", namespace: p.namespace, name: p.name, body: p.body });
      return Promise.resolve(p.body);
    },
  } as unknown as CoreV1Api;
  const recorder = new EventRecorder({
    core,
    clock,
    component: "eatr",
    instance: "test-1",
    aggregateWindowMs: 60_000,
    ...(limit ? { limiter: new WriteLimiter({ ...limit, clock }) } : {}),
  });
  return { clock, calls, recorder };
}

const flush = () => new Promise<void>((r) => setImmediate(r));
const secret = { kind: "Secret", apiVersion: "v1", namespace: "ci-cd", name: "creds", uid: "u1" };
const namespace = { kind: "Namespace", apiVersion: "v1", name: "team-a", uid: "u2" };

describe("EventRecorder", () => {
  it("creates one Event, then aggregates repeats into its count at most once per window", async () => {
    const { clock, calls, recorder } = setup();
    for (let i = 0; i < 20; i++) recorder.record(secret, "Warning", "TokenRequestFailed", "ECR said no");
    await flush();
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.verb, "create");
    assert.equal(calls[0]?.namespace, "ci-cd");
    assert.equal(calls[0]?.body.reason, "TokenRequestFailed");
    assert.equal(calls[0]?.body.count, 1);
    clock.advance(60_000);
    recorder.record(secret, "Warning", "TokenRequestFailed", "ECR said no");
    await flush();
    assert.equal(calls.length, 2);
    assert.equal(calls[1]?.verb, "patch");
    assert.equal(calls[1]?.name, calls[0]?.name);
    assert.equal(calls[1]?.body.count, 21, "every occurrence is counted");
  });

  it("keeps different reasons, messages and objects apart", async () => {
    const { calls, recorder } = setup();
    recorder.record(secret, "Warning", "A", "m");
    recorder.record(secret, "Warning", "B", "m");
    recorder.record(secret, "Warning", "A", "other message");
    recorder.record(namespace, "Warning", "A", "m");
    await flush();
    assert.deepEqual(
      calls.map((c) => c.verb),
      ["create", "create", "create", "create"],
    );
    assert.equal(
      calls[3]?.namespace,
      "default",
      "events about cluster-scoped objects go to default, as client-go does",
    );
  });

  it("never throws when the API fails", async () => {
    const clock = new FakeClock();
    const warnings: string[] = [];
    const core = {
      createNamespacedEvent: () => Promise.reject(new Error("forbidden")),
    } as unknown as CoreV1Api;
    const recorder = new EventRecorder({
      core,
      clock,
      component: "eatr",
      instance: "x",
      logger: { warn: (_o, m) => warnings.push(m) },
    });
    recorder.record(secret, "Warning", "A", "m");
    await flush();
    await flush();
    assert.deepEqual(warnings, ["could not record event"]);
  });

  it("takes the shared write limit: a burst of distinct Events is spread out, none is dropped", async () => {
    const { clock, calls, recorder } = setup({ qps: 10, burst: 5 });
    for (let i = 0; i < 20; i++) recorder.record({ ...namespace, name: `ns-${i}` }, "Warning", "X", "y");
    await flush();
    assert.equal(calls.length, 5, "the burst");
    for (let i = 0; i < 15; i++) {
      clock.advance(100);
      await flush();
    }
    assert.equal(calls.length, 20, "then 10 a second, every one of them");
  });

  it("waits out a 429's Retry-After and sends the same Event again", async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const sent: number[] = [];
    const core = {
      createNamespacedEvent: (p: { body: Record<string, unknown> }) => {
        sent.push(clock.monotonic());
        return sent.length === 1
          ? Promise.reject(new ApiException(429, "too many", "{}", { "retry-after": "2" }))
          : Promise.resolve(p.body);
      },
    } as unknown as CoreV1Api;
    const throttled: string[] = [];
    const warnings: string[] = [];
    const recorder = new EventRecorder({
      core,
      clock,
      component: "eatr",
      instance: "test-1",
      logger: { warn: (_obj, msg) => warnings.push(msg) },
      limiter: new WriteLimiter({ qps: 10, burst: 10, clock, throttled: (op) => throttled.push(op) }),
    });
    recorder.record(secret, "Warning", "TokenRequestFailed", "ECR said no");
    await flush();
    assert.deepEqual(sent, [0]);
    clock.advance(1_999);
    await flush();
    assert.deepEqual(sent, [0]);
    clock.advance(1);
    await flush();
    await flush();
    assert.deepEqual(sent, [0, 2_000]);
    assert.deepEqual(throttled, ["event_create"]);
    assert.deepEqual(warnings, [], "the Event was recorded in the end");
  });
});
