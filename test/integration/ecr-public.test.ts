/**
 * ECR Public end to end: the real controller (dist/main.js) on the real kube-apiserver, with the local ECR
 * endpoint serving ECR Public's API (given as -ecr-public-endpoint). A namespace labelled
 * `public.ecr.aws: "true"` gets a pull secret named public.ecr.aws holding the token ECR Public minted for
 * the registry's credentials, signed for service ecr-public in us-east-1 (the local endpoint refuses any
 * other scope, which the first test shows); the token is cached, renewed, reported (Events, metrics) as a
 * private registry's is, and the secret goes when the label does. A declared registry (`source: default`)
 * works for it as well.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SignatureV4 } from "@smithy/signature-v4";
import type { CoreV1Api } from "@kubernetes/client-node";
import {
  GET_AUTHORIZATION_TOKEN_TARGET,
  GET_PUBLIC_AUTHORIZATION_TOKEN_TARGET,
  type EcrKey,
  type EcrServer,
} from "../env/ecr-server.ts";
import { Sha256 } from "../env/sigv4.ts";
import {
  MANAGED_BY,
  createCredentials,
  createLabelledNamespace,
  credentialSecretName,
  decodePullSecret,
  kube,
  listEvents,
  newKey,
  patchNamespaceLabels,
  randomAccountId,
  readSecret,
  startController,
  startEcr,
  unique,
  uniqueHostNamespace,
  waitFor,
  type ControllerProcess,
} from "./support/harness.ts";

const HOST = "public.ecr.aws";

/** The registry password in a namespace's public.ecr.aws pull secret, once there is one. */
async function passwordIn(core: CoreV1Api, namespace: string): Promise<string | undefined> {
  const secret = await readSecret(core, namespace, HOST);
  return secret === undefined ? undefined : decodePullSecret(secret).password;
}

/** A raw GetAuthorizationToken POST to the local endpoint, signed by @smithy/signature-v4 for `scope`. */
async function signedCall(
  ecr: EcrServer,
  key: EcrKey,
  target: string,
  scope: { service: string; region: string },
): Promise<{ status: number; body: { __type?: string; message?: string; authorizationData?: unknown } }> {
  const url = new URL(ecr.endpoint);
  const signer = new SignatureV4({
    ...scope,
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    sha256: Sha256,
  });
  const request = await signer.sign({
    method: "POST",
    protocol: "http:",
    hostname: url.hostname,
    port: Number(url.port),
    path: "/",
    headers: { host: url.host, "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
    body: "{}",
  });
  const res = await fetch(`${ecr.endpoint}/`, { method: "POST", headers: request.headers, body: "{}" });
  return { status: res.status, body: (await res.json()) as { __type?: string; message?: string } };
}

describe("ECR Public (public.ecr.aws)", () => {
  const { core } = kube();
  const hostNs = uniqueHostNamespace();
  const key = newKey(randomAccountId());
  let ecr: EcrServer;
  let controller: ControllerProcess | undefined;
  const labelled = unique("public");
  let dir: string;

  before(async () => {
    ecr = await startEcr([key]);
    dir = mkdtempSync(join(tmpdir(), "eatr-ecr-public-"));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("the local endpoint takes ECR Public's calls only when signed for ecr-public in us-east-1", async () => {
    const refused: [string, { service: string; region: string }, RegExp][] = [
      ["ECR's service name", { service: "ecr", region: "us-east-1" }, /correct service: 'ecr-public'/],
      ["another region", { service: "ecr-public", region: "eu-west-1" }, /valid region/],
    ];
    for (const [what, scope, message] of refused) {
      const res = await signedCall(ecr, key, GET_PUBLIC_AUTHORIZATION_TOKEN_TARGET, scope);
      assert.equal(res.status, 400, what);
      assert.equal(res.body.__type, "InvalidSignatureException", what);
      assert.match(res.body.message ?? "", message, what);
    }
    // …and ECR's own API is not to be signed for ecr-public either.
    const crossed = await signedCall(ecr, key, GET_AUTHORIZATION_TOKEN_TARGET, {
      service: "ecr-public",
      region: "us-east-1",
    });
    assert.equal(crossed.status, 400);
    assert.match(crossed.body.message ?? "", /correct service: 'ecr'/);
    const ok = await signedCall(ecr, key, GET_PUBLIC_AUTHORIZATION_TOKEN_TARGET, {
      service: "ecr-public",
      region: "us-east-1",
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.ok(!Array.isArray(ok.body.authorizationData), "one authorizationData object, not a list");
    ecr.resetCounts();
  });

  it("a namespace labelled public.ecr.aws=true gets the pull secret public.ecr.aws with ECR Public's token for the credential secret's key", async () => {
    await createCredentials(core, hostNs, HOST, key);
    // The first call is refused: the failure is reported like a private registry's (Event, metric), retried.
    ecr.failNext(1, "access-denied");
    await createLabelledNamespace(core, labelled, [HOST]);
    controller = await startController({
      ecrEndpoint: "http://127.0.0.1:9", // never called: ECR Public has its own endpoint
      hostNamespace: hostNs,
      extraArgs: ["-ecr-public-endpoint", ecr.endpoint],
    });
    const password = await waitFor(() => passwordIn(core, labelled), {
      message: `pull secret ${labelled}/${HOST}`,
    });
    const secret = (await readSecret(core, labelled, HOST)) ?? assert.fail("secret");
    assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
    assert.equal(secret.metadata?.labels?.[MANAGED_BY.key], MANAGED_BY.value);
    assert.equal(secret.metadata?.annotations?.["eatr/registry"], HOST);
    const decoded = decodePullSecret(secret);
    // The original eatr's form of the key; the kubelet and docker match it to public.ecr.aws/<repo> images.
    assert.deepEqual(decoded.urls, [`https://${HOST}`]);
    assert.equal(decoded.username, "AWS");
    const minted = ecr.findToken(password) ?? assert.fail("the secret holds a token the endpoint minted");
    assert.equal(minted.service, "ecr-public");
    assert.equal(minted.accessKeyId, key.accessKeyId, "minted for the credential secret's key");
    assert.equal(minted.region, "us-east-1");
    assert.equal(decoded.auth, minted.authorizationToken);
    const expiresAt = Date.parse(secret.metadata?.annotations?.["eatr/token-expires-at"] ?? "");
    assert.ok(
      Math.abs(expiresAt - (minted.expiresAt?.getTime() ?? 0)) < 1000,
      "expiresAt read from the single authorizationData object",
    );

    // Every call eatr made was ECR Public's, signed for ecr-public in us-east-1.
    const calls = ecr.log().filter((c) => c.accessKeyId === key.accessKeyId);
    assert.ok(calls.length >= 2, `a refused call and a retry, got ${calls.length}`);
    for (const call of calls) {
      assert.deepEqual(
        [call.service, call.scopeService, call.region],
        ["ecr-public", "ecr-public", "us-east-1"],
      );
    }
    assert.equal(ecr.calls(key.accessKeyId, "ecr"), 0, "ECR's API is never called for public.ecr.aws");
    assert.deepEqual(ecr.outcomes(key.accessKeyId, "ecr-public"), { "access-denied": 1, ok: 1 });

    const event = await waitFor(
      async () =>
        (
          await listEvents(core, {
            reason: "TokenRequestFailed",
            name: credentialSecretName(HOST),
            namespace: hostNs,
          })
        )[0],
      { message: "a TokenRequestFailed Event on the credential secret" },
    );
    assert.equal(event.type, "Warning");
    assert.match(
      event.message ?? "",
      /^ECR Public GetAuthorizationToken for public\.ecr\.aws failed \(AccessDeniedException: /,
    );
    const metrics = controller;
    await waitFor(
      async () =>
        (await metrics.metric("eatr_ecr_token_requests_total", { registry: HOST, result: "success" })) ===
          1 &&
        (await metrics.metric("eatr_ecr_token_requests_total", {
          registry: HOST,
          result: "invalid_credentials",
        })) === 1,
      { message: "eatr_ecr_token_requests_total for public.ecr.aws: one failure, one success" },
    );
    const expiry = await metrics.metric("eatr_registry_token_expiry_timestamp_seconds", { registry: HOST });
    assert.ok(Math.abs(expiry - (minted.expiresAt?.getTime() ?? 0) / 1000) < 1, `expiry gauge ${expiry}`);
  });

  it("a second namespace gets the same cached token, with no further ECR Public call", async () => {
    const before = ecr.calls(key.accessKeyId, "ecr-public");
    const first = (await passwordIn(core, labelled)) ?? assert.fail("first secret");
    const second = unique("public-2");
    await createLabelledNamespace(core, second, [HOST]);
    const password = await waitFor(() => passwordIn(core, second), {
      message: `pull secret ${second}/${HOST}`,
    });
    assert.equal(password, first);
    assert.equal(ecr.calls(key.accessKeyId, "ecr-public"), before);
  });

  it("removing the label deletes the pull secret", async () => {
    assert.ok(await readSecret(core, labelled, HOST), "the pull secret is there before");
    await patchNamespaceLabels(core, labelled, { [HOST]: null });
    await waitFor(async () => (await readSecret(core, labelled, HOST)) === undefined, {
      message: `pull secret ${labelled}/${HOST} deleted`,
    });
    assert.equal(await controller?.stop(), 0);
    controller = undefined;
  });

  it("a declared registry (source default, the controller's own keys) is renewed from ECR Public", async () => {
    const own = newKey(randomAccountId());
    ecr.addKey(own);
    const configFile = join(dir, "config.yaml");
    writeFileSync(configFile, `registries:\n  - host: ${HOST}\n    source: default\n`);
    const otherHostNs = uniqueHostNamespace(); // no credential secret there
    const ns = unique("public-declared");
    await createLabelledNamespace(core, ns, [HOST]);
    controller = await startController({
      ecrEndpoint: "http://127.0.0.1:9",
      hostNamespace: otherHostNs,
      extraArgs: [
        "-ecr-public-endpoint",
        ecr.endpoint,
        "-config",
        configFile,
        "-auth-token-renewal-interval",
        "20s",
      ],
      env: {
        AWS_ACCESS_KEY_ID: own.accessKeyId,
        AWS_SECRET_ACCESS_KEY: own.secretAccessKey,
        AWS_EC2_METADATA_DISABLED: "true",
      },
    });
    const first = await waitFor(() => passwordIn(core, ns), { message: `pull secret ${ns}/${HOST}` });
    const minted = ecr.findToken(first) ?? assert.fail("minted");
    assert.deepEqual([minted.service, minted.accessKeyId], ["ecr-public", own.accessKeyId]);
    // Renewed at the 20 s renewal interval: a new ECR Public token replaces it in place.
    const uid = (await readSecret(core, ns, HOST))?.metadata?.uid;
    const renewed = await waitFor(
      async () => {
        const p = await passwordIn(core, ns);
        return p !== undefined && p !== first ? p : undefined;
      },
      { timeoutMs: 90_000, message: "the token renewed" },
    );
    const next = ecr.findToken(renewed) ?? assert.fail("renewed token minted");
    assert.deepEqual([next.service, next.accessKeyId], ["ecr-public", own.accessKeyId]);
    assert.ok(next.seq > minted.seq);
    assert.equal((await readSecret(core, ns, HOST))?.metadata?.uid, uid, "updated in place");
    assert.ok((await controller.metric("secret_renewals_total")) >= 1);
    assert.equal(await controller.stop(), 0);
    controller = undefined;
  });
});
