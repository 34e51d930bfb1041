/**
 * Every registry host form eatr accepts (test/support/registry-host-forms.ts: commercial, China, GovCloud,
 * ISO, ISO-B, ISO-E, ISO-F, EU sovereign cloud, FIPS, dual-stack), end to end: the built dist/main.js, the
 * real kube-apiserver and the local ECR endpoint given as -ecr-endpoint (as a VPC endpoint would be). The
 * endpoint checks each request's SigV4 signature and that its scope region is a region of an AWS partition,
 * and mints the token for that region: a pull secret holding the token of its key, minted in the host's
 * region, shows that the SDK call was made, accepted and signed for the right region.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { EcrKey, EcrServer } from "../env/ecr-server.ts";
import { registryHostForms, type RegistryHostForm } from "../support/registry-host-forms.ts";
import {
  createCredentials,
  createLabelledNamespace,
  decodePullSecret,
  deleteNamespace,
  kube,
  newKey,
  randomAccountId,
  readSecret,
  registryHost,
  startController,
  startEcr,
  unique,
  uniqueHostNamespace,
  waitFor,
  type ControllerProcess,
} from "./support/harness.ts";

const { core } = kube();
const hostNs = uniqueHostNamespace();
const created: string[] = [];
let ecr: EcrServer;
let controller: ControllerProcess;

/** One registry per form, each with its own key and credential secret (an optional aws_region). */
async function registries(
  forms: readonly RegistryHostForm[],
  awsRegion?: (form: RegistryHostForm) => string,
): Promise<{ form: RegistryHostForm; key: EcrKey }[]> {
  return Promise.all(
    forms.map(async (form) => {
      const key = newKey(form.accountId);
      ecr.addKey(key);
      await createCredentials(core, hostNs, form.host, {
        ...key,
        ...(awsRegion === undefined ? {} : { region: awsRegion(form) }),
      });
      return { form, key };
    }),
  );
}

async function labelledNamespace(hosts: readonly string[]): Promise<string> {
  const name = unique("forms");
  created.push(name);
  await createLabelledNamespace(core, name, hosts);
  return name;
}

/** Waits for the pull secret and checks it holds the token the endpoint minted for this key, in `region`. */
async function assertServed(namespace: string, form: RegistryHostForm, key: EcrKey): Promise<void> {
  const secret = await waitFor(() => readSecret(core, namespace, form.host), {
    timeoutMs: 60_000,
    message: `pull secret ${namespace}/${form.host} (${form.form})`,
  });
  const decoded = decodePullSecret(secret);
  assert.deepEqual(decoded.urls, [`https://${form.host}`], form.form);
  assert.equal(decoded.username, "AWS");
  const minted = ecr.findToken(decoded.password);
  assert.ok(minted, `${form.form}: the secret holds a token the endpoint minted`);
  assert.equal(minted.accessKeyId, key.accessKeyId, `${form.form}: minted for this registry's key`);
  assert.equal(minted.region, form.region, `${form.form}: signed and minted for ${form.region}`);
  const calls = ecr.log().filter((c) => c.accessKeyId === key.accessKeyId);
  assert.deepEqual(
    calls.map((c) => [c.region, c.outcome]),
    [[form.region, "ok"]],
    `${form.form}: one ECR call, accepted, scoped to ${form.region}`,
  );
}

describe("every registry host form against a custom ECR endpoint", () => {
  before(async () => {
    ecr = await startEcr();
    controller = await startController({ ecrEndpoint: ecr.endpoint, hostNamespace: hostNs });
  });

  after(async () => {
    await controller.stop();
    await Promise.all(created.map((name) => deleteNamespace(core, name)));
  });

  it("writes the pull secret of every form, from a token signed for and minted in the host's region", async () => {
    const forms = registryHostForms(randomAccountId());
    const all = await registries(forms);
    const ns = await labelledNamespace(forms.map((f) => f.host));
    const results = await Promise.allSettled(all.map(({ form, key }) => assertServed(ns, form, key)));
    const failures = results.flatMap((r, i) =>
      r.status === "fulfilled"
        ? []
        : [`${all[i]?.form.form ?? ""}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`],
    );
    assert.deepEqual(failures, [], `every form served:\n${failures.join("\n")}`);
  });

  it("calls ECR in the host's region when the credential secret's aws_region names another", async () => {
    const accountId = randomAccountId();
    const forms: RegistryHostForm[] = [
      { ...formOf(registryHost(accountId, "eu-west-1")), form: "commercial, aws_region us-east-1" },
    ];
    const all = await registries(forms, () => "us-east-1");
    const ns = await labelledNamespace(forms.map((f) => f.host));
    for (const { form, key } of all) await assertServed(ns, form, key);
  });
});

function formOf(host: string): RegistryHostForm {
  const accountId = host.slice(0, 12);
  const form = registryHostForms(accountId).find((f) => f.host === host);
  return form ?? assert.fail(`${host} is not one of the forms`);
}
