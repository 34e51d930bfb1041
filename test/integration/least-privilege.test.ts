/**
 * rbac.secretAccess named, for real: the chart rendered by Helm with a registries list (named is then the
 * default), its objects applied, and eatr run with a TokenRequest token of the chart's own ServiceAccount
 * (not admin) and the chart's config file (restrictToDeclaredRegistries). eatr serves the declared
 * registry end to end (create, renewal, drift repair, conflict, rotation, deletion) without a single
 * permission error, while the same token is refused (403) a get of any other Secret, a cluster-wide list
 * of Secrets without the field selector, and a get of an undeclared registry's credential secret.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import { connectControlPlane } from "../env/control-plane.ts";
import {
  check,
  helm,
  kubectl,
  only,
  resolvedEnv,
  templateArgs,
  type K8sObject,
  parseManifests,
} from "../chart/helm.ts";
import {
  createCredentials,
  createLabelledNamespace,
  createNamespace,
  credentialSecretName,
  decodePullSecret,
  deleteNamespace,
  kube,
  listEvents,
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
import type { EcrServer } from "../env/ecr-server.ts";

interface Rule {
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

describe("least privilege: rbac.secretAccess named, eatr on the chart's own ServiceAccount token", () => {
  const { core } = kube();
  const ns = unique("eatr-lp");
  // The release name contains "eatr", so every object is named exactly after the release.
  const release = unique("eatr");
  const accountId = randomAccountId();
  const host = registryHost(accountId, "eu-west-1");
  const undeclared = registryHost(randomAccountId(), "eu-west-1");
  const key1 = newKey(accountId);
  const namespaces: string[] = [ns];
  let manifest = "";
  let objects: K8sObject[] = [];
  let work = "";
  let ecr: EcrServer | undefined;
  let controller: ControllerProcess | undefined;
  let saCore: CoreV1Api;
  let tokenKubeconfig = "";

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "eatr-least-privilege-"));
    const values = join(work, "values.yaml");
    await writeFile(values, JSON.stringify({ registries: [{ host, source: "keys" }] }));
    manifest = check(helm(templateArgs({ release, namespace: ns, valuesFiles: [values] })));
    objects = parseManifests(manifest);
    await createNamespace(core, ns);
    check(kubectl(["apply", "--namespace", ns, "-f", "-"], { input: manifest }));
  });

  after(async () => {
    await controller?.stop();
    // Cluster-scoped objects (ClusterRole, ClusterRoleBinding) outlive the namespace: delete them all.
    kubectl(["delete", "--namespace", ns, "--ignore-not-found", "--wait=false", "-f", "-"], {
      input: manifest,
    });
    for (const name of namespaces) await deleteNamespace(core, name);
    await rm(work, { recursive: true, force: true });
  });

  it("renders named RBAC by default once registries are listed, and the same list for eatr", () => {
    const clusterRole = only(objects, "ClusterRole") as K8sObject & { rules: Rule[] };
    const secretRules = clusterRole.rules.filter((r) => r.resources.includes("secrets"));
    assert.deepEqual(secretRules, [
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: [host],
        verbs: ["get", "list", "watch", "update", "delete"],
      },
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
    ]);
    const roles = objects.filter((o) => o.kind === "Role") as (K8sObject & { rules: Rule[] })[];
    const secretRoleRules = roles.flatMap((r) =>
      r.rules.filter((rule) => rule.resources.includes("secrets")),
    );
    assert.deepEqual(secretRoleRules, [
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: [credentialSecretName(host)],
        verbs: ["get", "list", "watch"],
      },
    ]);
    const configMap = only(objects, "ConfigMap") as K8sObject & { data: Record<string, string> };
    assert.deepEqual(parseYaml(configMap.data["config.yaml"] ?? ""), {
      registries: [{ host, source: "keys" }],
      restrictToDeclaredRegistries: true,
    });
  });

  it("the chart's ServiceAccount token is refused every Secret eatr does not manage (403)", async () => {
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      name: release,
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const token = tokenRequest.status?.token;
    assert.ok(token);
    tokenKubeconfig = await connectControlPlane().kubeconfigForToken(token, release);
    const kc = new KubeConfig();
    kc.loadFromFile(tokenKubeconfig);
    saCore = kc.makeApiClient(CoreV1Api);

    const team = unique("eatr-lp-other");
    namespaces.push(team);
    await createNamespace(core, team);
    await core.createNamespacedSecret({
      namespace: team,
      body: { metadata: { name: "db-password" }, type: "Opaque", stringData: { password: "hunter2" } },
    });
    await createCredentials(core, ns, undeclared, newKey(randomAccountId()));
    const status = (call: Promise<unknown>) => call.then(() => 200, statusOf);

    assert.equal(await status(saCore.listNamespace()), 200, "the token works");
    assert.equal(
      await status(saCore.readNamespacedSecret({ name: "db-password", namespace: team })),
      403,
      "a get of a Secret of another name",
    );
    assert.equal(
      await status(saCore.listSecretForAllNamespaces()),
      403,
      "a cluster-wide list without the field selector",
    );
    assert.equal(
      await status(
        saCore.listSecretForAllNamespaces({ labelSelector: `${MANAGED_BY.key}=${MANAGED_BY.value}` }),
      ),
      403,
      "the default mode's label-selected list",
    );
    assert.equal(
      await status(saCore.readNamespacedSecret({ name: credentialSecretName(undeclared), namespace: ns })),
      403,
      "a get of a credential secret of an undeclared registry",
    );
    assert.equal(
      await status(saCore.listNamespacedSecret({ namespace: ns })),
      403,
      "a list of the host namespace",
    );
    // What eatr does is allowed: the same lists with the field selector of a declared name.
    assert.equal(
      await status(saCore.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${host}` })),
      200,
    );
    assert.equal(
      await status(
        saCore.listNamespacedSecret({
          namespace: ns,
          fieldSelector: `metadata.name=${credentialSecretName(host)}`,
        }),
      ),
      200,
    );
  });

  it("eatr serves the declared registry with that token: create, conflict, drift repair, renewal, rotation, deletion", async () => {
    assert.ok(tokenKubeconfig, "the previous test made the token");
    ecr = await startEcr([key1]);
    await createCredentials(core, ns, host, key1);
    const configMap = only(objects, "ConfigMap") as K8sObject & { data: Record<string, string> };
    const configFile = join(work, "config.yaml");
    await writeFile(configFile, configMap.data["config.yaml"] ?? "");
    const env: Record<string, string> = {
      ...resolvedEnv(only(objects, "Deployment"), ns),
      EATR_CONFIG_FILE: configFile,
    };
    assert.equal(env.EATR_HOST_NAMESPACE, ns);

    // Someone else's secret of the registry's name, in a namespace asking for it: a conflict, never touched.
    const taken = unique("eatr-lp-taken");
    namespaces.push(taken);
    await createNamespace(core, taken);
    const foreign = await core.createNamespacedSecret({
      namespace: taken,
      body: { metadata: { name: host }, type: "Opaque", stringData: { note: "not eatr's" } },
    });
    await patchNamespaceLabels(core, taken, { [host]: "true" });

    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      env,
      // After the harness' defaults, so they win: the ServiceAccount token, and renewals every 20 s.
      extraArgs: ["-config-file-path", tokenKubeconfig, "-auth-token-renewal-interval", "20s"],
    });

    const team = unique("eatr-lp-team");
    namespaces.push(team);
    await createLabelledNamespace(core, team, [host]);
    const created = await waitFor(() => readSecret(core, team, host), {
      message: `pull secret ${team}/${host}`,
    });
    assert.equal(created.metadata?.labels?.[MANAGED_BY.key], MANAGED_BY.value);
    const first = decodePullSecret(created).password;
    assert.equal(ecr.findToken(first)?.accessKeyId, key1.accessKeyId);

    await waitFor(
      async () =>
        (await listEvents(core, { reason: "SecretConflict", name: host, namespace: taken })).length > 0,
      {
        message: `a SecretConflict event on ${taken}/${host}`,
      },
    );
    const untouched = await readSecret(core, taken, host);
    assert.equal(
      untouched?.metadata?.resourceVersion,
      foreign.metadata?.resourceVersion,
      "someone else's secret untouched",
    );

    // Drift repair: data edited by hand is read back (GET) and rewritten with eatr's token.
    const current = (await readSecret(core, team, host)) ?? assert.fail("exists");
    const tampered = { auths: { [`https://${host}`]: { auth: btoa("AWS:tampered") } } };
    await core.replaceNamespacedSecret({
      name: host,
      namespace: team,
      body: {
        ...current,
        data: { ".dockerconfigjson": Buffer.from(JSON.stringify(tampered)).toString("base64") },
      },
    });
    await waitFor(
      async () => {
        const s = await readSecret(core, team, host);
        return (
          s !== undefined &&
          decodePullSecret(s).password !== "tampered" &&
          ecr?.findToken(decodePullSecret(s).password) !== undefined
        );
      },
      { message: "the hand-edited pull secret repaired" },
    );

    // Renewal: after the 20 s interval a new token is minted and written.
    await waitFor(
      async () => {
        const s = await readSecret(core, team, host);
        return s !== undefined && decodePullSecret(s).password !== first;
      },
      { timeoutMs: 90_000, message: "the pull secret renewed with a new token" },
    );

    // Credential rotation: a new key re-mints the token and rewrites the pull secret.
    const key2 = newKey(accountId);
    ecr.addKey(key2);
    await updateCredentials(core, ns, host, key2);
    await waitFor(
      async () => {
        const s = await readSecret(core, team, host);
        return (
          s !== undefined && ecr?.findToken(decodePullSecret(s).password)?.accessKeyId === key2.accessKeyId
        );
      },
      { message: "the pull secret to carry a token minted with the rotated key" },
    );

    // Label removed: the pull secret goes (read first: the proof of ownership is in its data).
    await patchNamespaceLabels(core, team, { [host]: null });
    await waitFor(async () => (await readSecret(core, team, host)) === undefined, {
      message: `pull secret ${team}/${host} deleted`,
    });
    const stillForeign: V1Secret | undefined = await readSecret(core, taken, host);
    assert.equal(stillForeign?.metadata?.resourceVersion, foreign.metadata?.resourceVersion, "never touched");

    const forbidden = controller.logs().filter((l) => /forbidden|\b403\b/i.test(l));
    assert.deepEqual(forbidden, [], "eatr never hit a permission error");
    const informers = (await controller.metrics())
      .split("\n")
      .filter((l) => l.startsWith("eatr_informer_healthy{"))
      .map((l) => /informer="([^"]+)"/.exec(l)?.[1])
      .sort();
    assert.deepEqual(
      informers,
      ["credentials/" + host, "namespaces", "pull-secrets/" + host].sort(),
      "one watch per declared host",
    );
    assert.equal(await controller.stop(), 0);
    controller = undefined;
  });
});
