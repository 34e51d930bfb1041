/**
 * ServiceAccount imagePullSecrets (-manage-service-accounts) on a real API server with the real binary:
 * selected ServiceAccounts get eatr's pull secrets appended, foreign entries keep their place, removal takes
 * exactly what eatr recorded, a concurrent edit is retried without losing either change, ignored ones are
 * never touched, writes stop when leadership is lost, and (on a control plane of its own with the
 * ServiceAccount admission plugin on) a Pod using a patched ServiceAccount gets the secret without naming it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, describe, it } from "node:test";
import {
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  V1MicroTime,
  type V1ServiceAccount,
} from "@kubernetes/client-node";
import { startControlPlane, type ControlPlane } from "../env/control-plane.ts";
import {
  createCredentials,
  createLabelledNamespace,
  kube,
  kubeconfigPath,
  mergePatch,
  newKey,
  patchNamespaceLabels,
  randomAccountId,
  readSecret,
  registryHost,
  startController,
  startEcr,
  statusOf,
  unique,
  uniqueHostNamespace,
  waitFor,
  waitForIdle,
} from "./support/harness.ts";

const { core } = kube();
const SELECT = "eatr/service-accounts";
const IGNORE = "eatr/ignore-service-account";
const ADDED = "eatr/added-image-pull-secrets";

async function createAccount(
  api: CoreV1Api,
  namespace: string,
  name: string,
  entries: string[] = [],
  annotations: Record<string, string> = {},
): Promise<V1ServiceAccount> {
  return api.createNamespacedServiceAccount({
    namespace,
    body: {
      metadata: { name, annotations },
      imagePullSecrets: entries.map((n) => ({ name: n })),
    },
  });
}

const readAccount = (namespace: string, name: string, api: CoreV1Api = core) =>
  api.readNamespacedServiceAccount({ namespace, name });
const entriesOf = (sa: V1ServiceAccount) => (sa.imagePullSecrets ?? []).map((e) => e.name);

/** Waits until the ServiceAccount's imagePullSecrets are exactly `expected`, in order. */
async function waitForEntries(
  namespace: string,
  name: string,
  expected: string[],
  api: CoreV1Api = core,
): Promise<V1ServiceAccount> {
  let last: (string | undefined)[] = [];
  return waitFor(
    async () => {
      const sa = await readAccount(namespace, name, api);
      last = entriesOf(sa);
      return JSON.stringify(last) === JSON.stringify(expected) ? sa : undefined;
    },
    {
      timeoutMs: 30_000,
      message: `${namespace}/${name} imagePullSecrets ${JSON.stringify(expected)} (last ${JSON.stringify(last)})`,
    },
  );
}

async function setAnnotation(namespace: string, value: string | null): Promise<void> {
  await core.patchNamespace(
    { name: namespace, body: { metadata: { annotations: { [SELECT]: value } } } },
    mergePatch(),
  );
}

/** Two registries (two accounts) on one local ECR, their credentials, and a controller serving both. */
async function twoRegistries(extraArgs: string[] = ["-manage-service-accounts"]) {
  const hostNs = uniqueHostNamespace();
  const keys = [newKey(randomAccountId()), newKey(randomAccountId())];
  const hosts = keys.map((k) => registryHost(k.accountId, "eu-west-1"));
  const ecr = await startEcr(keys);
  for (const [i, key] of keys.entries()) await createCredentials(core, hostNs, hosts[i] ?? "", key);
  const controller = await startController({ ecrEndpoint: ecr.endpoint, hostNamespace: hostNs, extraArgs });
  return { hostNs, hosts: hosts as [string, string], ecr, controller };
}

void describe("ServiceAccount imagePullSecrets", () => {
  void it("patches `default`, appending after an existing foreign entry, only once the pull secret exists", async () => {
    const { hosts, controller } = await twoRegistries();
    const [a] = hosts;
    const ns = unique("sa-default");
    await createLabelledNamespace(core, ns, [a]);
    await createAccount(core, ns, "default", ["mine"]);
    await createAccount(core, ns, "builder");
    await waitForIdle(controller);
    assert.deepEqual(entriesOf(await readAccount(ns, "default")), ["mine"], "no annotation, no default: off");

    await setAnnotation(ns, "default");
    const sa = await waitForEntries(ns, "default", ["mine", a]);
    assert.equal(sa.metadata?.annotations?.[ADDED], a, "eatr records what it added");
    assert.ok(await readSecret(core, ns, a), "the pull secret it names exists");
    await waitForIdle(controller);
    assert.deepEqual(entriesOf(await readAccount(ns, "builder")), [], "not selected: untouched");
    assert.ok(
      (await controller.metric("eatr_service_account_updates_total", {
        operation: "add",
        result: "success",
      })) >= 1,
    );
    await controller.stop();
  });

  void it("`*` patches every ServiceAccount, one created afterwards within seconds; an ignored one is untouched", async () => {
    const { hosts, controller } = await twoRegistries();
    const [a, b] = hosts;
    const ns = unique("sa-all");
    await createLabelledNamespace(core, ns, [a, b]);
    const ignored = await createAccount(core, ns, "ignored", ["theirs"], { [IGNORE]: "true" });
    await createAccount(core, ns, "first");
    await setAnnotation(ns, "*");
    // Two registries: two entries, in a stable (sorted) order.
    const both = [a, b].sort();
    await waitForEntries(ns, "first", both);
    await createAccount(core, ns, "from-helm", ["chart-secret"]);
    await waitForEntries(ns, "from-helm", ["chart-secret", ...both]);
    await waitForIdle(controller);
    const after = await readAccount(ns, "ignored");
    assert.equal(
      after.metadata?.resourceVersion,
      ignored.metadata?.resourceVersion,
      "ignored: never written",
    );
    await controller.stop();
  });

  void it("label removed or annotation removed: only eatr's entries go; a hand-added entry of the same name stays", async () => {
    const { hosts, controller } = await twoRegistries();
    const [a, b] = hosts;
    const ns = unique("sa-remove");
    await createLabelledNamespace(core, ns, [a, b]);
    // The user put b's pull secret there by hand, before eatr: it stays the user's.
    await createAccount(core, ns, "default", ["first", b, "last"]);
    await setAnnotation(ns, "default");
    let sa = await waitForEntries(ns, "default", ["first", b, "last", a]);
    assert.equal(sa.metadata?.annotations?.[ADDED], a, "b was the user's: not recorded");

    await patchNamespaceLabels(core, ns, { [b]: null });
    await waitFor(async () => (await readSecret(core, ns, b)) === undefined, {
      message: "b's pull secret deleted",
    });
    await waitForIdle(controller);
    assert.deepEqual(
      entriesOf(await readAccount(ns, "default")),
      ["first", b, "last", a],
      "the user's b stays",
    );

    await patchNamespaceLabels(core, ns, { [a]: null });
    sa = await waitForEntries(ns, "default", ["first", b, "last"]);
    assert.equal(sa.metadata?.annotations?.[ADDED], undefined, "eatr's annotation goes with its last entry");

    // Annotation removed (label back): eatr adds, then removes exactly its own again.
    await patchNamespaceLabels(core, ns, { [a]: "true" });
    await waitForEntries(ns, "default", ["first", b, "last", a]);
    await setAnnotation(ns, null);
    sa = await waitForEntries(ns, "default", ["first", b, "last"]);
    assert.equal(sa.metadata?.annotations?.[ADDED], undefined);
    assert.ok(
      (await controller.metric("eatr_service_account_updates_total", {
        operation: "remove",
        result: "success",
      })) >= 2,
    );
    await controller.stop();
  });

  void it("a ServiceAccount leaving the selection loses eatr's entries; the documented uninstall one-liner removes exactly eatr's", async () => {
    const { hosts, controller } = await twoRegistries(["-service-accounts", "default,builder"]);
    const [a] = hosts;
    const ns = unique("sa-select");
    await createLabelledNamespace(core, ns, [a]);
    await createAccount(core, ns, "default", ["keep-me"]);
    await createAccount(core, ns, "builder");
    // The cluster-wide default applies without the annotation.
    await waitForEntries(ns, "default", ["keep-me", a]);
    await waitForEntries(ns, "builder", [a]);
    await setAnnotation(ns, "builder");
    await waitForEntries(ns, "default", ["keep-me"]);
    await waitForIdle(controller);
    assert.deepEqual(entriesOf(await readAccount(ns, "builder")), [a]);
    await controller.stop();

    // Uninstalled: the README's cleanup command (kubectl + jq) removes what eatr recorded, nothing else.
    await core.replaceNamespacedServiceAccount({
      namespace: ns,
      name: "builder",
      body: {
        ...(await readAccount(ns, "builder")),
        imagePullSecrets: [{ name: "before" }, { name: a }, { name: "after" }],
      },
    });
    const oneLiner =
      `kubectl get serviceaccounts -n ${ns} -o json | jq '.items |= map(select(.metadata.annotations["${ADDED}"]) | ` +
      `(.metadata.annotations["${ADDED}"] | split(",")) as $ours | .imagePullSecrets |= map(select(.name as $n | $ours | index($n) | not)) | ` +
      `del(.metadata.annotations["${ADDED}"]))' | kubectl replace -f -`;
    const readme = await import("node:fs/promises").then((fs) =>
      fs.readFile(new URL("../../README.md", import.meta.url), "utf8"),
    );
    assert.ok(
      readme.includes(oneLiner.replace(`-n ${ns}`, "-A")),
      "the README gives this exact command (for all namespaces)",
    );
    execFileSync("sh", ["-c", oneLiner], { env: { ...process.env, KUBECONFIG: kubeconfigPath() } });
    const cleaned = await readAccount(ns, "builder");
    assert.deepEqual(entriesOf(cleaned), ["before", "after"]);
    assert.equal(cleaned.metadata?.annotations?.[ADDED], undefined);
    assert.deepEqual(entriesOf(await readAccount(ns, "default")), ["keep-me"]);
  });

  void it("a concurrent edit by another client during eatr's update is retried without losing either change", async () => {
    const { hosts, controller } = await twoRegistries();
    const [a] = hosts;
    const ns = unique("sa-race");
    await createLabelledNamespace(core, ns, [a]);
    await createAccount(core, ns, "default", ["mine"]);
    await waitFor(() => readSecret(core, ns, a), { message: "the pull secret" });
    // Another client keeps rewriting the ServiceAccount (read, then update with its resourceVersion),
    // each time dropping eatr's entry and counting in an annotation, so eatr keeps re-adding it and its
    // reads race these writes until one of its updates meets a 409.
    let stop = false;
    let edits = 0;
    const rival = (async () => {
      while (!stop) {
        try {
          const sa = await readAccount(ns, "default");
          await core.replaceNamespacedServiceAccount({
            namespace: ns,
            name: "default",
            body: {
              ...sa,
              metadata: {
                ...sa.metadata,
                annotations: { ...sa.metadata?.annotations, rival: String(edits + 1) },
              },
              imagePullSecrets: (sa.imagePullSecrets ?? []).filter((e) => e.name !== a),
            },
          });
          edits++;
        } catch (err) {
          if (statusOf(err) !== 409) throw err;
        }
      }
    })();
    await setAnnotation(ns, "default");
    try {
      await waitFor(
        async () =>
          (await controller.metric("eatr_service_account_updates_total", { result: "conflict" })) >= 1,
        { timeoutMs: 60_000, message: "one of eatr's updates to meet a 409" },
      );
    } finally {
      stop = true;
      await rival;
    }
    // Both changes survive: the rival's last annotation and eatr's entry (after the foreign one).
    const sa = await waitForEntries(ns, "default", ["mine", a]);
    assert.equal(sa.metadata?.annotations?.rival, String(edits));
    assert.equal(sa.metadata?.annotations?.[ADDED], a);
    console.log(
      `rival edits: ${edits}; eatr conflicts: ${await controller.metric("eatr_service_account_updates_total", { result: "conflict" })}`,
    );
    await controller.stop();
  });

  void it("leadership lost mid-burst: no ServiceAccount write after it, and the burst is cut short", async () => {
    const hostNs = uniqueHostNamespace();
    const key = newKey(randomAccountId());
    const host = registryHost(key.accountId, "eu-west-1");
    const ecr = await startEcr([key]);
    await createCredentials(core, hostNs, host, key);
    const ns = unique("sa-burst");
    const total = 40;
    await createLabelledNamespace(core, ns, [host]);
    await setAnnotation(ns, "*");
    for (let i = 0; i < total; i++) await createAccount(core, ns, `sa-${String(i).padStart(2, "0")}`);
    const controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      // 2 writes a second: the 40 updates take 20 s, leadership is taken away after the first few.
      extraArgs: [
        "-manage-service-accounts",
        "-kube-api-qps=2",
        "-kube-api-burst=1",
        "-leader-election-lease-duration=4s",
        "-leader-election-renew-deadline=3s",
        "-leader-election-retry-period=1s",
      ],
    });
    const patched = async () =>
      (await core.listNamespacedServiceAccount({ namespace: ns })).items.filter((sa) =>
        entriesOf(sa).includes(host),
      ).length;
    await waitFor(async () => (await patched()) >= 3, { timeoutMs: 60_000, message: "the burst under way" });

    // A rival takes the Lease over (as a peer would after a partition).
    const leases = new KubeConfig();
    leases.loadFromFile(kubeconfigPath());
    const coordination = leases.makeApiClient(CoordinationV1Api);
    const lease = await coordination.readNamespacedLease({ name: "eatr", namespace: hostNs });
    await coordination.replaceNamespacedLease({
      name: "eatr",
      namespace: hostNs,
      body: {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: "rival",
          leaseDurationSeconds: 3600,
          renewTime: new V1MicroTime(),
          acquireTime: new V1MicroTime(),
        },
      },
    });
    const code = await Promise.race([
      controller.exited,
      new Promise<number>((_, reject) =>
        setTimeout(() => {
          reject(new Error("eatr did not exit after losing the lease"));
        }, 30_000).unref(),
      ),
    ]);
    assert.equal(code, 1, "losing the lease exits non-zero");
    assert.ok(
      controller.logRecords().some((r) => r.msg === "leadership lost"),
      "logged leadership lost",
    );
    const done = await patched();
    assert.ok(done < total, `the burst was cut short: ${done} of ${total} patched`);
    // The process's own log is in order: no ServiceAccount update completed after the loss, and every
    // ServiceAccount patched on the server is one of the updates it logged before it.
    const records = controller.logRecords();
    const lostIndex = records.findIndex((r) => r.msg === "leadership lost");
    const updated = (r: Record<string, unknown>) => r.msg === "ServiceAccount imagePullSecrets updated";
    assert.equal(records.slice(lostIndex).filter(updated).length, 0, "no update after leadership was lost");
    assert.equal(
      records.slice(0, lostIndex).filter(updated).length,
      done,
      "every update on the server was made before",
    );
    // The updates the halt cut short are the shutdown's doing, not errors: the pool stops with the writes.
    const haltedAsErrors = records
      .slice(lostIndex)
      .filter((r) => r.msg === "Reconciler error" && JSON.stringify(r.err).includes("leadership lost"));
    assert.deepEqual(haltedAsErrors, [], "no reconcile cut short by the loss is logged as an error");
    const cutShort = records
      .slice(lostIndex)
      .filter((r) => r.msg === "Reconcile cut short by shutdown").length;
    console.log(`patched before leadership was lost: ${done} of ${total}; reconciles cut short: ${cutShort}`);
  });
});

void describe("ServiceAccount admission plugin (its own control plane)", () => {
  let plane: ControlPlane | undefined;
  after(async () => {
    await plane?.stop();
  });

  void it("a Pod using a patched ServiceAccount gets eatr's pull secret without naming it (dryRun=All)", async () => {
    plane = await startControlPlane({ serviceAccountAdmission: true });
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfigPath);
    const api = kc.makeApiClient(CoreV1Api);
    const hostNs = uniqueHostNamespace();
    const key = newKey(randomAccountId());
    const host = registryHost(key.accountId, "eu-west-1");
    const ecr = await startEcr([key]);
    await createCredentials(api, hostNs, host, key);
    const ns = unique("sa-pod");
    await api.createNamespace({
      body: { metadata: { name: ns, labels: { [host]: "true" }, annotations: { [SELECT]: "default" } } },
    });
    // No kube-controller-manager: the `default` ServiceAccount is created by hand.
    await createAccount(api, ns, "default", ["mine"]);
    const controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-config-file-path", plane.kubeconfigPath, "-manage-service-accounts"],
    });
    await waitForEntries(ns, "default", ["mine", host], api);
    const pod = await api.createNamespacedPod({
      namespace: ns,
      dryRun: "All",
      body: {
        metadata: { name: "app" },
        spec: {
          containers: [{ name: "app", image: `${host}/app:1` }],
        },
      },
    });
    assert.equal(pod.spec?.serviceAccountName, "default");
    assert.deepEqual(
      (pod.spec?.imagePullSecrets ?? []).map((e) => e.name),
      ["mine", host],
      "the admission plugin copied the ServiceAccount's imagePullSecrets, eatr's included",
    );
    await assert.rejects(
      api.readNamespacedPod({ namespace: ns, name: "app" }),
      (err: unknown) => statusOf(err) === 404,
      "dryRun: nothing was stored",
    );
    await controller.stop();
  });
});
