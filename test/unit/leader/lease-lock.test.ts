import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ApiException,
  V1MicroTime,
  type ConfigurationOptions,
  type RequestContext,
  type V1Lease,
} from "@kubernetes/client-node";
import { LeaseLock, type LeaseApi } from "../../../src/leader/lease-lock.ts";
import {
  LockConflictError,
  LockNamespaceNotFoundError,
  type LeaderElectionRecord,
} from "../../../src/leader/lock.ts";

const T0 = new Date("2026-03-01T10:00:00.123Z");
const T1 = new Date("2026-03-01T10:00:05.456Z");

const RECORD: LeaderElectionRecord = {
  holderIdentity: "pod-a_1234",
  leaseDurationSeconds: 15,
  acquireTime: T0,
  renewTime: T1,
  leaseTransitions: 3,
};

interface Call {
  method: string;
  param: { name?: string; namespace: string; body?: V1Lease };
  options: ConfigurationOptions | undefined;
}

/** A LeaseApi answering each method from a queue of results (a V1Lease or an error to throw). */
function fakeApi(answers: Partial<Record<keyof LeaseApi, (V1Lease | Error)[]>>): {
  api: LeaseApi;
  calls: Call[];
} {
  const calls: Call[] = [];
  const answer = (method: keyof LeaseApi, param: Call["param"], options?: ConfigurationOptions) => {
    calls.push({ method, param, options });
    const next = answers[method]?.shift();
    if (next === undefined) throw new Error(`unexpected call ${method}`);
    if (next instanceof Error) return Promise.reject(next);
    return Promise.resolve(next);
  };
  return {
    calls,
    api: {
      readNamespacedLease: (param, options) => answer("readNamespacedLease", param, options),
      createNamespacedLease: (param, options) => answer("createNamespacedLease", param, options),
      replaceNamespacedLease: (param, options) => answer("replaceNamespacedLease", param, options),
    },
  };
}

const apiError = (code: number) => new ApiException(code, "error", JSON.stringify({ reason: "X" }), {});

function lease(spec: Record<string, unknown>, resourceVersion = "7"): V1Lease {
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: "eatr", namespace: "ci-cd", resourceVersion },
    spec,
  };
}

const bounds = { timeoutMs: 1000 };

void describe("LeaseLock", () => {
  void it("returns undefined for a missing lease", async () => {
    const { api, calls } = fakeApi({ readNamespacedLease: [apiError(404)] });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    assert.equal(await lock.get(bounds), undefined);
    assert.deepEqual(calls[0]?.param, { name: "eatr", namespace: "ci-cd" });
    assert.equal(calls[0]?.options?.middleware?.length, 1, "bounded by a timeout");
  });

  void it("reads times sent as strings with microseconds, or as Dates", async () => {
    const { api } = fakeApi({
      readNamespacedLease: [
        lease({
          ...RECORD,
          acquireTime: "2026-03-01T10:00:00.123456Z",
          renewTime: "2026-03-01T10:00:05.456000Z",
        }),
        lease({ ...RECORD }),
      ],
    });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    const fromStrings = await lock.get(bounds);
    const fromDates = await lock.get(bounds);
    assert.deepEqual(fromStrings?.record, RECORD);
    assert.deepEqual(fromDates?.record, RECORD);
    assert.equal(fromStrings?.resourceVersion, "7");
    assert.notEqual(fromStrings?.raw, undefined);
  });

  void it("reads an empty spec as a lease nobody holds", async () => {
    const { api } = fakeApi({ readNamespacedLease: [lease({})] });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    assert.deepEqual((await lock.get(bounds))?.record, {
      holderIdentity: "",
      leaseDurationSeconds: 0,
      acquireTime: undefined,
      renewTime: undefined,
      leaseTransitions: 0,
    });
  });

  void it("gives equal raw text for an unchanged lease and different text after a renewal", async () => {
    const renewed = { ...RECORD, renewTime: "2026-03-01T10:00:05.456001Z" };
    const { api } = fakeApi({
      readNamespacedLease: [lease({ ...RECORD }), lease({ ...RECORD }), lease(renewed)],
    });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    const [a, b, c] = [await lock.get(bounds), await lock.get(bounds), await lock.get(bounds)];
    assert.equal(a?.raw, b?.raw);
    assert.notEqual(b?.raw, c?.raw);
  });

  void it("creates the lease with times as V1MicroTime (six fractional digits on the wire)", async () => {
    const { api, calls } = fakeApi({ createNamespacedLease: [lease({ ...RECORD }, "1")] });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr", labels: { app: "eatr" } });
    const created = await lock.create(RECORD, bounds);
    assert.equal(created.resourceVersion, "1");
    const body = calls[0]?.param.body;
    assert.ok(body?.spec?.renewTime instanceof V1MicroTime);
    assert.ok(body.spec.acquireTime instanceof V1MicroTime);
    assert.deepEqual(body.metadata, { name: "eatr", namespace: "ci-cd", labels: { app: "eatr" } });
    const wire = JSON.parse(JSON.stringify(body)) as { spec: Record<string, unknown> };
    assert.deepEqual(wire.spec, {
      holderIdentity: "pod-a_1234",
      leaseDurationSeconds: 15,
      acquireTime: "2026-03-01T10:00:00.123000Z",
      renewTime: "2026-03-01T10:00:05.456000Z",
      leaseTransitions: 3,
    });
  });

  void it("updates the version it last saw, keeping fields it does not manage", async () => {
    const seen = lease({ ...RECORD, strategy: "OldestEmulationVersion" }, "41");
    const { api, calls } = fakeApi({
      readNamespacedLease: [seen],
      replaceNamespacedLease: [lease({}, "42")],
    });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    await lock.get(bounds);
    const next = { ...RECORD, holderIdentity: "pod-b_99", leaseTransitions: 4 };
    const updated = await lock.update(next, bounds);
    assert.equal(updated.resourceVersion, "42");
    const body = calls[1]?.param.body;
    assert.equal(body?.metadata?.resourceVersion, "41");
    assert.equal(body?.spec?.strategy, "OldestEmulationVersion");
    assert.equal(body?.spec?.holderIdentity, "pod-b_99");
    assert.equal(calls[1]?.param.name, "eatr");
  });

  void it("refuses to update before reading or creating", async () => {
    const lock = new LeaseLock({ api: fakeApi({}).api, namespace: "ci-cd", name: "eatr" });
    await assert.rejects(lock.update(RECORD, bounds), /update before get or create/);
  });

  void it("turns a 409 into LockConflictError, naming the lease", async () => {
    const { api } = fakeApi({ readNamespacedLease: [lease({})], replaceNamespacedLease: [apiError(409)] });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    await lock.get(bounds);
    await assert.rejects(lock.update(RECORD, bounds), (err: unknown) => {
      assert.ok(err instanceof LockConflictError);
      assert.match(err.message, /^updating lease ci-cd\/eatr: HTTP 409/);
      return true;
    });
  });

  void it("reports other errors with context and cause", async () => {
    const { api } = fakeApi({ createNamespacedLease: [apiError(403)], readNamespacedLease: [apiError(500)] });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    await assert.rejects(lock.create(RECORD, bounds), (err: unknown) => {
      assert.ok(err instanceof Error && !(err instanceof LockConflictError));
      assert.match(err.message, /^creating lease ci-cd\/eatr: HTTP 403/);
      assert.ok(err.cause instanceof ApiException);
      return true;
    });
    await assert.rejects(lock.get(bounds), /^Error: reading lease ci-cd\/eatr: HTTP 500/);
  });

  void it("tells a create into a namespace that does not exist apart from other 404s", async () => {
    const notFound = (kind: string, name: string) =>
      new ApiException(
        404,
        "error",
        JSON.stringify({
          reason: "NotFound",
          message: `${kind} "${name}" not found`,
          details: { name, kind },
        }),
        {},
      );
    const { api } = fakeApi({ createNamespacedLease: [notFound("namespaces", "ci-cd"), apiError(404)] });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    await assert.rejects(lock.create(RECORD, bounds), (err: unknown) => {
      assert.ok(err instanceof LockNamespaceNotFoundError);
      assert.equal(err.namespace, "ci-cd");
      assert.equal(
        err.message,
        'creating lease ci-cd/eatr: namespace ci-cd does not exist (HTTP 404 NotFound: namespaces "ci-cd" not found)',
      );
      assert.ok(err.cause instanceof ApiException);
      return true;
    });
    await assert.rejects(lock.create(RECORD, bounds), (err: unknown) => {
      assert.ok(err instanceof Error && !(err instanceof LockNamespaceNotFoundError));
      return true;
    });
  });

  void it("says why the API server could not be reached, which fetch hides in its cause", async () => {
    const refused = new TypeError("fetch failed", {
      cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" }),
    });
    const { api } = fakeApi({ readNamespacedLease: [refused] });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    await assert.rejects(
      lock.get(bounds),
      /^Error: reading lease ci-cd\/eatr: TypeError: fetch failed \(connect ECONNREFUSED 127\.0\.0\.1:6443\)$/,
    );
  });

  void it("aborts a call when the bounds' signal aborts, as well as on its timeout", async () => {
    const { api, calls } = fakeApi({ readNamespacedLease: [apiError(404)] });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    const stop = new AbortController();
    await lock.get({ timeoutMs: 60_000, signal: stop.signal });
    const middleware = calls[0]?.options?.middleware ?? [];
    assert.equal(middleware.length, 2);
    let signal: AbortSignal | undefined;
    const ctx = {
      setSignal: (s: AbortSignal) => (signal = s),
      getSignal: () => signal,
      setHeaderParam: () => undefined,
    } as unknown as RequestContext;
    for (const m of middleware) await m.pre(ctx).toPromise();
    assert.equal(signal?.aborted, false);
    stop.abort();
    assert.equal(signal?.aborted, true);
  });

  void it("rounds a fractional timeout up (AbortSignal.timeout takes whole milliseconds)", async () => {
    const { api, calls } = fakeApi({ readNamespacedLease: [apiError(404)] });
    const lock = new LeaseLock({ api, namespace: "ci-cd", name: "eatr" });
    await lock.get({ timeoutMs: 1438.44249 });
    let signal: AbortSignal | undefined;
    const ctx = {
      setSignal: (s: AbortSignal) => (signal = s),
      getSignal: () => signal,
      setHeaderParam: () => undefined,
    } as unknown as RequestContext;
    for (const m of calls[0]?.options?.middleware ?? []) await m.pre(ctx).toPromise();
    assert.equal(signal?.aborted, false);
  });

  void it("requires a namespace and a name", () => {
    const { api } = fakeApi({});
    assert.throws(() => new LeaseLock({ api, namespace: "", name: "eatr" }), /namespace is required/);
    assert.throws(() => new LeaseLock({ api, namespace: "ci-cd", name: "" }), /name is required/);
  });
});
