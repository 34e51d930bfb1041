import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubernetesListObject, V1Namespace } from "@kubernetes/client-node";
import { Informer, type WatchClient } from "../../../src/informers/informer.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const ns = (name: string, rv: string, labels: Record<string, string> = {}): V1Namespace => ({
  metadata: { name, resourceVersion: rv, labels },
});

interface OpenWatch {
  params: Record<string, unknown>;
  send(type: string, obj: unknown): void;
  end(err?: unknown): void;
}

/** A watch whose streams the test drives; each call to watch() opens one. */
class FakeWatch implements WatchClient {
  opened: OpenWatch[] = [];
  watch(
    _path: string,
    params: Record<string, unknown>,
    callback: (phase: string, obj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let ended = false;
    const controller = new AbortController();
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

function setup(
  lists: (() => Promise<KubernetesListObject<V1Namespace>>)[],
  transform?: (obj: V1Namespace) => V1Namespace,
) {
  const clock = new FakeClock();
  const watch = new FakeWatch();
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
  });
  return { clock, watch, events, errors, informer, listCalls: () => listCalls };
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
});
