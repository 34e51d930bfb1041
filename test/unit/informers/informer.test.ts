import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubernetesListObject, V1Namespace } from "@kubernetes/client-node";
import {
  Informer,
  MIN_WATCH_DURATION_MS,
  type InformerLogger,
  type WatchClient,
} from "../../../src/informers/informer.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const ns = (name: string, rv: string, labels: Record<string, string> = {}): V1Namespace => ({
  metadata: { name, resourceVersion: rv, labels },
});

interface OpenWatch {
  params: Record<string, unknown>;
  send(type: string, obj: unknown): void;
  end(err?: unknown): void;
}

/**
 * A watch whose streams the test drives; each call to watch() opens one. failOpening(err) makes the next
 * watch() fail before it opens, as a refused connection or a timeout while connecting does.
 */
class FakeWatch implements WatchClient {
  readonly server: string | undefined;
  opened: OpenWatch[] = [];
  /** Every watch() call, opened or not. */
  calls = 0;
  private openingFailures: unknown[] = [];

  constructor(server?: string) {
    this.server = server;
  }

  failOpening(err: unknown): void {
    this.openingFailures.push(err);
  }

  watch(
    _path: string,
    params: Record<string, unknown>,
    callback: (phase: string, obj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.calls++;
    let ended = false;
    const controller = new AbortController();
    if (this.openingFailures.length > 0) {
      // RestClient's order: done with the error first, then the promise settles.
      done(this.openingFailures.shift());
      return Promise.resolve(controller);
    }
    controller.signal.addEventListener("abort", () => {
      if (!ended) {
        ended = true;
        done(null);
      }
    });
    this.opened.push({
      params,
      send: (type, obj) => {
        callback(type, obj);
      },
      end: (err) => {
        if (ended) return;
        ended = true;
        done(err ?? null);
      },
    });
    return Promise.resolve(controller);
  }
  last(): OpenWatch {
    return this.opened.at(-1) ?? assert.fail("no watch open");
  }
}

/** A whole list answered as one page. */
async function* onePage<T extends V1Namespace>(list: Promise<KubernetesListObject<T>>) {
  const l = await list;
  yield { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? "" };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

/** A logger keeping each line as "<level> <msg>", with its fields. */
class FakeLogger implements InformerLogger {
  lines: { level: string; msg: string; fields: Record<string, unknown>; at: number }[] = [];
  private readonly clock: FakeClock;
  constructor(clock: FakeClock) {
    this.clock = clock;
  }
  warn(fields: object, msg: string): void {
    this.push("warn", fields, msg);
  }
  info(fields: object, msg: string): void {
    this.push("info", fields, msg);
  }
  debug(fields: object, msg: string): void {
    this.push("debug", fields, msg);
  }
  at(level: string) {
    return this.lines.filter((l) => l.level === level);
  }
  private push(level: string, fields: object, msg: string): void {
    this.lines.push({ level, msg, fields: fields as Record<string, unknown>, at: this.clock.monotonic() });
  }
}

function setup(
  lists: (() => Promise<KubernetesListObject<V1Namespace>>)[],
  transform?: (obj: V1Namespace) => V1Namespace,
  server?: string,
) {
  const clock = new FakeClock();
  const watch = new FakeWatch(server);
  const logger = new FakeLogger(clock);
  const events: string[] = [];
  const errors: number[] = [];
  let listCalls = 0;
  const informer = new Informer<V1Namespace>({
    name: "namespaces",
    path: "/api/v1/namespaces",
    list: () => {
      const next = lists[Math.min(listCalls, lists.length - 1)] ?? assert.fail("no list");
      listCalls++;
      return onePage(next());
    },
    clock,
    watch,
    ...(transform ? { transform } : {}),
    random: () => 0.5,
    indexers: { team: (o) => [o.metadata?.labels?.team ?? ""] },
    handlers: {
      onAdd: (o) => events.push(`add ${o.metadata?.name ?? ""}`),
      onUpdate: (_old, o) => events.push(`update ${o.metadata?.name ?? ""}`),
      onDelete: (o) => events.push(`delete ${o.metadata?.name ?? ""}`),
    },
    observer: { watchError: (_n, _e, retryInMs) => errors.push(retryInMs) },
    logger,
  });
  return { clock, watch, events, errors, informer, logger, listCalls: () => listCalls };
}

const list = (rv: string, items: V1Namespace[]) => () =>
  Promise.resolve({ metadata: { resourceVersion: rv }, items });

describe("Informer", () => {
  it("lists, becomes synced, then watches from the list's resourceVersion with bookmarks and a timeout", async () => {
    const t = setup([list("10", [ns("a", "5"), ns("b", "6")])]);
    assert.equal(t.informer.hasSynced(), false);
    t.informer.start();
    await settle();
    assert.equal(t.informer.hasSynced(), true);
    assert.deepEqual(t.events, ["add a", "add b"]);
    const w = t.watch.last();
    assert.equal(w.params.resourceVersion, "10");
    assert.equal(w.params.allowWatchBookmarks, true);
    assert.equal(w.params.timeoutSeconds, 450);
    w.send("MODIFIED", ns("a", "11", { team: "x" }));
    w.send("ADDED", ns("c", "12", { team: "x" }));
    w.send("DELETED", ns("b", "13"));
    w.send("BOOKMARK", { metadata: { resourceVersion: "20" } });
    assert.deepEqual(t.events.slice(2), ["update a", "add c", "delete b"]);
    assert.deepEqual(
      t.informer
        .byIndex("team", "x")
        .map((o) => o.metadata?.name)
        .sort(),
      ["a", "c"],
    );
    assert.equal(t.informer.get("b"), undefined);
    w.end(); // the server closed the watch (timeoutSeconds): resume from the bookmark, no relist
    await settle();
    assert.equal(t.listCalls(), 1);
    assert.equal(t.watch.last().params.resourceVersion, "20");
    await t.informer.stop();
  });

  it("ignores an update that does not change the resourceVersion", async () => {
    const t = setup([list("10", [ns("a", "5")])]);
    t.informer.start();
    await settle();
    t.watch.last().send("MODIFIED", ns("a", "5"));
    assert.deepEqual(t.events, ["add a"]);
    await t.informer.stop();
  });

  it("relists on 410 Gone and reports only the differences", async () => {
    const t = setup([list("10", [ns("a", "5"), ns("b", "6")]), list("30", [ns("a", "5"), ns("c", "25")])]);
    t.informer.start();
    await settle();
    t.watch.last().end(Object.assign(new Error("Gone"), { statusCode: 410 }));
    await settle();
    assert.equal(t.listCalls(), 2);
    assert.deepEqual(t.events, ["add a", "add b", "add c", "delete b"]);
    assert.equal(t.watch.last().params.resourceVersion, "30");
    assert.deepEqual(t.errors, [], "a 410 is not an error");
    await t.informer.stop();
  });

  it("applies a paged relist page by page and removes what no page mentioned only after the last page", async () => {
    const clock = new FakeClock();
    const watch = new FakeWatch();
    const events: string[] = [];
    let calls = 0;
    let releaseSecondPage: () => void = () => undefined;
    const secondPage = new Promise<void>((resolve) => (releaseSecondPage = resolve));
    const informer = new Informer<V1Namespace>({
      name: "namespaces",
      path: "/api/v1/namespaces",
      list: async function* () {
        if (calls++ === 0) {
          yield { items: [ns("a", "5"), ns("b", "6")], resourceVersion: "10" };
          return;
        }
        yield { items: [ns("a", "5")], resourceVersion: "30" };
        await secondPage;
        yield { items: [ns("c", "25")], resourceVersion: "30" };
      },
      clock,
      watch,
      random: () => 0.5,
      handlers: {
        onAdd: (o) => events.push(`add ${o.metadata?.name ?? ""}`),
        onDelete: (o) => events.push(`delete ${o.metadata?.name ?? ""}`),
      },
    });
    informer.start();
    await settle();
    watch.last().end(Object.assign(new Error("Gone"), { statusCode: 410 }));
    await settle();
    assert.deepEqual(events, ["add a", "add b"], "b is kept while the relist is still on its first page");
    assert.equal(watch.opened.length, 1, "no watch before the last page");
    releaseSecondPage();
    await settle();
    assert.deepEqual(events, ["add a", "add b", "add c", "delete b"]);
    assert.equal(watch.last().params.resourceVersion, "30");
    await informer.stop();
  });

  it("treats a 410 ERROR event inside the stream like a 410 response", async () => {
    const t = setup([list("10", [ns("a", "5")]), list("40", [ns("a", "35")])]);
    t.informer.start();
    await settle();
    t.watch.last().send("ERROR", { code: 410, kind: "Status" });
    t.watch.last().end();
    await settle();
    assert.equal(t.listCalls(), 2);
    assert.deepEqual(t.events, ["add a", "update a"]);
    await t.informer.stop();
  });

  it("survives errors with capped, jittered exponential backoff, reports unhealthy, and recovers", async () => {
    const failing = () =>
      Promise.reject(Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" }));
    const t = setup([
      failing,
      failing,
      failing,
      failing,
      failing,
      failing,
      failing,
      list("10", [ns("a", "5")]),
    ]);
    t.informer.start();
    await settle();
    assert.equal(t.informer.hasSynced(), false);
    assert.equal(t.informer.isHealthy(), false);
    for (let i = 0; i < 7; i++) {
      t.clock.advance(60_000);
      await settle();
    }
    // base 800 ms doubling, capped at 30 s, times a jitter factor of 0.75 (random 0.5)
    assert.deepEqual(t.errors, [600, 1200, 2400, 4800, 9600, 19200, 22500]);
    assert.equal(t.informer.hasSynced(), true);
    assert.equal(t.informer.isHealthy(), true);
    t.watch.last().end(Object.assign(new Error("Internal Server Error"), { statusCode: 500 }));
    await settle();
    assert.equal(t.errors.at(-1), 600, "backoff starts over after a success");
    await t.informer.stop();
  });

  it("caches what transform returns, for listed and watched objects", async () => {
    const big = (name: string, rv: string): V1Namespace => ({
      metadata: { name, resourceVersion: rv, annotations: { "last-applied": "x".repeat(1000) } },
    });
    const t = setup([list("10", [big("a", "5")])], (o) => ({
      metadata: { name: o.metadata?.name, resourceVersion: o.metadata?.resourceVersion },
    }));
    t.informer.start();
    await settle();
    t.watch.last().send("ADDED", big("b", "11"));
    assert.deepEqual(t.informer.get("a"), { metadata: { name: "a", resourceVersion: "5" } });
    assert.deepEqual(t.informer.get("b"), { metadata: { name: "b", resourceVersion: "11" } });
    await t.informer.stop();
  });

  it("stop() ends the loop, also during a backoff", async () => {
    const t = setup([() => Promise.reject(new Error("down"))]);
    t.informer.start();
    await settle();
    await t.informer.stop();
    assert.equal(t.clock.pendingTimers(), 0);
  });

  describe("watches that end badly (client-go's reflector rules)", () => {
    const synced = async (server?: string) => {
      const t = setup([list("10", [ns("a", "5")])], undefined, server);
      t.informer.start();
      await settle();
      assert.equal(t.watch.opened.length, 1);
      return t;
    };

    it("backs off when a watch ends without any event sooner than 1 s after it started", async () => {
      const t = await synced();
      t.watch.last().end(); // a proxy answers the watch and closes it at once
      await settle();
      assert.equal(t.watch.calls, 1, "no new watch before the backoff");
      assert.deepEqual(t.errors, [600], "counted as a failure");
      assert.equal(t.informer.isHealthy(), false);
      assert.match(t.informer.state().lastError ?? "", /ended 0 ms after it started, without any event/);
      t.clock.advance(599);
      await settle();
      assert.equal(t.watch.calls, 1);
      t.clock.advance(1);
      await settle();
      assert.equal(t.watch.calls, 2);
      assert.equal(t.watch.last().params.resourceVersion, "10", "resumes the watch; no relist");
      assert.equal(t.listCalls(), 1);
      t.watch.last().end();
      await settle();
      assert.deepEqual(t.errors, [600, 1200], "the backoff grows");
      await t.informer.stop();
    });

    it("keeps the request rate bounded when every watch is closed at once", async () => {
      const t = await synced();
      // Ten minutes of a proxy closing every watch as soon as it opens.
      for (let ms = 0; ms < 600_000; ms += 100) {
        const w = t.watch.last();
        w.end();
        await settle();
        t.clock.advance(100);
      }
      await settle();
      // Backoff 800 ms doubling to 30 s (jittered by 0.75 here): about 30 watches, where a hot loop makes
      // one per settle (6,000 here, thousands a second for real).
      assert.ok(t.watch.calls <= 35, `${t.watch.calls} watches in 10 minutes`);
      assert.ok(t.watch.calls >= 20, `${t.watch.calls} watches in 10 minutes: still retrying`);
      assert.equal(t.errors.at(-1), 22_500, "capped at 30 s × 0.75");
      assert.equal(t.informer.isHealthy(), false);
      await t.informer.stop();
    });

    it("resumes at once when a watch ends after lasting 1 s, or sooner after delivering events", async () => {
      const t = await synced();
      t.clock.advance(MIN_WATCH_DURATION_MS);
      t.watch.last().end();
      await settle();
      assert.equal(t.watch.calls, 2, "a watch that lasted 1 s is resumed at once");
      t.watch.last().send("ADDED", ns("b", "11"));
      t.watch.last().end();
      await settle();
      assert.equal(t.watch.calls, 3, "a short watch that delivered events is resumed at once");
      assert.equal(t.watch.last().params.resourceVersion, "11");
      assert.deepEqual(t.errors, []);
      assert.equal(t.informer.isHealthy(), true);
      await t.informer.stop();
    });

    it("resumes at once after the no-data timeout of a watch that opened and lasted", async () => {
      const t = await synced();
      t.clock.advance(30_000);
      t.watch.last().end(new DOMException("watch: no data for 30000 ms", "TimeoutError"));
      await settle();
      assert.equal(t.watch.calls, 2);
      assert.deepEqual(t.errors, []);
      await t.informer.stop();
    });

    it("counts a timeout while opening the watch as a failure", async () => {
      const t = await synced();
      t.clock.advance(MIN_WATCH_DURATION_MS);
      t.watch.failOpening(new DOMException("watch: no data for 30000 ms", "TimeoutError"));
      t.watch.last().end();
      await settle();
      assert.equal(t.watch.calls, 2, "the watch ended after 1 s: resumed at once");
      assert.deepEqual(t.errors, [600], "but opening the next one timed out");
      assert.equal(t.informer.isHealthy(), false);
      assert.match(t.informer.state().lastError ?? "", /TimeoutError/);
      assert.equal(t.informer.state().unreachable, true);
      t.clock.advance(600);
      await settle();
      assert.equal(t.watch.calls, 3);
      await t.informer.stop();
    });

    it("counts a list timeout as a failure and lists again only after the backoff", async () => {
      const timeout = () =>
        Promise.reject(new DOMException("GET /api/v1/namespaces: no answer within 60000 ms", "TimeoutError"));
      const t = setup([timeout, list("10", [ns("a", "5")])]);
      t.informer.start();
      await settle();
      assert.equal(t.listCalls(), 1, "not listed again at once");
      assert.deepEqual(t.errors, [600]);
      assert.equal(t.informer.isHealthy(), false);
      assert.equal(t.informer.state().unreachable, true);
      t.clock.advance(600);
      await settle();
      assert.equal(t.listCalls(), 2);
      assert.equal(t.informer.hasSynced(), true);
      assert.equal(t.informer.isHealthy(), true);
      await t.informer.stop();
    });

    it("turns an ERROR event other than 410 into a failure: ends the watch, backs off, says why", async () => {
      const t = await synced();
      t.clock.advance(5_000);
      t.watch.last().send("ERROR", {
        kind: "Status",
        code: 500,
        reason: "InternalError",
        message: "etcdserver: request timed out",
      });
      await settle();
      assert.deepEqual(t.errors, [600]);
      assert.equal(t.watch.calls, 1, "the watch was ended, and is retried after the backoff");
      assert.equal(t.informer.isHealthy(), false);
      const state = t.informer.state();
      assert.equal(
        state.lastError,
        "watch /api/v1/namespaces: ERROR event: HTTP 500 InternalError: etcdserver: request timed out",
      );
      assert.equal(state.unreachable, false);
      t.clock.advance(600);
      await settle();
      assert.equal(t.watch.calls, 2);
      assert.equal(t.listCalls(), 1, "not a relist");
      await t.informer.stop();
    });

    it("becomes healthy again once a watch has stayed open 1 s, and logs the end of the outage", async () => {
      const t = await synced("https://k8s.example:6443");
      t.watch.last().end();
      await settle();
      t.clock.advance(600);
      await settle();
      assert.equal(t.informer.isHealthy(), false, "a watch that just opened proves nothing yet");
      t.clock.advance(MIN_WATCH_DURATION_MS);
      await settle();
      assert.equal(t.informer.isHealthy(), true);
      assert.equal(t.informer.state().failingSinceMs, undefined);
      const recovered = t.logger.at("info");
      assert.equal(recovered.length, 1);
      assert.match(
        recovered[0]?.msg ?? "",
        /^namespaces: list\/watch works again after 2 s \(1 failed attempts\)$/,
      );
      assert.equal(recovered[0]?.fields.downForMs, 1600);
      await t.informer.stop();
      assert.equal(t.clock.pendingTimers(), 0);
    });
  });

  describe("logging an outage", () => {
    it("warns when failures start and at growing intervals, not once per retry; one line when it ends", async () => {
      const refused = () =>
        Promise.reject(
          Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:6443"), { code: "ECONNREFUSED" }),
        );
      const failures = Array.from({ length: 40 }, () => refused);
      const t = setup([...failures, list("10", [ns("a", "5")])], undefined, "https://10.0.0.1:6443");
      t.informer.start();
      await settle();
      for (let s = 0; s < 20 * 60; s++) {
        t.clock.advance(1000);
        await settle();
      }
      assert.equal(t.listCalls(), 41, "retried all along");
      const warns = t.logger.at("warn");
      // 0 s, then reminders 30 s, 60 s, 120 s, 240 s, 300 s... apart (each at the next retry after that).
      assert.ok(warns.length >= 5 && warns.length <= 7, `${warns.length} warnings for 40 failures`);
      assert.equal(warns[0]?.at, 0);
      assert.equal(
        warns[0]?.msg,
        "namespaces: cannot reach the API server https://10.0.0.1:6443 (Error: connect ECONNREFUSED 10.0.0.1:6443); retrying with backoff, logging again at growing intervals while it lasts",
      );
      assert.equal(warns[0]?.fields.server, "https://10.0.0.1:6443");
      assert.equal(warns[0]?.fields.since, new Date(t.clock.now() - 20 * 60_000).toISOString());
      const gaps = warns.slice(1).map((w, i) => w.at - (warns[i]?.at ?? 0));
      for (const [i, gap] of gaps.entries()) {
        assert.ok(gap >= Math.min(30_000 * 2 ** i, 300_000), `gap ${i} is ${gap} ms`);
      }
      assert.match(
        warns[1]?.msg ?? "",
        /^namespaces: still failing since \S+ after \d+ attempts: cannot reach/,
      );
      assert.equal(t.logger.at("debug").length + warns.length, 40, "every other failure at debug level");
      const recovered = t.logger.at("info");
      assert.equal(recovered.length, 1);
      assert.match(
        recovered[0]?.msg ?? "",
        /^namespaces: list\/watch works again after \d+ min \d+ s \(40 failed attempts\)$/,
      );
      await t.informer.stop();
    });

    it("names the server without its credentials", async () => {
      const t = setup(
        [() => Promise.reject(new Error("down"))],
        undefined,
        "https://user:secret@k8s.example:6443/",
      );
      t.informer.start();
      await settle();
      const state = t.informer.state();
      assert.equal(state.server, "https://k8s.example:6443");
      assert.equal(state.failures, 1);
      assert.equal(state.failingSinceMs, t.clock.now());
      assert.equal(state.lastError, "Error: down");
      assert.ok(!JSON.stringify(t.logger.lines).includes("secret"));
      await t.informer.stop();
    });
  });
});
