/**
 * What eatr does with secrets it cannot manage and with problems that repeat, on a real API server with
 * the real binary: positive proof of ownership before any delete, immutable and contested secrets
 * reported instead of looped on, registry-wide problems reported once, near-miss labels told.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import {
  MANAGED_BY,
  createCredentials,
  createLabelledNamespace,
  decodePullSecret,
  credentialSecretName,
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
} from "./support/harness.ts";

const { core } = kube();
const b64 = (s: string) => Buffer.from(s).toString("base64");
const rv = (s: V1Secret | undefined) => s?.metadata?.resourceVersion ?? "";

async function oneRegistry() {
  const hostNs = uniqueHostNamespace();
  const key = newKey(randomAccountId());
  const host = registryHost(key.accountId, "eu-west-1");
  const ecr = await startEcr([key]);
  await createCredentials(core, hostNs, host, key);
  const controller = await startController({ ecrEndpoint: ecr.endpoint, hostNamespace: hostNs });
  return { hostNs, key, host, ecr, controller };
}

const eventsAbout = async (namespace: string, reason: string, name: string) =>
  listEvents(core, { reason, namespace, name });

void describe("hardening: secrets eatr cannot manage, problems that repeat", () => {
  void it("deletes only what it provably wrote: a user's secret with its label and a copy stay", async () => {
    const { host, controller } = await oneRegistry();
    const ns = unique("owned");
    await createLabelledNamespace(core, ns, [host]);
    const ours = await waitFor(() => readSecret(core, ns, host), { message: "the pull secret" });
    const labels = { [MANAGED_BY.key]: MANAGED_BY.value };
    const userSecret = await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "db-password", labels }, type: "Opaque", data: { password: b64("hunter2") } },
    });
    const copy = await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: "my-copy", labels, annotations: ours.metadata?.annotations ?? {} },
        type: ours.type ?? "",
        data: ours.data ?? {},
      },
    });
    await patchNamespaceLabels(core, ns, { [host]: null });
    await waitFor(async () => (await readSecret(core, ns, host)) === undefined, {
      message: "eatr's own pull secret to be deleted",
    });
    await waitForIdle(controller);
    assert.equal(
      rv(await readSecret(core, ns, "db-password")),
      rv(userSecret),
      "the user's secret is untouched",
    );
    assert.equal(rv(await readSecret(core, ns, "my-copy")), rv(copy), "the copy is untouched");
    for (const name of ["db-password", "my-copy"]) {
      await waitFor(async () => (await eventsAbout(ns, "SecretNotOwned", name)).length > 0, {
        message: `a SecretNotOwned event about ${ns}/${name}`,
      });
    }
    assert.ok(
      (await controller.metric("eatr_pull_secret_conflicts_total", { namespace: ns, reason: "unproven" })) >=
        2,
    );
    await controller.stop();
  });

  void it("an immutable pull secret: one Warning Event with the fix, no error loop, the rest keeps working", async () => {
    const { hostNs, key, host, ecr, controller } = await oneRegistry();
    const ns = unique("immutable");
    const other = unique("mutable");
    await createLabelledNamespace(core, ns, [host]);
    await createLabelledNamespace(core, other, [host]);
    await waitFor(() => readSecret(core, ns, host), { message: "the pull secret" });
    await waitFor(() => readSecret(core, other, host), { message: "the other pull secret" });
    await core.patchNamespacedSecret({ name: host, namespace: ns, body: { immutable: true } }, mergePatch());
    const frozen = await readSecret(core, ns, host);

    // Rotated credentials: every pull secret of the registry wants a new token.
    const rotated = newKey(key.accountId);
    ecr.addKey(rotated);
    await updateCredentials(core, hostNs, host, rotated);
    await waitFor(
      async () => {
        const s = await readSecret(core, other, host);
        return (
          s !== undefined && ecr.findToken(decodePullSecret(s).password)?.accessKeyId === rotated.accessKeyId
        );
      },
      { message: "the mutable pull secret to carry a token of the rotated key" },
    );
    const [event] = await waitFor(
      async () => {
        const found = await eventsAbout(ns, "SecretImmutable", host);
        return found.length > 0 ? found : undefined;
      },
      { message: `a SecretImmutable event about ${ns}/${host}` },
    );
    assert.equal(event?.type, "Warning");
    assert.match(event?.message ?? "", /immutable, so eatr cannot renew.*Delete it/);
    await waitForIdle(controller);
    const errorsBefore = await controller.metric("controller_runtime_reconcile_errors_total");
    const linesBefore = controller.logs().length;
    // Resyncs and renewals keep coming; a loop would show as errors and log lines.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    assert.equal(
      await controller.metric("controller_runtime_reconcile_errors_total"),
      errorsBefore,
      "no retry loop",
    );
    const immutableLines = controller
      .logs()
      .slice(linesBefore)
      .filter((l) => /immutable|HTTP 422/.test(l));
    assert.ok(immutableLines.length <= 1, `log lines about it: ${immutableLines.length}`);
    assert.equal(rv(await readSecret(core, ns, host)), rv(frozen));
    assert.equal(
      await controller.metric("eatr_pull_secret_writes_total", { operation: "update", result: "error" }),
      0,
      "no update was even sent",
    );
    assert.equal(
      await controller.metric("eatr_pull_secret_conflicts_total", { namespace: ns, reason: "immutable" }),
      1,
    );
    await controller.stop();
  });

  void it("a registry without credentials: one Event for all its namespaces, counted once", async () => {
    const { hostNs, host, controller } = await oneRegistry();
    const orphanHost = registryHost(randomAccountId(), "us-east-1");
    const names = Array.from({ length: 30 }, () => unique("orphan"));
    await Promise.all(names.map((n) => createLabelledNamespace(core, n, [orphanHost, host])));
    const events = await waitFor(
      async () => {
        const found = await eventsAbout(hostNs, "CredentialsMissing", credentialSecretName(orphanHost));
        return found.some((e) => e.message?.includes("30 namespaces")) ? found : undefined;
      },
      { message: "a CredentialsMissing event counting 30 namespaces" },
    );
    await waitForIdle(controller);
    // Every installation reports it where its own credential secret should be: this one's, in hostNs.
    const all = (await listEvents(core, { reason: "CredentialsMissing", namespace: hostNs })).filter((e) =>
      e.message?.includes(orphanHost),
    );
    assert.ok(
      all.length <= 2,
      `CredentialsMissing events for the registry: ${all.length} (one; two if a namespace came after the first report)`,
    );
    assert.ok(events.length <= 2);
    assert.equal(await controller.metric("eatr_credential_errors_total", { registry: orphanHost }), 1);
    assert.equal(
      await controller.metric("eatr_registry_credentials_problem", {
        registry: orphanHost,
        reason: "missing",
      }),
      1,
    );
    const warnings = controller
      .logRecords()
      .filter((r) => r.registry === orphanHost && typeof r.level === "number" && r.level >= 40);
    assert.ok(warnings.length <= 2, `warning lines about it: ${warnings.length}`);
    // The other registry of the same namespaces is served all the same.
    for (const n of names) assert.ok(await readSecret(core, n, host), `${n} has its pull secret for ${host}`);
    await controller.stop();
  });

  void it('tells about a label value that is not exactly "true" and a misnamed credential secret', async () => {
    const { hostNs, host, controller } = await oneRegistry();
    const ns = unique("near-miss");
    await createLabelledNamespace(core, ns, []);
    await patchNamespaceLabels(core, ns, { [host]: "True" });
    const [event] = await waitFor(
      async () => {
        const found = await listEvents(core, { reason: "RegistryLabelIgnored", name: ns });
        return found.length > 0 ? found : undefined;
      },
      { message: `a RegistryLabelIgnored event about namespace ${ns}` },
    );
    assert.equal(event?.type, "Normal");
    assert.match(event?.message ?? "", /=True is ignored: only the exact value "true"/);
    await core.createNamespacedSecret({
      namespace: hostNs,
      body: {
        metadata: { name: "eatr-aws-credentials-not-a-registry" },
        data: { aws_access_key_id: b64("x") },
      },
    });
    await waitFor(() => controller.logs().some((l) => l.includes("eatr-aws-credentials-not-a-registry")), {
      message: "a log line about the misnamed credential secret",
    });
    assert.equal(await readSecret(core, ns, host), undefined, "True does not opt in");
    await controller.stop();
  });

  void it("two installations serving one registry back off instead of rewriting each other forever", async () => {
    const blue = await oneRegistry();
    const greenNs = uniqueHostNamespace();
    const greenKey = newKey(blue.key.accountId);
    blue.ecr.addKey(greenKey);
    await createCredentials(core, greenNs, blue.host, greenKey);
    const green = await startController({ ecrEndpoint: blue.ecr.endpoint, hostNamespace: greenNs });
    const ns = unique("contested");
    await createLabelledNamespace(core, ns, [blue.host]);
    const writes = async () =>
      (await blue.controller.metric("eatr_pull_secret_writes_total")) +
      (await green.metric("eatr_pull_secret_writes_total"));
    // Both have written it once at least: the fight is on.
    await waitFor(
      async () =>
        (await blue.controller.metric("eatr_pull_secret_writes_total")) > 0 &&
        (await green.metric("eatr_pull_secret_writes_total")) > 0,
      { message: "both installations to write the pull secret" },
    );
    const before = await writes();
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const during = (await writes()) - before;
    // Without backoff, each installation rewrites the secret as soon as it sees the other's write
    // (thousands a minute); with it, a fight costs a few writes per round.
    console.log(`two installations: ${during} pull secret writes in 20 s of the fight`);
    assert.ok(during <= 6, `writes in 20 s of the fight: ${during}`);
    await waitFor(async () => (await eventsAbout(ns, "SecretContested", blue.host)).length > 0, {
      message: `a SecretContested event about ${ns}/${blue.host}`,
    });
    const [event] = await eventsAbout(ns, "SecretContested", blue.host);
    assert.match(event?.message ?? "", /another eatr installation .* one installation per registry/);
    assert.ok(
      (await blue.controller.metric("eatr_pull_secret_conflicts_total", { reason: "contested" })) +
        (await green.metric("eatr_pull_secret_conflicts_total", { reason: "contested" })) >=
        1,
    );
    await Promise.all([blue.controller.stop(), green.stop()]);
  });
});
