/**
 * The chart installed for real (helm install, never --wait: no Pods run on this control plane) into a
 * namespace enforcing Pod Security "restricted"; a Pod made from its Deployment's template is admitted
 * there; eatr runs with nothing but the chart's ServiceAccount token and passes the core scenario; a
 * SubjectAccessReview table shows what that account can and cannot do; `helm upgrade` rolls the pod
 * template when the configuration changes; `helm uninstall` leaves the pull secrets, as the chart's
 * README says, and its documented command removes them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import {
  AppsV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1Deployment,
  type V1Pod,
} from "@kubernetes/client-node";
import { connectControlPlane } from "../env/control-plane.ts";
import { CHART_DIR, check, helm, kubectl } from "../chart/helm.ts";
import {
  createCredentials,
  createLabelledNamespace,
  createNamespace,
  decodePullSecret,
  deleteNamespace,
  kube,
  listEvents,
  MAIN_JS,
  MANAGED_BY,
  newKey,
  patchNamespaceLabels,
  randomAccountId,
  readSecret,
  registryHost,
  startController,
  startEcr,
  statusOf,
  unique,
  updateCredentials,
  waitFor,
  type ControllerProcess,
} from "./support/harness.ts";

const CHECKSUM = "checksum/config";

function leaderElectionMerged(): boolean {
  const help = spawnSync(process.execPath, [MAIN_JS, "--help"], { encoding: "utf8" });
  return /-leader-elect\b/.test(help.stdout);
}

/** The container env of a live Deployment, with `fieldRef: metadata.namespace` resolved. */
function liveEnv(deployment: V1Deployment, namespace: string): Record<string, string> {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === "eatr");
  const env: Record<string, string> = {};
  for (const e of container?.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env[e.name] = namespace;
    else throw new Error(`env ${e.name}: unexpected ${JSON.stringify(e.valueFrom)}`);
  }
  return env;
}

describe("helm chart installed into a Pod Security restricted namespace", () => {
  const { kc, core } = kube();
  const apps = kc.makeApiClient(AppsV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const ns = unique("eatr-rel");
  // The release name contains "eatr", so every object is named exactly after the release.
  const release = unique("eatr");
  const leaderMerged = leaderElectionMerged();
  const teardown: string[] = [];
  let controller: ControllerProcess | undefined;
  // A labelled namespace whose pull secret must survive `helm uninstall`.
  const survivor = unique("eatr-keep");
  let survivorHost = "";

  const deployment = (): Promise<V1Deployment> =>
    apps.readNamespacedDeployment({ name: release, namespace: ns });
  const checksum = async (): Promise<string> => {
    const value = (await deployment()).spec?.template.metadata?.annotations?.[CHECKSUM];
    assert.ok(value, `the pod template carries ${CHECKSUM}`);
    return value;
  };
  const upgrade = (...set: string[]): string =>
    check(
      helm([
        "upgrade",
        release,
        CHART_DIR,
        "--namespace",
        ns,
        "--reuse-values",
        ...set.flatMap((s) => ["--set", s]),
      ]),
    );

  before(async () => {
    await createNamespace(core, ns, {
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
    });
    teardown.push(ns);
  });

  after(async () => {
    await controller?.stop();
    helm(["uninstall", release, "--namespace", ns]); // no-op when the test already uninstalled it
    for (const name of teardown) await deleteNamespace(core, name);
  });

  it("helm install succeeds (no --wait) and prints how to add credentials and label a namespace", () => {
    const started = performance.now();
    const out = check(helm(["install", release, CHART_DIR, "--namespace", ns]));
    console.log(`helm install took ${Math.round(performance.now() - started)} ms`);
    assert.match(out, /STATUS: deployed/);
    assert.ok(
      out.includes(`kubectl -n ${ns} create secret generic eatr-aws-credentials-$REGISTRY`),
      `NOTES show the credential secret command:\n${out}`,
    );
    assert.ok(out.includes("kubectl label namespace team-a $REGISTRY=true"), out);
    assert.ok(out.includes("kubectl delete secret -A -l app.kubernetes.io/managed-by=eatr"), out);
    const listed = check(kubectl(["-n", ns, "get", "deploy,sa,svc,pdb,role,rolebinding", "-o", "name"]));
    for (const object of [
      `deployment.apps/${release}`,
      `serviceaccount/${release}`,
      `service/${release}`,
      `poddisruptionbudget.policy/${release}`,
      `role.rbac.authorization.k8s.io/${release}`,
      `rolebinding.rbac.authorization.k8s.io/${release}`,
    ]) {
      assert.ok(listed.split("\n").includes(object), `${object} exists:\n${listed}`);
    }
  });

  it("a Pod made from the Deployment's template passes Pod Security restricted admission", async () => {
    const template = (await deployment()).spec?.template;
    assert.ok(template?.spec);
    const pod: V1Pod = {
      metadata: { name: `${release}-admission`, namespace: ns, labels: template.metadata?.labels ?? {} },
      spec: template.spec,
    };
    const admitted = await core.createNamespacedPod({ namespace: ns, body: pod, dryRun: "All" });
    assert.equal(admitted.metadata?.name, pod.metadata?.name);

    // The namespace really enforces "restricted": the same Pod without its hardening is refused.
    const container = template.spec.containers[0];
    assert.ok(container);
    const weakened: V1Pod = {
      metadata: { name: `${release}-weak`, namespace: ns },
      spec: {
        ...template.spec,
        securityContext: {},
        containers: [{ ...container, securityContext: { allowPrivilegeEscalation: true } }],
      },
    };
    let refusal = "";
    try {
      await core.createNamespacedPod({ namespace: ns, body: weakened, dryRun: "All" });
    } catch (err) {
      assert.equal(statusOf(err), 403);
      const body = (err as { body?: unknown }).body;
      refusal = typeof body === "string" ? ((JSON.parse(body) as { message?: string }).message ?? body) : "";
    }
    assert.match(refusal, /violates PodSecurity "restricted:latest"/);
  });

  it("eatr runs with only the chart's ServiceAccount token: creates, rotates and removes pull secrets", async () => {
    const sa = release;
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const token = tokenRequest.status?.token;
    assert.ok(token);
    const tokenKubeconfig = await connectControlPlane().kubeconfigForToken(token, sa);

    // Prove the kubeconfig is that account, not the admin.
    const saKc = new KubeConfig();
    saKc.loadFromFile(tokenKubeconfig);
    const saCore = saKc.makeApiClient(CoreV1Api);
    assert.equal(await saCore.listNamespace().then(() => 200, statusOf), 200);
    assert.equal(await saCore.listNamespacedPod({ namespace: ns }).then(() => 200, statusOf), 403);

    const key1 = newKey(randomAccountId());
    const host = registryHost(key1.accountId, "eu-west-1");
    survivorHost = host;
    const ecr = await startEcr([key1]);
    // The chart's host namespace is the release namespace: the credential secret goes there.
    await createCredentials(core, ns, host, key1);

    const env = liveEnv(await deployment(), ns);
    assert.equal(env.EATR_HOST_NAMESPACE, ns);
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      env,
      // After the harness' defaults, so it wins: the ServiceAccount token, not the admin kubeconfig.
      extraArgs: ["-config-file-path", tokenKubeconfig],
    });

    const team = unique("eatr-team");
    teardown.push(team, survivor);
    await createLabelledNamespace(core, team, [host]);
    await createLabelledNamespace(core, survivor, [host]);
    const created = await waitFor(() => readSecret(core, team, host), {
      message: `pull secret ${team}/${host}`,
    });
    assert.equal(created.metadata?.labels?.[MANAGED_BY.key], MANAGED_BY.value);
    const firstPassword = decodePullSecret(created).password;
    assert.equal(ecr.findToken(firstPassword)?.accessKeyId, key1.accessKeyId);
    await waitFor(() => readSecret(core, survivor, host), { message: `pull secret ${survivor}/${host}` });

    // Credential rotation: a new key re-mints the token and rewrites the pull secrets.
    const key2 = newKey(key1.accountId);
    ecr.addKey(key2);
    await updateCredentials(core, ns, host, key2);
    await waitFor(
      async () => {
        const secret = await readSecret(core, team, host);
        return secret && ecr.findToken(decodePullSecret(secret).password)?.accessKeyId === key2.accessKeyId;
      },
      { message: "the pull secret to carry a token minted with the rotated key" },
    );

    // Events: a registry without credentials gets one CredentialsMissing Event where its credential secret
    // should be (the host namespace), naming the namespaces that ask for it.
    const orphanHost = registryHost(randomAccountId(), "eu-west-1");
    const orphan = unique("eatr-orphan");
    teardown.push(orphan);
    await createLabelledNamespace(core, orphan, [orphanHost]);
    await waitFor(
      async () =>
        (await listEvents(core, { reason: "CredentialsMissing", namespace: ns })).some((e) =>
          e.message?.includes(`(${orphan})`),
        ),
      {
        message: `a CredentialsMissing event naming ${orphan}`,
      },
    );

    // Label removed: the pull secret goes.
    await patchNamespaceLabels(core, team, { [host]: null });
    await waitFor(async () => (await readSecret(core, team, host)) === undefined, {
      message: `pull secret ${team}/${host} deleted`,
    });

    if (leaderMerged) {
      const lease = await kc
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: env.EATR_LEADER_ELECTION_ID ?? "eatr", namespace: ns });
      assert.ok(lease.spec?.holderIdentity, "the Lease has a holder: the Role's lease rules work");
    } else {
      console.log(
        "leader election is not merged yet: the lease rules are checked by SubjectAccessReview only",
      );
    }
    const forbidden = controller.logs().filter((l) => /forbidden|\b403\b/i.test(l));
    assert.deepEqual(forbidden, [], "eatr never hit a permission error");
    assert.equal(await controller.stop(), 0);
    controller = undefined;
  });

  it("SubjectAccessReviews: the ServiceAccount can do what eatr needs and nothing else listed", async () => {
    const user = `system:serviceaccount:${ns}:${release}`;
    const groups = ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"];
    const other = unique("any-ns");
    type Row = [allowed: boolean, verb: string, resource: string, namespace?: string, name?: string];
    const rows: Row[] = [
      [true, "list", "namespaces"],
      [true, "watch", "namespaces"],
      [true, "get", "namespaces", "", "kube-system"],
      [true, "list", "secrets"], // cluster-wide: the managed-secrets informer (label selector)
      [true, "watch", "secrets"],
      [true, "get", "secrets", other],
      [true, "create", "secrets", other],
      [true, "update", "secrets", other],
      [true, "delete", "secrets", other],
      [true, "list", "secrets", ns], // the credentials informer in the host namespace
      [true, "create", "events", "default"],
      [true, "patch", "events", "default"],
      [true, "create", "events", ns],
      [true, "get", "leases.coordination.k8s.io", ns, "eatr"],
      [true, "update", "leases.coordination.k8s.io", ns, "eatr"],
      [true, "create", "leases.coordination.k8s.io", ns],
      // and not:
      [false, "delete", "namespaces", "", other],
      [false, "create", "namespaces"],
      [false, "update", "namespaces", "", other],
      [false, "patch", "namespaces", "", other],
      [false, "patch", "secrets", other],
      [false, "deletecollection", "secrets", other],
      [false, "get", "pods", ns],
      [false, "list", "pods"],
      [false, "create", "pods/exec", ns],
      [false, "create", "deployments.apps", ns],
      [false, "update", "deployments.apps", ns, release],
      [false, "patch", "nodes", "", "node-1"],
      [false, "get", "configmaps", ns],
      [false, "update", "configmaps", ns],
      [false, "delete", "events", "default"],
      [false, "list", "events"],
      [false, "get", "leases.coordination.k8s.io", ns, "someone-else"],
      [false, "update", "leases.coordination.k8s.io", ns, "someone-else"],
      [false, "delete", "leases.coordination.k8s.io", ns, "eatr"],
      [false, "create", "leases.coordination.k8s.io", "kube-system"],
      [false, "update", "leases.coordination.k8s.io", "kube-system", "kube-controller-manager"],
      [false, "create", "serviceaccounts/token", ns, release],
      // ServiceAccounts only with serviceAccountPullSecrets.enabled (off by default):
      [false, "list", "serviceaccounts"],
      [false, "update", "serviceaccounts", other, "default"],
      [false, "escalate", "clusterroles.rbac.authorization.k8s.io", "", release],
      [false, "bind", "clusterroles.rbac.authorization.k8s.io", "", "cluster-admin"],
      [false, "update", "clusterroles.rbac.authorization.k8s.io", "", release],
      [false, "create", "clusterrolebindings.rbac.authorization.k8s.io"],
      [false, "create", "rolebindings.rbac.authorization.k8s.io", ns],
      [false, "impersonate", "users", "", "admin"],
      [false, "impersonate", "serviceaccounts", "kube-system"],
      [false, "create", "customresourcedefinitions.apiextensions.k8s.io"],
      [false, "create", "mutatingwebhookconfigurations.admissionregistration.k8s.io"],
    ];
    const lines: string[] = [];
    const mismatches: string[] = [];
    for (const [expected, verb, resourceText, namespace = "", name = ""] of rows) {
      const [resourcePath = "", ...groupParts] = resourceText.split(".");
      const [resource = "", subresource = ""] = resourcePath.split("/");
      const review = await authz.createSubjectAccessReview({
        body: {
          spec: {
            user,
            groups,
            resourceAttributes: { verb, group: groupParts.join("."), resource, subresource, namespace, name },
          },
        },
      });
      const allowed = review.status?.allowed === true;
      const where = namespace === "" ? "(cluster)" : namespace === other ? "<any namespace>" : namespace;
      const line = `${allowed ? "allowed" : "denied "}  ${verb.padEnd(16)} ${resourceText.padEnd(60)} ${where.padEnd(22)} ${name}`;
      lines.push(`${allowed === expected ? "  " : "✗ "}${line}`);
      if (allowed !== expected) mismatches.push(line);
    }
    console.log(`what ${user} may do (SubjectAccessReview):\n${lines.join("\n")}`);
    assert.deepEqual(mismatches, []);

    // The ClusterRole holds exactly the three rules the chart README explains.
    const role = await rbac.readClusterRole({ name: release });
    assert.deepEqual(
      role.rules?.map(
        (r) => `${(r.apiGroups ?? []).join()}/${(r.resources ?? []).join()}: ${(r.verbs ?? []).join(",")}`,
      ),
      [
        "/namespaces: get,list,watch",
        "/secrets: get,list,watch,create,update,delete",
        "/events: create,patch",
      ],
    );
  });

  it("helm upgrade rolls the pod template when the configuration changes, and only then", async () => {
    const initial = await checksum();

    upgrade("config.workers=8");
    const afterEnv = await checksum();
    assert.notEqual(afterEnv, initial, "an env setting changes the checksum");
    assert.equal(liveEnv(await deployment(), ns).EATR_WORKERS, "8");

    upgrade("configFile.enabled=true", "configFile.settings.kubeApiQps=20");
    const withFile = await checksum();
    assert.notEqual(withFile, afterEnv);
    const before = await deployment();

    // A change to the mounted file only: Kubernetes would not roll for it, the checksum does.
    upgrade("configFile.settings.kubeApiQps=25");
    const fileChanged = await checksum();
    assert.notEqual(fileChanged, withFile, "a config-file-only change changes the checksum");
    const now = await deployment();
    assert.deepEqual(now.spec?.template.spec, before.spec?.template.spec, "nothing else in the pod changed");
    const configMap = await core.readNamespacedConfigMap({ name: `${release}-config`, namespace: ns });
    assert.match(configMap.data?.["config.yaml"] ?? "", /kubeApiQps: 25/);

    // Same values again: no roll. Credentials from values: no roll either (eatr watches them).
    upgrade();
    assert.equal(await checksum(), fileChanged, "an upgrade without changes keeps the checksum");
    const valuesKey = newKey(randomAccountId());
    const valuesHost = registryHost(valuesKey.accountId, "eu-central-1");
    const out = upgrade(
      `credentials[0].registry=${valuesHost}`,
      `credentials[0].accessKeyId=${valuesKey.accessKeyId}`,
      `credentials[0].secretAccessKey=${valuesKey.secretAccessKey}`,
    );
    assert.match(out, /WARNING: AWS keys were given in Helm values/);
    assert.equal(await checksum(), fileChanged, "credential secrets do not roll the pods");
    const credential = await readSecret(core, ns, `eatr-aws-credentials-${valuesHost}`);
    assert.equal(
      Buffer.from(credential?.data?.aws_access_key_id ?? "", "base64").toString(),
      valuesKey.accessKeyId,
    );
  });

  it("helm uninstall leaves the pull secrets (as charts/eatr/README.md says); the documented command removes them", async () => {
    assert.ok(survivorHost, "the controller test ran first");
    check(helm(["uninstall", release, "--namespace", ns]));
    // The chart's objects are gone (the credential secret from values included)...
    for (const [what, read] of [
      ["Deployment", () => apps.readNamespacedDeployment({ name: release, namespace: ns })],
      ["ServiceAccount", () => core.readNamespacedServiceAccount({ name: release, namespace: ns })],
      ["ClusterRole", () => rbac.readClusterRole({ name: release })],
      ["ClusterRoleBinding", () => rbac.readClusterRoleBinding({ name: release })],
      ["Role", () => rbac.readNamespacedRole({ name: release, namespace: ns })],
      ["ConfigMap", () => core.readNamespacedConfigMap({ name: `${release}-config`, namespace: ns })],
    ] as const) {
      assert.equal(
        await (read as () => Promise<unknown>)().then(() => 200, statusOf),
        404,
        `${what} removed`,
      );
    }
    const fromValues = await core.listNamespacedSecret({
      namespace: ns,
      labelSelector: `app.kubernetes.io/instance=${release}`,
    });
    assert.deepEqual(
      fromValues.items.map((s) => s.metadata?.name),
      [],
      "credential secrets from values removed",
    );
    // ...the pull secret eatr wrote stays, and so does the credential secret made with kubectl.
    assert.ok(await readSecret(core, survivor, survivorHost), "the pull secret survives helm uninstall");
    assert.ok(await readSecret(core, ns, `eatr-aws-credentials-${survivorHost}`));

    const out = check(kubectl(["delete", "secret", "-A", "-l", "app.kubernetes.io/managed-by=eatr"]));
    assert.match(out, new RegExp(`secret "${survivorHost.replace(/\./g, "\\.")}" deleted`));
    assert.equal(await readSecret(core, survivor, survivorHost), undefined);
  });
});
