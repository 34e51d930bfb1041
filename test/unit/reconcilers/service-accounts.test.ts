import assert from "node:assert/strict";
import { parseLabelSelector } from "../../../src/domain/label-selector.ts";
import { RegistryPolicy } from "../../../src/domain/registry-policy.ts";
import { describe, it } from "node:test";
import type { V1Namespace, V1ServiceAccount } from "@kubernetes/client-node";
import {
  ADDED_ANNOTATION,
  IGNORE_ANNOTATION,
  NO_SERVICE_ACCOUNTS,
  SERVICE_ACCOUNTS_ANNOTATION,
  type Selection,
} from "../../../src/domain/service-accounts.ts";
import { KubeApiError, type RestClient } from "../../../src/kube/rest.ts";
import {
  ServiceAccountWriter,
  type ServiceAccountApi,
  type ServiceAccountOperation,
} from "../../../src/kube/service-account-writer.ts";
import { WriteLimiter } from "../../../src/kube/write-limiter.ts";
import {
  FreshPullSecrets,
  ServiceAccountReconcileError,
  ServiceAccountReconciler,
  reconcileWithServiceAccounts,
} from "../../../src/reconcilers/service-accounts.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const A = "111111111111.dkr.ecr.eu-west-1.amazonaws.com";
const B = "222222222222.dkr.ecr.us-east-1.amazonaws.com";
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined };

function namespace(labels: string[], annotation?: string): V1Namespace {
  const meta: V1Namespace["metadata"] = {
    name: "team",
    uid: "ns-uid",
    labels: Object.fromEntries(labels.map((h) => [h, "true"])),
  };
  if (annotation !== undefined) meta.annotations = { [SERVICE_ACCOUNTS_ANNOTATION]: annotation };
  return { metadata: meta, status: { phase: "Active" } };
}

function account(
  name: string,
  entries: string[] = [],
  annotations: Record<string, string> = {},
): V1ServiceAccount {
  return {
    metadata: { name, namespace: "team", uid: `${name}-uid`, resourceVersion: "1", annotations },
    imagePullSecrets: entries.map((n) => ({ name: n })),
  };
}

/** An in-memory API: resourceVersions checked on update like the API server; every call recorded. */
class FakeApi implements ServiceAccountApi {
  readonly store = new Map<string, V1ServiceAccount>();
  readonly calls: string[] = [];
  /** Runs before an update is applied (a concurrent edit by another client). */
  beforeUpdate: ((name: string) => void) | undefined;
  failWith: Error | undefined;

  constructor(accounts: V1ServiceAccount[]) {
    for (const sa of accounts) this.store.set(sa.metadata?.name ?? "", structuredClone(sa));
  }

  read(_ns: string, name: string): Promise<V1ServiceAccount | undefined> {
    this.calls.push(`read ${name}`);
    const sa = this.store.get(name);
    return Promise.resolve(sa && structuredClone(sa));
  }

  update(sa: V1ServiceAccount, operation: ServiceAccountOperation): Promise<void> {
    const name = sa.metadata?.name ?? "";
    this.calls.push(`update ${name} ${operation}`);
    if (this.failWith) return Promise.reject(this.failWith);
    const hook = this.beforeUpdate;
    this.beforeUpdate = undefined;
    hook?.(name);
    const current = this.store.get(name);
    if (current?.metadata?.resourceVersion !== sa.metadata?.resourceVersion)
      return Promise.reject(new KubeApiError("PUT", name, 409, "{}"));
    const next = structuredClone(sa);
    next.metadata = { ...next.metadata, resourceVersion: String(Number(sa.metadata?.resourceVersion) + 1) };
    this.store.set(name, next);
    return Promise.resolve();
  }

  /** Another client's edit: bumps the resourceVersion. */
  edit(name: string, change: (sa: V1ServiceAccount) => void): void {
    const sa = this.store.get(name);
    assert.ok(sa);
    change(sa);
    sa.metadata = { ...sa.metadata, resourceVersion: String(Number(sa.metadata?.resourceVersion) + 1) };
  }

  entries(name: string): (string | undefined)[] {
    return (this.store.get(name)?.imagePullSecrets ?? []).map((e) => e.name);
  }
}

function setup(opts: {
  ns: V1Namespace;
  accounts: V1ServiceAccount[];
  selection?: Selection;
  existing?: string[];
  api?: ServiceAccountApi;
  registryPolicy?: RegistryPolicy;
}) {
  const api = new FakeApi(opts.accounts);
  const events: string[] = [];
  const reconciler = new ServiceAccountReconciler({
    caches: {
      namespace: (name) => (name === "team" ? opts.ns : undefined),
      // The cache follows the store (as the informer would, after the echo).
      serviceAccounts: () => [...api.store.values()].map((sa) => structuredClone(sa)),
      pullSecretExists: (_ns, host) => (opts.existing ?? [A, B]).includes(host),
    },
    api: opts.api ?? api,
    events: {
      record: (obj, type, reason) => {
        events.push(`${type} ${reason} ${obj.kind ?? ""}/${obj.name ?? ""}`);
      },
    },
    logger: quiet,
    defaultSelection: opts.selection ?? NO_SERVICE_ACCOUNTS,
    ...(opts.registryPolicy === undefined
      ? {}
      : { registries: (ns: V1Namespace) => opts.registryPolicy?.wanted(ns) ?? [] }),
  });
  return { api, events, reconciler };
}

void describe("ServiceAccountReconciler", () => {
  void it("patches the selected ServiceAccounts only; ignored and unselected ones get no call", async () => {
    const { api, reconciler } = setup({
      ns: namespace([A], "default,builder"),
      accounts: [
        account("default", ["mine"]),
        account("builder"),
        account("other"),
        account("ignored-but-named", [], { [IGNORE_ANNOTATION]: "true" }),
      ],
    });
    await reconciler.reconcile("team");
    assert.deepEqual(api.entries("default"), ["mine", A]);
    assert.deepEqual(api.entries("builder"), [A]);
    assert.deepEqual(api.entries("other"), []);
    assert.equal(api.store.get("default")?.metadata?.annotations?.[ADDED_ANNOTATION], A);
    assert.deepEqual(api.calls.sort(), [
      "read builder",
      "read default",
      "update builder add",
      "update default add",
    ]);
    api.calls.length = 0;
    await reconciler.reconcile("team");
    assert.deepEqual(api.calls, [], "nothing to change: no API call at all");
  });

  void it("follows the registry policy: a selected namespace's registry is added, an undeclared one (restricted) is not", async () => {
    const ns = namespace([B], "default");
    ns.metadata = { ...ns.metadata, labels: { ...ns.metadata?.labels, team: "web" } };
    const { api, reconciler } = setup({
      ns,
      accounts: [account("default", ["mine"])],
      registryPolicy: new RegistryPolicy({
        registries: [{ host: A, namespaceSelector: parseLabelSelector("team=web") }],
        restrictToDeclared: true,
      }),
    });
    await reconciler.reconcile("team");
    assert.deepEqual(api.entries("default"), ["mine", A]);
  });

  void it("an ignored ServiceAccount is never touched, even with eatr's entries on it", async () => {
    const { api, reconciler } = setup({
      ns: namespace([]),
      selection: { kind: "all" },
      accounts: [account("default", [A], { [ADDED_ANNOTATION]: A, [IGNORE_ANNOTATION]: "true" })],
    });
    await reconciler.reconcile("team");
    assert.deepEqual(api.calls, []);
  });

  void it("uses the cluster-wide default without the annotation; an empty annotation opts out and removes ours", async () => {
    const accounts = [account("default", ["mine", A], { [ADDED_ANNOTATION]: A })];
    const withDefault = setup({ ns: namespace([A, B]), accounts, selection: { kind: "all" } });
    await withDefault.reconciler.reconcile("team");
    assert.deepEqual(withDefault.api.entries("default"), ["mine", A, B]);
    const optedOut = setup({ ns: namespace([A, B], ""), accounts, selection: { kind: "all" } });
    await optedOut.reconciler.reconcile("team");
    assert.deepEqual(optedOut.api.entries("default"), ["mine"]);
    assert.equal(optedOut.api.store.get("default")?.metadata?.annotations?.[ADDED_ANNOTATION], undefined);
  });

  void it("adds an entry only once its pull secret exists", async () => {
    const { api, reconciler } = setup({
      ns: namespace([A, B], "*"),
      accounts: [account("default")],
      existing: [B],
    });
    await reconciler.reconcile("team");
    assert.deepEqual(api.entries("default"), [B]);
  });

  void it("a concurrent edit during the update (409) is re-read and redone: neither change is lost", async () => {
    const { api, reconciler } = setup({
      ns: namespace([A], "default"),
      accounts: [account("default", ["mine"])],
    });
    api.beforeUpdate = () => {
      api.edit("default", (sa) => {
        sa.imagePullSecrets = [...(sa.imagePullSecrets ?? []), { name: "theirs" }];
      });
    };
    await reconciler.reconcile("team");
    assert.deepEqual(api.entries("default"), ["mine", "theirs", A]);
    assert.deepEqual(api.calls, ["read default", "update default add", "read default", "update default add"]);
  });

  void it("an invalid annotation leaves ServiceAccounts alone and is told once with a Warning Event", async () => {
    const { api, events, reconciler } = setup({
      ns: namespace([A], "Default"),
      accounts: [account("default", [A], { [ADDED_ANNOTATION]: A })],
    });
    await reconciler.reconcile("team");
    await reconciler.reconcile("team");
    assert.deepEqual(api.calls, []);
    assert.deepEqual(events, ["Warning ServiceAccountSelectionInvalid Namespace/team"]);
  });

  void it("a ServiceAccount it cannot update: Warning Event on it, the others still done, then an error to retry", async () => {
    const { api, events, reconciler } = setup({
      ns: namespace([A], "*"),
      accounts: [account("a"), account("b")],
    });
    api.failWith = new KubeApiError("PUT", "x", 403, '{"message":"forbidden"}');
    await assert.rejects(reconciler.reconcile("team"), ServiceAccountReconcileError);
    assert.deepEqual(events.sort(), [
      "Warning ServiceAccountUpdateFailed ServiceAccount/a",
      "Warning ServiceAccountUpdateFailed ServiceAccount/b",
    ]);
  });
});

/** A RestClient fake for the writer: GET answers from a store, PUT counts; anything else fails the test. */
function fakeRest(accounts: V1ServiceAccount[]) {
  const store = new Map(accounts.map((sa) => [sa.metadata?.name ?? "", sa]));
  const puts: string[] = [];
  const rest = {
    get: (path: string) => {
      const name = decodeURIComponent(path.split("/").at(-1) ?? "");
      const sa = store.get(name);
      return sa
        ? Promise.resolve(structuredClone(sa))
        : Promise.reject(new KubeApiError("GET", path, 404, "{}"));
    },
    put: (path: string, body: V1ServiceAccount) => {
      puts.push(path);
      store.set(body.metadata?.name ?? "", body);
      return Promise.resolve({ metadata: { resourceVersion: "2" } });
    },
  };
  return { rest: rest as unknown as RestClient, puts };
}

void describe("ServiceAccountWriter under the write limit", () => {
  void it("leadership lost mid-burst: the writes waiting for the limit are never sent", async () => {
    const clock = new FakeClock();
    const accounts = ["a", "b", "c", "d", "e"].map((n) => account(n));
    const { rest, puts } = fakeRest(accounts);
    const halt = new AbortController();
    const limiter = new WriteLimiter({ qps: 1, burst: 1, clock });
    const counted: string[] = [];
    const writer = new ServiceAccountWriter({
      rest,
      limiter,
      fieldManager: "eatr/test",
      signal: halt.signal,
      observe: (op, result) => counted.push(`${op} ${result}`),
    });
    const reconciler = new ServiceAccountReconciler({
      caches: {
        namespace: () => namespace([A], "*"),
        serviceAccounts: () => accounts,
        pullSecretExists: () => true,
      },
      api: writer,
      events: { record: () => assert.fail("no Event for a halt") },
      logger: quiet,
      defaultSelection: NO_SERVICE_ACCOUNTS,
      signal: halt.signal,
    });
    const run = reconciler.reconcile("team");
    // The first write takes the burst; the second waits a second for the limit.
    while (puts.length < 1 || clock.pendingTimers() === 0) await new Promise<void>((r) => setImmediate(r));
    assert.equal(puts.length, 1);
    halt.abort(new Error("leadership lost"));
    await assert.rejects(run, /leadership lost/);
    clock.advance(60_000);
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(puts.length, 1, "no write after leadership was lost");
    assert.deepEqual(counted, ["add success"]);
    await assert.rejects(writer.read("team", "b"), /leadership lost/, "reads stop too");
  });
});

void describe("reconcileWithServiceAccounts", () => {
  void it("runs the ServiceAccounts before and after the pull secrets, and rethrows the first failure", async () => {
    const order: string[] = [];
    const serviceAccounts = {
      reconcile: (key: string) => {
        order.push(`sa ${key}`);
        return Promise.resolve(undefined);
      },
    } as unknown as ServiceAccountReconciler;
    const result = await reconcileWithServiceAccounts("team", {
      secrets: (key) => {
        order.push(`secrets ${key}`);
        return Promise.resolve({ requeueAfterMs: 5 });
      },
      serviceAccounts,
    });
    assert.deepEqual(order, ["sa team", "secrets team", "sa team"]);
    assert.deepEqual(result, { requeueAfterMs: 5 });
    order.length = 0;
    await assert.rejects(
      reconcileWithServiceAccounts("team", {
        secrets: () => Promise.reject(new Error("ecr down")),
        serviceAccounts,
      }),
      /ecr down/,
    );
    assert.deepEqual(order, ["sa team"], "no second pass after a failure; the retry does it");
  });
});

void describe("FreshPullSecrets", () => {
  void it("tells a secret just written until the cache shows it", () => {
    const fresh = new FreshPullSecrets();
    assert.equal(fresh.exists("team", A, false), false);
    fresh.written("team", A);
    assert.equal(fresh.exists("team", A, false), true);
    assert.equal(fresh.exists("team", A, true), true);
    assert.equal(fresh.exists("team", A, false), false, "forgotten once the cache had it");
  });
});
