/**
 * The controller end to end: the built dist/main.js as a real process, against the real kube-apiserver of
 * `npm run test:integration` and the local ECR endpoint of test/env/ecr-server.ts.
 *
 * One ECR server and one host namespace serve the whole file; the controller is started once (and
 * restarted by the restart test). Every test uses its own namespaces and its own registries (random
 * account ids), so a test's assertions only see its own objects. Tests run in order; a test that leaves a
 * namespace in a state that is not "current" (a conflict, missing credentials) deletes it at its end, so
 * the restart test can require zero writes and zero ECR calls. The harness deletes every namespace
 * created here when the file ends, so later files' controllers skip them (Terminating). Nothing sleeps
 * for a fixed time: every wait polls a condition with a generous deadline.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { CoreV1Api, V1Secret } from "@kubernetes/client-node";
import type { EcrKey, EcrServer } from "../env/ecr-server.ts";
import {
  MANAGED_BY,
  allControllerLogs,
  createCredentials,
  credentialSecretName,
  createLabelledNamespace,
  createNamespace,
  decodePullSecret,
  deleteCredentials,
  deleteNamespace,
  kube,
  listEvents,
  mergePatch,
  newKey,
  patchNamespaceLabels,
  randomAccountId,
  readSecret,
  registryHost,
  startController,
  startEcr,
  unique,
  uniqueHostNamespace,
  updateCredentials,
  waitFor,
  waitForIdle,
  type ControllerProcess,
} from "./support/harness.ts";

const { core } = kube();
const hostNs = uniqueHostNamespace();
/** Every secret access key this file hands to the controller, for the leak check. */
const secretAccessKeys: string[] = [];

let ecr: EcrServer;
let controller: ControllerProcess;

/** A new registry (own account) with a key the ECR server knows, and its credential secret. */
async function newRegistry(
  region = "eu-west-1",
  aws_region?: string,
): Promise<{ host: string; key: EcrKey }> {
  const accountId = randomAccountId();
  const host = registryHost(accountId, region);
  const key = newKey(accountId);
  ecr.addKey(key);
  secretAccessKeys.push(key.secretAccessKey);
  await createCredentials(core, hostNs, host, {
    accessKeyId: key.accessKeyId,
    secretAccessKey: key.secretAccessKey,
    ...(aws_region === undefined ? {} : { region: aws_region }),
  });
  return { host, key };
}

/** Waits for the pull secret `host` in `namespace` (optionally until `ready` accepts it). */
function waitForSecret(
  namespace: string,
  host: string,
  ready: (s: V1Secret) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<V1Secret> {
  return waitFor(
    async () => {
      const s = await readSecret(core, namespace, host);
      return s !== undefined && ready(s) ? s : undefined;
    },
    { timeoutMs, message: `secret ${namespace}/${host}` },
  );
}

function waitForNoSecret(namespace: string, host: string): Promise<boolean> {
  return waitFor(async () => (await readSecret(core, namespace, host)) === undefined, {
    message: `secret ${namespace}/${host} to be deleted`,
  });
}

/** The password the ECR server last issued to this key (fails the test when there is none). */
function issuedPassword(key: EcrKey): string {
  const token = ecr.lastToken(key.accessKeyId);
  assert.ok(token, `the ECR server issued a token to ${key.accessKeyId}`);
  return token.password;
}

function passwordOf(secret: V1Secret): string {
  return decodePullSecret(secret).password;
}

function rv(secret: V1Secret | undefined): string {
  const v = secret?.metadata?.resourceVersion;
  assert.ok(v !== undefined, "secret has a resourceVersion");
  return v;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function inBatches<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += limit) await Promise.all(items.slice(i, i + limit).map(fn));
}

/** Managed pull secrets (by namespace) in the given namespaces, read from the API server. */
async function managedSecretsIn(namespaces: ReadonlySet<string>): Promise<Map<string, V1Secret>> {
  const list = await core.listSecretForAllNamespaces({
    labelSelector: `${MANAGED_BY.key}=${MANAGED_BY.value}`,
  });
  const out = new Map<string, V1Secret>();
  for (const s of list.items) {
    const ns = s.metadata?.namespace ?? "";
    if (namespaces.has(ns)) out.set(`${ns}/${s.metadata?.name ?? ""}`, s);
  }
  return out;
}

async function cleanup(c: CoreV1Api, namespaces: string[]): Promise<void> {
  await Promise.all(namespaces.map((ns) => deleteNamespace(c, ns)));
}

void describe("eatr controller against a real API server", () => {
  before(async () => {
    ecr = await startEcr();
    await createNamespace(core, hostNs);
    controller = await startController({ ecrEndpoint: ecr.endpoint, hostNamespace: hostNs });
  });

  void it("writes a correct dockerconfigjson pull secret into a labelled namespace", async () => {
    const { host, key } = await newRegistry("eu-west-1");
    const ns = unique("pull");
    await createLabelledNamespace(core, ns, [host]);

    const secret = await waitForSecret(ns, host);
    assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
    assert.deepEqual(Object.keys(secret.data ?? {}), [".dockerconfigjson"]);
    assert.equal(secret.metadata?.labels?.[MANAGED_BY.key], MANAGED_BY.value);
    const decoded = decodePullSecret(secret);
    assert.deepEqual(decoded.urls, [`https://${host}`]);
    assert.equal(decoded.username, "AWS");
    const token = ecr.lastToken(key.accessKeyId);
    assert.ok(token);
    assert.equal(decoded.password, token.password);
    assert.equal(decoded.auth, token.authorizationToken);

    const annotations = secret.metadata?.annotations ?? {};
    assert.equal(annotations["eatr/registry"], host);
    assert.ok(token.expiresAt);
    assert.equal(annotations["eatr/token-expires-at"], token.expiresAt.toISOString());
    assert.ok(
      !Number.isNaN(Date.parse(annotations["eatr/token-fetched-at"] ?? "")),
      "token-fetched-at is a date",
    );
    assert.match(annotations["eatr/credentials-version"] ?? "", /^[0-9a-f]+$/);

    assert.equal(await controller.metric("secrets_created_total", { namespace: ns, name: host }), 1);
    assert.ok(
      (await controller.metric("eatr_ecr_token_requests_total", { registry: host, result: "success" })) >= 1,
    );
    await cleanup(core, [ns]);
  });

  void it("serves several registries, accounts and regions on one namespace, each with its own token", async () => {
    const registries = [
      await newRegistry("eu-west-1"),
      await newRegistry("us-east-1", "us-east-1"),
      await newRegistry("ap-southeast-2"),
    ];
    const ns = unique("multi");
    await createLabelledNamespace(
      core,
      ns,
      registries.map((r) => r.host),
      { team: "payments" },
    );

    for (const { host, key } of registries) {
      const secret = await waitForSecret(ns, host);
      const decoded = decodePullSecret(secret);
      assert.deepEqual(decoded.urls, [`https://${host}`]);
      assert.equal(decoded.password, issuedPassword(key));
      // The token was minted for that registry's account, signed for that registry's region.
      const token = ecr.findToken(decoded.password);
      assert.ok(token);
      assert.equal(token.accessKeyId, key.accessKeyId);
      assert.equal(token.accountId, key.accountId);
      assert.equal(token.region, host.split(".")[3]);
    }
    const secrets = await managedSecretsIn(new Set([ns]));
    assert.equal(secrets.size, 3, "exactly one pull secret per registry label");
    const passwords = new Set([...secrets.values()].map(passwordOf));
    assert.equal(passwords.size, 3, "three different tokens");
    await cleanup(core, [ns]);
  });

  void it("removes only its own secret when the label is removed or set to false", async () => {
    const one = await newRegistry();
    const two = await newRegistry();
    const ns = unique("unlabel");
    await createLabelledNamespace(core, ns, [one.host, two.host]);
    const other = await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: "app-config" },
        type: "Opaque",
        data: { k: Buffer.from("v").toString("base64") },
      },
    });
    await waitForSecret(ns, one.host);
    const twoBefore = await waitForSecret(ns, two.host);

    await patchNamespaceLabels(core, ns, { [one.host]: null });
    await waitForNoSecret(ns, one.host);
    const twoAfter = await readSecret(core, ns, two.host);
    assert.equal(rv(twoAfter), rv(twoBefore), "the other registry's secret is untouched");
    assert.equal(rv(await readSecret(core, ns, "app-config")), rv(other), "an unrelated secret is untouched");

    await patchNamespaceLabels(core, ns, { [two.host]: "false" });
    await waitForNoSecret(ns, two.host);
    assert.equal(rv(await readSecret(core, ns, "app-config")), rv(other));
    assert.ok(
      (await controller.metric("eatr_pull_secret_writes_total", {
        operation: "delete",
        result: "success",
      })) >= 2,
    );
    await cleanup(core, [ns]);
  });

  void it("never modifies a same-named secret it does not own, and reports a SecretConflict", async () => {
    const { host } = await newRegistry();
    const ns = unique("conflict");
    await createNamespace(core, ns);
    // A docker-registry secret someone else made (extra fields: not the original eatr's format).
    const foreignConfig = {
      auths: { [`https://${host}`]: { username: "bob", password: "hunter2", auth: btoa("bob:hunter2") } },
    };
    const foreign = await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: host, labels: { owner: "bob" } },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": Buffer.from(JSON.stringify(foreignConfig)).toString("base64") },
      },
    });
    await patchNamespaceLabels(core, ns, { [host]: "true" });

    const events = await waitFor(
      async () => {
        const found = await listEvents(core, { reason: "SecretConflict", name: host, namespace: ns });
        return found.length > 0 ? found : undefined;
      },
      { message: `a SecretConflict event about secret ${ns}/${host}` },
    );
    // About the secret, in its namespace: where the namespace's owner looks.
    assert.equal(events[0]?.type, "Warning");
    assert.equal(events[0]?.involvedObject.kind, "Secret");
    assert.equal(events[0]?.involvedObject.uid, foreign.metadata?.uid);
    assert.ok(
      (await controller.metric("eatr_pull_secret_conflicts_total", { namespace: ns, reason: "unmanaged" })) >=
        1,
    );

    const now = await readSecret(core, ns, host);
    assert.equal(rv(now), rv(foreign), "the foreign secret was not written");
    assert.deepEqual(now?.data, foreign.data);
    assert.deepEqual(now?.metadata?.labels, { owner: "bob" });
    await cleanup(core, [ns]);
  });

  void it("adopts a secret in exactly the original Go eatr's format", async () => {
    const { host, key } = await newRegistry();
    const ns = unique("adopt");
    await createNamespace(core, ns);
    const seedConfig = { auths: { [`https://${host}`]: { auth: btoa("AWS:old-password-from-go-eatr") } } };
    const seed = await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: host },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": Buffer.from(JSON.stringify(seedConfig)).toString("base64") },
      },
    });
    await patchNamespaceLabels(core, ns, { [host]: "true" });

    const adopted = await waitForSecret(
      ns,
      host,
      (s) => s.metadata?.labels?.[MANAGED_BY.key] === MANAGED_BY.value,
    );
    assert.equal(adopted.metadata?.uid, seed.metadata?.uid, "updated in place, not recreated");
    assert.equal(passwordOf(adopted), issuedPassword(key));
    assert.equal(adopted.metadata?.annotations?.["eatr/registry"], host);
    assert.equal((await listEvents(core, { reason: "SecretConflict", name: ns })).length, 0);
  });

  void it("repairs a managed secret edited by hand and recreates one deleted by hand", async () => {
    const { host, key } = await newRegistry();
    const ns = unique("repair");
    await createLabelledNamespace(core, ns, [host]);
    const original = await waitForSecret(ns, host);
    const password = passwordOf(original);
    const callsBefore = ecr.calls(key.accessKeyId);

    const tampered = { auths: { [`https://${host}`]: { auth: btoa("AWS:tampered") } } };
    await core.replaceNamespacedSecret({
      name: host,
      namespace: ns,
      body: {
        ...original,
        data: { ".dockerconfigjson": Buffer.from(JSON.stringify(tampered)).toString("base64") },
      },
    });
    const repaired = await waitForSecret(ns, host, (s) => passwordOf(s) !== "tampered");
    assert.equal(passwordOf(repaired), password, "repaired with the cached token");
    assert.equal(repaired.metadata?.uid, original.metadata?.uid);

    await core.deleteNamespacedSecret({ name: host, namespace: ns });
    const recreated = await waitForSecret(ns, host, (s) => s.metadata?.uid !== original.metadata?.uid);
    assert.equal(passwordOf(recreated), password);
    assert.equal(recreated.metadata?.labels?.[MANAGED_BY.key], MANAGED_BY.value);
    assert.equal(ecr.calls(key.accessKeyId), callsBefore, "no ECR call: the cached token is still valid");
  });

  void it("follows credential secrets: late creation, rotation (that registry only), deletion", async () => {
    // Late: the namespace asks for a registry before its credential secret exists.
    const accountId = randomAccountId();
    const late = registryHost(accountId, "eu-central-1");
    const lateKey = newKey(accountId);
    ecr.addKey(lateKey);
    secretAccessKeys.push(lateKey.secretAccessKey);
    const lateNs = unique("late");
    await createLabelledNamespace(core, lateNs, [late]);
    // A registry-wide problem: one Event where the credential secret should be, naming the namespaces.
    const [missing] = await waitFor(
      async () => {
        const found = await listEvents(core, {
          reason: "CredentialsMissing",
          name: credentialSecretName(late),
          namespace: hostNs,
        });
        return found.length > 0 ? found : undefined;
      },
      { message: `a CredentialsMissing event about ${hostNs}/${credentialSecretName(late)}` },
    );
    assert.match(missing?.message ?? "", new RegExp(`1 namespace ask.*\\(${lateNs}\\)`));
    assert.equal(
      await controller.metric("eatr_credential_errors_total", { registry: late, reason: "missing" }),
      1,
      "counted once, not per reconcile",
    );
    assert.equal(
      await controller.metric("eatr_registry_credentials_problem", { registry: late, reason: "missing" }),
      1,
    );
    assert.equal(await readSecret(core, lateNs, late), undefined);
    await createCredentials(core, hostNs, late, lateKey);
    const lateSecret = await waitForSecret(lateNs, late);
    assert.equal(passwordOf(lateSecret), issuedPassword(lateKey));

    // Rotation: only the rotated registry's secrets are re-minted.
    const a = await newRegistry();
    const b = await newRegistry();
    const nsAB = unique("rot-ab");
    const nsA = unique("rot-a");
    await createLabelledNamespace(core, nsAB, [a.host, b.host]);
    await createLabelledNamespace(core, nsA, [a.host]);
    const abA = await waitForSecret(nsAB, a.host);
    const abB = await waitForSecret(nsAB, b.host);
    const aA = await waitForSecret(nsA, a.host);
    const rotated = newKey(a.key.accountId);
    ecr.addKey(rotated);
    secretAccessKeys.push(rotated.secretAccessKey);
    await updateCredentials(core, hostNs, a.host, rotated);

    const fromRotated = (s: V1Secret) => ecr.findToken(passwordOf(s))?.accessKeyId === rotated.accessKeyId;
    const abA2 = await waitForSecret(nsAB, a.host, fromRotated);
    const aA2 = await waitForSecret(nsA, a.host, fromRotated);
    assert.equal(passwordOf(abA2), issuedPassword(rotated));
    assert.equal(passwordOf(aA2), issuedPassword(rotated));
    assert.notEqual(passwordOf(abA2), passwordOf(abA));
    assert.notEqual(rv(aA2), rv(aA));
    assert.equal(abA2.metadata?.uid, abA.metadata?.uid, "updated in place");
    assert.equal(
      rv(await readSecret(core, nsAB, b.host)),
      rv(abB),
      "the other registry's secret is untouched",
    );

    // Deletion: the namespaces using it are re-queued, warned about, and keep their pull secrets.
    const abAKept = rv(abA2);
    const aAKept = rv(aA2);
    await deleteCredentials(core, hostNs, a.host);
    // One Event for the registry, naming both namespaces; counted once.
    await waitFor(
      async () =>
        (
          await listEvents(core, {
            reason: "CredentialsMissing",
            name: credentialSecretName(a.host),
            namespace: hostNs,
          })
        ).some((e) => [nsA, nsAB].every((ns) => e.message?.includes(ns))),
      { message: `a CredentialsMissing event naming ${nsA} and ${nsAB}` },
    );
    assert.equal(
      await controller.metric("eatr_credential_errors_total", { registry: a.host, reason: "missing" }),
      1,
    );
    assert.equal(rv(await readSecret(core, nsAB, a.host)), abAKept, "pull secret kept");
    assert.equal(rv(await readSecret(core, nsA, a.host)), aAKept, "pull secret kept");
    assert.equal(rv(await readSecret(core, nsAB, b.host)), rv(abB));
    // Not current any more (no credentials): out of the way of the restart test.
    await cleanup(core, [nsAB, nsA]);
  });

  void it("does no writes and no ECR calls for unrelated churn on 100 labelled namespaces", async () => {
    const { host, key } = await newRegistry();
    const prefix = unique("churn");
    const names = Array.from({ length: 100 }, (_, i) => `${prefix}-${String(i).padStart(3, "0")}`);
    const nameSet = new Set(names);
    await inBatches(names, 20, (ns) => createLabelledNamespace(core, ns, [host]));
    const before = await waitFor(
      async () => {
        const secrets = await managedSecretsIn(nameSet);
        return secrets.size === names.length ? secrets : undefined;
      },
      { timeoutMs: 60_000, message: "100 pull secrets" },
    );
    assert.equal(ecr.calls(key.accessKeyId), 1, "one ECR call serves every namespace of a registry");
    const callsBefore = ecr.totalCalls();
    const writesBefore = await controller.metric("eatr_pull_secret_writes_total");

    // Churn: labels and annotations that have nothing to do with eatr, twice on every namespace.
    for (const round of [1, 2]) {
      await inBatches(names, 20, (ns) =>
        core.patchNamespace(
          {
            name: ns,
            body: {
              metadata: { labels: { team: `t${round}` }, annotations: { "example.com/note": `n${round}` } },
            },
          },
          mergePatch(),
        ),
      );
    }

    // How we know the churn was processed: the namespace informer delivers events in watch order, so once
    // a sentinel namespace labelled AFTER the churn has its pull secret, every churn event has gone through
    // the handlers (and was queued before the sentinel, if queued at all). Then we wait until the queue is
    // empty, no worker is busy and the reconcile count is stable, in case a churn key was still in flight on
    // another worker. The sentinel costs exactly one create and no ECR call (the registry's token is cached).
    const sentinel = `${prefix}-sentinel`;
    await createLabelledNamespace(core, sentinel, [host]);
    await waitForSecret(sentinel, host);
    await waitForIdle(controller);

    const afterChurn = await managedSecretsIn(nameSet);
    assert.equal(afterChurn.size, names.length);
    for (const [k, s] of before) assert.equal(rv(afterChurn.get(k)), rv(s), `${k} was not written`);
    assert.equal(ecr.totalCalls(), callsBefore, "no ECR call");
    assert.equal(
      await controller.metric("eatr_pull_secret_writes_total"),
      writesBefore + 1,
      "the sentinel's create is the only write",
    );
  });

  void it("leaves a Terminating namespace alone without an error loop", async () => {
    const { host } = await newRegistry();
    const ns = unique("doomed");
    await createLabelledNamespace(core, ns, [host]);
    await waitForSecret(ns, host);
    const errorsBefore = await controller.metric("controller_runtime_reconcile_errors_total");

    // Without kube-controller-manager the namespace controller never finalizes it: it stays Terminating
    // (spec.finalizers ["kubernetes"]) with its secrets, and creating objects in it is refused (403).
    await deleteNamespace(core, ns);
    await waitFor(async () => (await core.readNamespace({ name: ns })).status?.phase === "Terminating", {
      message: `${ns} to be Terminating`,
    });
    const skipped = () =>
      controller.logs().filter((l) => l.includes(`"namespace":"${ns}"`) && l.includes("terminating")).length;
    const skippedOnDelete = await waitFor(() => (skipped() > 0 ? skipped() : undefined), {
      message: `the controller to skip ${ns}`,
    });
    // Deleting the pull secret re-queues the namespace; a controller that ignored the phase would try to
    // recreate it, get 403 NamespaceTerminating, and retry with backoff.
    await core.deleteNamespacedSecret({ name: host, namespace: ns });
    await waitFor(() => skipped() > skippedOnDelete, {
      message: `the controller to skip ${ns} again after its pull secret was deleted`,
    });
    await waitForIdle(controller);

    assert.equal(await controller.metric("controller_runtime_reconcile_errors_total"), errorsBefore);
    assert.deepEqual(
      controller.logs().filter((l) => l.includes("Reconciler error") && l.includes(ns)),
      [],
    );
    assert.equal(await readSecret(core, ns, host), undefined, "not recreated");
  });

  void it("after a restart with every secret current: no writes and no ECR calls", async () => {
    const { host } = await newRegistry();
    const ns = unique("restart");
    await createLabelledNamespace(core, ns, [host]);
    await waitForSecret(ns, host);
    await waitForIdle(controller);

    assert.equal(await controller.stop("SIGTERM"), 0, "a clean stop exits 0");
    const before = new Map<string, string>();
    const all = await core.listSecretForAllNamespaces({
      labelSelector: `${MANAGED_BY.key}=${MANAGED_BY.value}`,
    });
    for (const s of all.items) before.set(`${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`, rv(s));
    assert.ok(before.size > 100, `many managed secrets to check (${before.size})`);
    const callsBefore = ecr.totalCalls();
    const namespaceCount = (await core.listNamespace()).items.length;

    controller = await startController({ ecrEndpoint: ecr.endpoint, hostNamespace: hostNs });
    // Every namespace is queued by the initial list: wait until each was reconciled and the queue is idle.
    await waitForIdle(controller, { minReconciles: namespaceCount, timeoutMs: 60_000 });

    assert.equal(await controller.metric("eatr_pull_secret_writes_total"), 0, "no write");
    assert.equal(await controller.metric("controller_runtime_reconcile_errors_total"), 0);
    assert.equal(ecr.totalCalls(), callsBefore, "no ECR call: the tokens recorded in the secrets are reused");
    const now = await core.listSecretForAllNamespaces({
      labelSelector: `${MANAGED_BY.key}=${MANAGED_BY.value}`,
    });
    for (const s of now.items) {
      const k = `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`;
      assert.equal(rv(s), before.get(k), `${k} unchanged`);
    }
    assert.equal(now.items.length, before.size);
  });

  void it("never logs a token, a password or a secret access key", () => {
    const lines = allControllerLogs();
    assert.ok(lines.length > 100, `logs were captured (${lines.length} lines)`);
    const secrets = [...ecr.tokens().flatMap((t) => [t.password, t.authorizationToken]), ...secretAccessKeys];
    assert.ok(secrets.length > 10);
    for (const secret of secrets) {
      const leak = lines.find((l) => l.includes(secret));
      assert.equal(leak, undefined, `a secret value appears in the controller log: ${leak ?? ""}`);
    }
  });
});
