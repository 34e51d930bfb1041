/**
 * Registry policy end to end (dist/main.js against the real kube-apiserver and the local ECR endpoint):
 * -restrict-to-declared-registries refuses labels for undeclared registries (Warning Event, no secret, no
 * ECR call), and a declared registry's namespaceSelector / excludeNamespaces serve namespaces without a
 * label of their own, with a label "true" opting in and any other value opting out.
 *
 * The two parts run one after the other, each with its own controller and registries (random accounts),
 * so no two controllers ever serve one registry. Every selector names this file's random run label, so
 * no other file's namespaces are selected. Nothing sleeps: every wait polls a condition.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import type { EcrKey, EcrServer } from "../env/ecr-server.ts";
import {
  MANAGED_BY,
  createCredentials,
  createNamespace,
  kube,
  listEvents,
  newKey,
  patchNamespaceLabels,
  randomAccountId,
  readSecret,
  registryHost,
  startController,
  startEcr,
  unique,
  uniqueHostNamespace,
  waitFor,
  waitForIdle,
  type ControllerProcess,
} from "./support/harness.ts";

const { core } = kube();
const hostNs = uniqueHostNamespace();
const dir = mkdtempSync(join(tmpdir(), "eatr-policy-"));
let ecr: EcrServer;

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

before(async () => {
  ecr = await startEcr();
  await createNamespace(core, hostNs);
});

/** A new registry (own account) with a key the ECR server knows, and its credential secret. */
async function newRegistry(): Promise<{ host: string; key: EcrKey }> {
  const accountId = randomAccountId();
  const host = registryHost(accountId, "eu-west-1");
  const key = newKey(accountId);
  ecr.addKey(key);
  await createCredentials(core, hostNs, host, key);
  return { host, key };
}

function writeConfig(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

function waitForSecret(namespace: string, host: string): Promise<V1Secret> {
  return waitFor(() => readSecret(core, namespace, host), { message: `secret ${namespace}/${host}` });
}

function waitForNoSecret(namespace: string, host: string): Promise<boolean> {
  return waitFor(async () => (await readSecret(core, namespace, host)) === undefined, {
    message: `secret ${namespace}/${host} to be deleted`,
  });
}

const isManaged = (s: V1Secret | undefined): boolean =>
  s?.metadata?.labels?.[MANAGED_BY.key] === MANAGED_BY.value;

void describe("-restrict-to-declared-registries", () => {
  let controller: ControllerProcess;
  let declared: { host: string; key: EcrKey };
  let undeclared: { host: string; key: EcrKey };

  before(async () => {
    declared = await newRegistry();
    // Has a credential secret and a key ECR accepts: only the restriction keeps eatr from serving it.
    undeclared = await newRegistry();
    const config = writeConfig(
      "restricted.yaml",
      `restrictToDeclaredRegistries: true\nregistries:\n  - host: ${declared.host}\n    source: keys\n`,
    );
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-config", config],
    });
  });

  after(async () => {
    await controller.stop();
  });

  void it("a label for an undeclared registry gets a Warning Event on the Namespace, no secret and no ECR call", async () => {
    const ns = unique("restricted");
    await createNamespace(core, ns, { [declared.host]: "true", [undeclared.host]: "true" });
    await waitForSecret(ns, declared.host);
    await waitForIdle(controller);
    assert.equal(await readSecret(core, ns, undeclared.host), undefined, "no pull secret for it");
    assert.equal(ecr.calls(undeclared.key.accessKeyId), 0, "no ECR call with its credentials");
    assert.equal(ecr.calls(declared.key.accessKeyId), 1, "the declared registry is served");
    const [event] = await waitFor(
      async () => {
        const events = await listEvents(core, { reason: "RegistryNotDeclared", name: ns });
        return events.length > 0 ? events : undefined;
      },
      { message: `RegistryNotDeclared Event on namespace ${ns}` },
    );
    assert.equal(event?.type, "Warning");
    assert.equal(event?.involvedObject.kind, "Namespace");
    assert.match(
      event?.message ?? "",
      new RegExp(`${undeclared.host.replaceAll(".", "\\.")}.*not in its registries list`),
    );
    assert.match(event?.message ?? "", /registries list of eatr's config file \(chart value registries\)/);
    assert.ok(
      (await controller.metric("eatr_pull_secret_conflicts_total", {
        namespace: ns,
        reason: "undeclared",
      })) >= 1,
      "counted",
    );
  });
});

void describe("namespaceSelector and excludeNamespaces", () => {
  let controller: ControllerProcess;
  let registry: { host: string; key: EcrKey };
  const run = unique("run");
  const p = unique("pol");
  const served = Array.from({ length: 20 }, (_, i) => `${p}-s${String(i)}`);
  const byName = `${p}-excluded`;
  const byGlob = [`${p}-sandbox-a`, `${p}-sandbox-b`];
  const optedOut = `${p}-optout`;
  const notSelected = `${p}-db`;
  const foreign = `${p}-foreign`;
  const selected = { "policy-run": run, team: "web" };

  before(async () => {
    registry = await newRegistry();
    // No source: the registry keeps using its credential secret (keys). Restricted as well: the
    // declared host is served by selector, labels for others are refused.
    const config = writeConfig(
      "selector.yaml",
      [
        "restrictToDeclaredRegistries: true",
        "registries:",
        `  - host: ${registry.host}`,
        `    namespaceSelector: "policy-run=${run},team in (web,api),!no-ecr"`,
        `    excludeNamespaces: [${byName}, "${p}-sandbox-*"]`,
        "",
      ].join("\n"),
    );
    await Promise.all([
      ...served.map((ns, i) => createNamespace(core, ns, { ...selected, team: i % 2 === 0 ? "web" : "api" })),
      createNamespace(core, byName, selected),
      ...byGlob.map((ns) => createNamespace(core, ns, selected)),
      createNamespace(core, optedOut, { ...selected, [registry.host]: "false" }),
      createNamespace(core, notSelected, { ...selected, team: "db" }),
      createNamespace(core, foreign, selected),
    ]);
    // Someone else's secret of that name, in a selected namespace: never eatr's to write or delete.
    await core.createNamespacedSecret({
      namespace: foreign,
      body: {
        metadata: { name: registry.host },
        type: "Opaque",
        data: { mine: Buffer.from("x").toString("base64") },
      },
    });
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-config", config],
    });
  });

  after(async () => {
    await controller.stop();
  });

  void it("serves the 20 selected namespaces without a label; not the 3 excluded, the one labelled false or the unselected", async () => {
    await Promise.all(served.map((ns) => waitForSecret(ns, registry.host)));
    await waitForIdle(controller);
    for (const ns of served) assert.ok(isManaged(await readSecret(core, ns, registry.host)), ns);
    for (const ns of [byName, ...byGlob, optedOut, notSelected])
      assert.equal(await readSecret(core, ns, registry.host), undefined, `${ns} gets no secret`);
    const theirs = await readSecret(core, foreign, registry.host);
    assert.equal(isManaged(theirs), false, "the foreign secret is left as it was");
    assert.deepEqual(Object.keys(theirs?.data ?? {}), ["mine"]);
    assert.equal(ecr.calls(registry.key.accessKeyId), 1, "one ECR call for all of them");
  });

  void it("label changes move namespaces in and out; only what eatr provably wrote is removed", async () => {
    const [leaves, noEcr, labelledFalse] = served;
    assert.ok(leaves !== undefined && noEcr !== undefined && labelledFalse !== undefined);
    await patchNamespaceLabels(core, leaves, { team: "db" }); // out of the selector
    await patchNamespaceLabels(core, noEcr, { "no-ecr": "" }); // out by the selector's !no-ecr
    await patchNamespaceLabels(core, labelledFalse, { [registry.host]: "false" }); // opted out by label
    await patchNamespaceLabels(core, optedOut, { [registry.host]: null }); // the opt-out label removed: in
    await patchNamespaceLabels(core, notSelected, { team: "api" }); // into the selector
    await patchNamespaceLabels(core, byName, { [registry.host]: "true" }); // "true" opts in although excluded
    await patchNamespaceLabels(core, foreign, { team: "db" }); // out: the foreign secret must stay
    await Promise.all([
      waitForNoSecret(leaves, registry.host),
      waitForNoSecret(noEcr, registry.host),
      waitForNoSecret(labelledFalse, registry.host),
      waitForSecret(optedOut, registry.host),
      waitForSecret(notSelected, registry.host),
      waitForSecret(byName, registry.host),
    ]);
    await waitForIdle(controller);
    const theirs = await readSecret(core, foreign, registry.host);
    assert.ok(theirs !== undefined, "the foreign secret is not deleted");
    assert.deepEqual(Object.keys(theirs.data ?? {}), ["mine"]);
    for (const ns of byGlob) assert.equal(await readSecret(core, ns, registry.host), undefined, ns);
    for (const ns of served.slice(3)) assert.ok(isManaged(await readSecret(core, ns, registry.host)), ns);
    assert.equal(ecr.calls(registry.key.accessKeyId), 1, "moving namespaces calls ECR zero times");

    await patchNamespaceLabels(core, leaves, { team: "web" }); // back in
    await waitForSecret(leaves, registry.host);
  });
});
