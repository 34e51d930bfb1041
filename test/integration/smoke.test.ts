/**
 * Smoke test of the test environment itself: a real kube-apiserver is reachable with the admin
 * kubeconfig, RBAC is enforced for ServiceAccount tokens from TokenRequest, the version is reported,
 * and the helpers test files rely on (restart, etcd compaction) work.
 * Run by test/env/run-integration.ts, which provides KUBECONFIG and EATR_TEST_*.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  ApiException,
  AuthenticationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  VersionApi,
  Watch,
} from "@kubernetes/client-node";
import { connectControlPlane, type ControlPlane } from "../env/control-plane.ts";

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through npm run test:integration`);
  return value;
}

function adminConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(requireEnv("KUBECONFIG"));
  return kc;
}

async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

/** RBAC decisions follow informer caches: allow a short propagation delay. */
async function eventually(expected: number, call: () => Promise<unknown>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let status = await statusOf(call());
  while (status !== expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    status = await statusOf(call());
  }
  assert.equal(status, expected);
}

void describe("test control plane", () => {
  const kc = adminConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = `smoke-${randomBytes(4).toString("hex")}`;
  let cp: ControlPlane;

  before(() => {
    cp = connectControlPlane();
  });

  after(async () => {
    // No controller-manager: the namespace stays Terminating, which is fine for a throwaway server.
    await statusOf(core.deleteNamespace({ name: namespace }));
  });

  void it("reports the kube-apiserver version", async () => {
    const info = await kc.makeApiClient(VersionApi).getCode();
    assert.match(info.gitVersion, /^v1\.\d+\.\d+/);
    assert.equal(info.major, "1");
    assert.equal(info.gitVersion, requireEnv("EATR_TEST_KUBE_VERSION"));
    assert.equal(cp.version, info.gitVersion);
    console.log(`kube-apiserver ${info.gitVersion} (${info.platform}, ${info.goVersion})`);
  });

  void it("creates and reads a namespace", async () => {
    const created = await core.createNamespace({ body: { metadata: { name: namespace } } });
    assert.equal(created.metadata?.name, namespace);
    const read = await core.readNamespace({ name: namespace });
    assert.equal(read.metadata?.uid, created.metadata.uid);
    assert.equal(read.status?.phase, "Active");
    const defaultNs = await core.readNamespace({ name: "default" });
    assert.equal(defaultNs.metadata?.name, "default");
  });

  void it("enforces RBAC for a ServiceAccount token from TokenRequest", async () => {
    const sa = "smoke-reader";
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } });
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      name: sa,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tokenRequest.status?.token;
    assert.ok(token, "TokenRequest returned a token");

    const saConfig = new KubeConfig();
    saConfig.loadFromFile(await cp.kubeconfigForToken(token, sa));
    const saCore = saConfig.makeApiClient(CoreV1Api);

    // The token authenticates (it is not a 401) as the ServiceAccount...
    const review = await saConfig.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.equal(review.status?.userInfo?.username, `system:serviceaccount:${namespace}:${sa}`);
    // ...which may not list secrets, cluster-wide or in its own namespace.
    assert.equal(await statusOf(saCore.listSecretForAllNamespaces()), 403);
    assert.equal(await statusOf(saCore.listNamespacedSecret({ namespace })), 403);
    // The admin may.
    assert.equal(await statusOf(core.listSecretForAllNamespaces()), 200);

    // A namespaced Role opens its own namespace only.
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: "secret-reader" },
        rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["list"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: "secret-reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secret-reader" },
        subjects: [{ kind: "ServiceAccount", name: sa, namespace }],
      },
    });
    await eventually(200, () => saCore.listNamespacedSecret({ namespace }));
    assert.equal(await statusOf(saCore.listSecretForAllNamespaces()), 403);
    assert.equal(await statusOf(saCore.listNamespacedSecret({ namespace: "default" })), 403);
  });

  let compactedVersion = "";

  void it("compacts etcd: reads at a compacted resourceVersion get 410 Gone", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "before-compaction" }, data: { a: "1" } },
    });
    const oldVersion = cm.metadata?.resourceVersion;
    assert.ok(oldVersion);
    compactedVersion = oldVersion;
    await core.replaceNamespacedConfigMap({
      name: "before-compaction",
      namespace,
      body: { metadata: { name: "before-compaction" }, data: { a: "2" } },
    });
    const revision = await cp.compactEtcd();
    assert.ok(revision > Number(oldVersion), `compacted to ${revision} > ${oldVersion}`);
    // kube-apiserver's watch cache learns about the compaction within its 15 s poll period.
    await eventually(
      410,
      () =>
        core.listNamespacedConfigMap({
          namespace,
          resourceVersion: oldVersion,
          resourceVersionMatch: "Exact",
        }),
      30_000,
    );
  });

  void it("restarts kube-apiserver on the same address; old watches then get 410 Gone", async () => {
    assert.ok(compactedVersion, "runs after the compaction test");
    const server = cp.server;
    await cp.restartApiServer();
    assert.equal(cp.server, server);
    const read = await core.readNamespace({ name: namespace });
    assert.equal(read.metadata?.name, namespace, "data survives: etcd kept running");

    // A fresh watch cache has no history before the restart: a watch from before it expires.
    const events: { phase: string; code: unknown }[] = [];
    const ended = Promise.withResolvers<unknown>();
    const controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      { resourceVersion: compactedVersion, timeoutSeconds: 5 },
      (phase, obj: { code?: unknown }) => {
        events.push({ phase, code: obj.code });
      },
      (err: unknown) => {
        ended.resolve(err);
      },
    );
    await ended.promise;
    controller.abort();
    assert.deepEqual(events[0], { phase: "ERROR", code: 410 });
  });
});
