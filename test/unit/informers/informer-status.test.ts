import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  describeError,
  displayServer,
  informersReadiness,
  isUnreachable,
  ShortWatchError,
  sortWatchEnd,
  WatchEventError,
  type InformerStatus,
} from "../../../src/informers/informer-status.ts";

const T = Date.UTC(2026, 0, 1, 10, 0, 0);

const ok = (name: string): InformerStatus => ({
  name,
  synced: true,
  healthy: true,
  server: "https://10.0.0.1:6443",
  failingSinceMs: undefined,
  failures: 0,
  lastError: undefined,
  unreachable: false,
});

const failing = (name: string, overrides: Partial<InformerStatus> = {}): InformerStatus => ({
  ...ok(name),
  synced: false,
  healthy: false,
  failingSinceMs: T,
  failures: 3,
  lastError: "Error: connect ECONNREFUSED 10.0.0.1:6443",
  unreachable: true,
  ...overrides,
});

describe("informersReadiness", () => {
  it("is ready when every informer synced and none is failing", () => {
    assert.deepEqual(informersReadiness([ok("namespaces"), ok("credentials")]), {
      ok: true,
      detail: "all informers synced",
    });
  });

  it("names the unreachable server once, since its first failure, with the informers that cannot reach it", () => {
    const r = informersReadiness([
      failing("namespaces", { failingSinceMs: T + 5 }),
      failing("credentials"),
      failing("managed-secrets", { failingSinceMs: T + 9 }),
    ]);
    assert.equal(r.ok, false);
    assert.equal(
      r.detail,
      "API server https://10.0.0.1:6443 unreachable since 2026-01-01T10:00:00.000Z (namespaces, credentials, managed-secrets: Error: connect ECONNREFUSED 10.0.0.1:6443); waiting for namespaces, credentials, managed-secrets to sync",
    );
  });

  it("is not ready while a synced informer fails, and says with what", () => {
    const r = informersReadiness([
      ok("namespaces"),
      failing("managed-secrets", { synced: true, unreachable: false, lastError: "HTTP 403: forbidden" }),
    ]);
    assert.deepEqual(r, {
      ok: false,
      detail:
        "managed-secrets list/watch failing since 2026-01-01T10:00:00.000Z on https://10.0.0.1:6443: HTTP 403: forbidden",
    });
  });

  it("waits for informers still on their first list", () => {
    const r = informersReadiness([ok("namespaces"), { ...ok("credentials"), synced: false, healthy: false }]);
    assert.deepEqual(r, { ok: false, detail: "waiting for credentials to sync" });
  });
});

describe("list/watch errors", () => {
  it("sorts errors without an HTTP answer as unreachable", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:6443"), { code: "ECONNREFUSED" });
    assert.equal(isUnreachable(refused), true);
    assert.equal(isUnreachable(new DOMException("no answer within 60000 ms", "TimeoutError")), true);
    assert.equal(isUnreachable(Object.assign(new Error("GET /x: HTTP 500"), { statusCode: 500 })), false);
    assert.equal(isUnreachable(new ShortWatchError("watch ended 3 ms after it started")), false);
    assert.equal(isUnreachable(new WatchEventError("/x", { code: 500 })), false);
  });

  it("describes errors with their HTTP status only when there is one", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:6443"), { code: "ECONNREFUSED" });
    assert.equal(describeError(refused), "Error: connect ECONNREFUSED 10.0.0.1:6443");
    assert.equal(
      describeError(Object.assign(new Error("GET /api/v1/namespaces: HTTP 403"), { statusCode: 403 })),
      "HTTP 403: GET /api/v1/namespaces: HTTP 403",
    );
    assert.equal(
      describeError(new WatchEventError("/api/v1/secrets", { code: 500, reason: "InternalError" })),
      "watch /api/v1/secrets: ERROR event: HTTP 500 InternalError",
    );
    assert.equal(describeError(new WatchEventError("/x", "not a status")), "watch /x: ERROR event: HTTP ?");
  });

  it("shows a server URL without credentials", () => {
    assert.equal(displayServer("https://admin:hunter2@k8s.example:6443/"), "https://k8s.example:6443");
    assert.equal(displayServer("https://10.0.0.1"), "https://10.0.0.1");
    assert.equal(displayServer("not a url"), "(unparsable server URL)");
  });
});

describe("sortWatchEnd", () => {
  const timeout = new DOMException("watch: no data for 30000 ms", "TimeoutError");
  const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  const gone = Object.assign(new Error("GET: HTTP 410"), { statusCode: 410 });
  const base = { path: "/api/v1/namespaces", err: null, streamError: undefined, opened: true, events: 0 };
  const cases: [string, Partial<Parameters<typeof sortWatchEnd>[0]> & { lastedMs: number }, string][] = [
    ["a clean end after 1 s", { lastedMs: 1000 }, "resume"],
    ["a clean end sooner, after events", { lastedMs: 5, events: 2 }, "resume"],
    ["a clean end sooner, without events", { lastedMs: 5 }, "failed ShortWatchError"],
    ["the no-data timeout of an open watch", { lastedMs: 30_000, err: timeout }, "resume"],
    ["a timeout while opening", { lastedMs: 30_000, err: timeout, opened: false }, "failed TimeoutError"],
    ["a refused connection", { lastedMs: 2, err: refused, opened: false }, "failed Error"],
    ["410 as an answer", { lastedMs: 2, err: gone }, "gone"],
    [
      "an ERROR event with 410",
      { lastedMs: 2, streamError: new WatchEventError("/x", { code: 410 }) },
      "gone",
    ],
    [
      "an ERROR event with 500, even after a clean end",
      { lastedMs: 60_000, events: 9, streamError: new WatchEventError("/x", { code: 500 }) },
      "failed WatchEventError",
    ],
  ];
  for (const [what, input, expected] of cases) {
    it(`${what}: ${expected}`, () => {
      const end = sortWatchEnd({ ...base, ...input });
      assert.equal(end.kind === "failed" ? `failed ${(end.error as Error).name}` : end.kind, expected);
    });
  }
});
