/**
 * Credential sources without static keys, on a real API server with the real binary: a role assumed on
 * top of static keys, web identity with a real ServiceAccount token from the TokenRequest API (verified by
 * the local STS endpoint against the kube-apiserver's own JWKS), refusals reported per registry and
 * recovered from, and a restart that costs no STS and no ECR call.
 */
import assert from "node:assert/strict";
import type { JsonWebKey } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { CoreV1Api } from "@kubernetes/client-node";
import { startStsServer, type OidcIssuer } from "../env/sts-server.ts";
import {
  createLabelledNamespace,
  createNamespace,
  credentialSecretName,
  decodePullSecret,
  kube,
  listEvents,
  newKey,
  randomAccountId,
  readSecret,
  registryHost,
  startController,
  startEcr,
  unique,
  uniqueHostNamespace,
  waitFor,
  waitForIdle,
} from "./support/harness.ts";

const { kc, core } = kube();
const b64 = (s: string) => Buffer.from(s).toString("base64");
const SA = "eatr";

/** GET on the API server as the test's admin user. */
async function adminGet(path: string): Promise<unknown> {
  const cluster = kc.getCurrentCluster() ?? assert.fail("no cluster in the kubeconfig");
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, cluster.server), { ...opts, method: "GET" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) reject(new Error(`GET ${path}: ${String(res.statusCode)} ${text}`));
        else resolve(JSON.parse(text));
      });
    });
    req.on("error", reject);
    req.end();
  });
}

/** The kube-apiserver as an OIDC provider: its discovery document's issuer and its JWKS. */
async function apiServerIssuer(): Promise<OidcIssuer> {
  const discovery = (await adminGet("/.well-known/openid-configuration")) as {
    issuer: string;
    jwks_uri: string;
  };
  assert.ok(discovery.issuer, "the API server publishes an issuer");
  return {
    issuer: discovery.issuer,
    jwks: async () => (await adminGet("/openid/v1/jwks")) as { keys: JsonWebKey[] },
  };
}

/** A real ServiceAccount token from the TokenRequest API. */
async function saToken(api: CoreV1Api, namespace: string, audience = "sts.amazonaws.com"): Promise<string> {
  const out = await api.createNamespacedServiceAccountToken({
    name: SA,
    namespace,
    body: { spec: { audiences: [audience], expirationSeconds: 600 } },
  });
  return out.status?.token ?? assert.fail("TokenRequest returned no token");
}

async function createSecret(hostNs: string, host: string, data: Record<string, string>): Promise<void> {
  await createNamespace(core, hostNs);
  await core.createNamespacedSecret({
    namespace: hostNs,
    body: {
      metadata: { name: credentialSecretName(host) },
      type: "Opaque",
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    },
  });
}

async function replaceSecret(hostNs: string, host: string, data: Record<string, string>): Promise<void> {
  const name = credentialSecretName(host);
  const current = await core.readNamespacedSecret({ name, namespace: hostNs });
  await core.replaceNamespacedSecret({
    name,
    namespace: hostNs,
    body: { ...current, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) },
  });
}

const passwordIn = async (ns: string, host: string) => {
  const s = await readSecret(core, ns, host);
  return s === undefined ? undefined : decodePullSecret(s).password;
};

/** A TokenRequestFailed Event on the registry's credential secret whose message matches. */
const failedEvent = (hostNs: string, host: string, message: RegExp) =>
  waitFor(
    async () =>
      (
        await listEvents(core, {
          reason: "TokenRequestFailed",
          namespace: hostNs,
          name: credentialSecretName(host),
        })
      ).find((e) => message.test(e.message ?? "")),
    { timeoutMs: 60_000, message: `a TokenRequestFailed Event matching ${String(message)}` },
  );

let dir: string;
let issuer: OidcIssuer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "eatr-keyless-"));
  issuer = await apiServerIssuer();
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

void describe("keyless credential sources", () => {
  void it("(a) a role on top of static keys; (f) a restart with every secret current costs 0 STS and 0 ECR calls", async () => {
    const hostNs = uniqueHostNamespace();
    const key = newKey(randomAccountId());
    const roleAccount = randomAccountId();
    const roleArn = `arn:aws:iam::${roleAccount}:role/eatr-pull`;
    const host = registryHost(roleAccount, "eu-west-1");
    const ecr = await startEcr([key]);
    const sts = await startStsServer({
      ecr,
      callers: [key],
      roles: [{ arn: roleArn, trustedCallers: [key.accessKeyId], externalId: "ext-0042" }],
    });
    try {
      await createSecret(hostNs, host, {
        aws_access_key_id: key.accessKeyId,
        aws_secret_access_key: key.secretAccessKey,
        aws_role_arn: roleArn,
        aws_role_external_id: "ext-0042",
      });
      const args = {
        ecrEndpoint: ecr.endpoint,
        hostNamespace: hostNs,
        extraArgs: ["-sts-endpoint", sts.endpoint],
      };
      const controller = await startController(args);
      const namespaces = [unique("role-a"), unique("role-b")];
      for (const ns of namespaces) await createLabelledNamespace(core, ns, [host]);
      for (const ns of namespaces)
        await waitFor(() => passwordIn(ns, host), { message: `the pull secret in ${ns}` });
      const minted =
        ecr.findToken((await passwordIn(namespaces[0] ?? "", host)) ?? "") ?? assert.fail("minted by ECR");
      assert.match(minted.accessKeyId, /^ASIA/, "signed with the role's temporary key, not the static one");
      assert.equal(minted.accountId, roleAccount, "for the role's account");
      assert.equal(ecr.calls(key.accessKeyId), 0, "the static key never reached ECR");
      assert.equal(sts.calls(roleArn), 1, "one STS call for the registry, however many namespaces");
      await waitForIdle(controller);
      assert.equal(
        await controller.metric("eatr_sts_requests_total", { registry: host, result: "success" }),
        1,
      );

      // (f) Restart: the pull secrets record the credentials version, so nothing is fetched again.
      await controller.stop();
      sts.resetCounts();
      ecr.resetCounts();
      const again = await startController(args);
      await waitForIdle(again, { minReconciles: namespaces.length });
      assert.equal(sts.calls(), 0, "no STS call after a restart");
      assert.equal(ecr.totalCalls(), 0, "no ECR call after a restart");
      assert.equal(await again.metric("eatr_sts_requests_total"), 0);
      await again.stop();
    } finally {
      await sts.close();
    }
  });

  void it("(b) web identity with a real ServiceAccount token, rotated mid-run: the next STS call reads the new file", async () => {
    const hostNs = uniqueHostNamespace();
    await createNamespace(core, hostNs);
    await core.createNamespacedServiceAccount({ namespace: hostNs, body: { metadata: { name: SA } } });
    const roleAccount = randomAccountId();
    const roleArn = `arn:aws:iam::${roleAccount}:role/eatr-web`;
    const host = registryHost(roleAccount, "eu-west-1");
    const ecr = await startEcr([]);
    // Credentials live 60 s: renewed 30 s before expiry, i.e. by the ECR refresh that follows.
    const sts = await startStsServer({
      ecr,
      oidc: issuer,
      lifetimeMs: 60_000,
      roles: [{ arn: roleArn, webIdentitySub: `system:serviceaccount:${hostNs}:${SA}` }],
    });
    const tokenFile = join(dir, "token-b");
    try {
      writeFileSync(tokenFile, await saToken(core, hostNs));
      await createSecret(hostNs, host, { aws_role_arn: roleArn, aws_web_identity: "true" });
      const controller = await startController({
        ecrEndpoint: ecr.endpoint,
        hostNamespace: hostNs,
        extraArgs: [
          "-sts-endpoint",
          sts.endpoint,
          "-web-identity-token-file",
          tokenFile,
          "-auth-token-renewal-interval",
          "20s",
        ],
      });
      const ns = unique("web");
      await createLabelledNamespace(core, ns, [host]);
      const first = await waitFor(() => passwordIn(ns, host), { message: "the pull secret" });
      const issued = sts.issued();
      assert.equal(issued.length, 1);
      assert.equal(issued[0]?.subject, `system:serviceaccount:${hostNs}:${SA}`);
      assert.equal(ecr.findToken(first)?.accountId, roleAccount);

      // The kubelet rotates the token: a new one lands in the same file.
      const rotated = await saToken(core, hostNs);
      writeFileSync(tokenFile, rotated);
      await waitFor(() => sts.issued().length >= 2, { timeoutMs: 90_000, message: "a second STS call" });
      const second = sts.issued()[1] ?? assert.fail();
      assert.notEqual(second.tokenId, issued[0]?.tokenId, "the second call exchanged the rotated token");
      await waitFor(
        async () => ecr.findToken((await passwordIn(ns, host)) ?? "")?.accessKeyId === second.accessKeyId,
        {
          timeoutMs: 60_000,
          message: "the pull secret minted with the renewed credentials",
        },
      );
      await controller.stop();
    } finally {
      await sts.close();
    }
  });

  void it("(c) wrong audience, wrong sub, expired token: an Event naming the registry and the reason, others unaffected, recovery", async () => {
    const hostNs = uniqueHostNamespace();
    await createNamespace(core, hostNs);
    await core.createNamespacedServiceAccount({ namespace: hostNs, body: { metadata: { name: SA } } });
    const sub = `system:serviceaccount:${hostNs}:${SA}`;
    const webAccount = randomAccountId();
    const roleArn = `arn:aws:iam::${webAccount}:role/eatr-web`;
    const otherRole = `arn:aws:iam::${webAccount}:role/someone-else`;
    const webHost = registryHost(webAccount, "eu-west-1");
    const key = newKey(randomAccountId());
    const keysHost = registryHost(key.accountId, "eu-west-1");
    const ecr = await startEcr([key]);
    let offsetMs = 0;
    const sts = await startStsServer({
      ecr,
      oidc: issuer,
      now: () => Date.now() + offsetMs,
      roles: [
        { arn: roleArn, webIdentitySub: sub },
        { arn: otherRole, webIdentitySub: "system:serviceaccount:other:other" },
      ],
    });
    const tokenFile = join(dir, "token-c");
    try {
      writeFileSync(tokenFile, await saToken(core, hostNs, "vault"));
      await createSecret(hostNs, webHost, { aws_role_arn: roleArn, aws_web_identity: "true" });
      await createSecret(hostNs, keysHost, {
        aws_access_key_id: key.accessKeyId,
        aws_secret_access_key: key.secretAccessKey,
      });
      const controller = await startController({
        ecrEndpoint: ecr.endpoint,
        hostNamespace: hostNs,
        extraArgs: ["-sts-endpoint", sts.endpoint, "-web-identity-token-file", tokenFile],
      });
      const ns = unique("mixed");
      await createLabelledNamespace(core, ns, [webHost, keysHost]);

      // Wrong audience.
      const escaped = webHost.replace(/\./g, "\\.");
      const audience = await failedEvent(
        hostNs,
        webHost,
        new RegExp(
          `Getting AWS credentials for ${escaped} failed \\(InvalidIdentityTokenException: STS AssumeRoleWithWebIdentity for registry ${escaped} \\(source webIdentity\\) failed: InvalidIdentityTokenException: Incorrect token audience`,
        ),
      );
      assert.equal(audience.type, "Warning");
      await waitFor(() => passwordIn(ns, keysHost), {
        message: "the other registry's pull secret, unaffected",
      });
      assert.equal(await passwordIn(ns, webHost), undefined);
      assert.ok(
        (await controller.metric("eatr_sts_requests_total", {
          registry: webHost,
          result: "invalid_credentials",
        })) >= 1,
      );
      assert.equal(
        await controller.metric("eatr_ecr_token_requests_total", { registry: webHost }),
        0,
        "ECR never called for it",
      );

      // Fixed: the right audience. The next retry (backoff) reads the file again and succeeds.
      writeFileSync(tokenFile, await saToken(core, hostNs));
      const firstPassword = await waitFor(() => passwordIn(ns, webHost), {
        timeoutMs: 60_000,
        message: "recovery",
      });

      // Wrong sub: the registry now names a role that trusts another ServiceAccount.
      await replaceSecret(hostNs, webHost, { aws_role_arn: otherRole, aws_web_identity: "true" });
      await failedEvent(
        hostNs,
        webHost,
        /failed \(AccessDenied: .*\(source webIdentity\) failed: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity/,
      );
      assert.equal(await passwordIn(ns, webHost), firstPassword, "the existing pull secret is kept");

      // Expired token: STS's clock is past the token's 10 min expiry.
      offsetMs = 11 * 60_000;
      await replaceSecret(hostNs, webHost, {
        aws_role_arn: roleArn,
        aws_web_identity: "true",
        aws_role_session_name: "eatr-c",
      });
      await failedEvent(
        hostNs,
        webHost,
        /failed \(ExpiredTokenException: .*\(source webIdentity\) failed: ExpiredTokenException: Token expired/,
      );
      offsetMs = 0;
      await waitFor(
        async () => {
          const now = await passwordIn(ns, webHost);
          return now !== undefined && now !== firstPassword;
        },
        { timeoutMs: 60_000, message: "recovery once the token is current" },
      );
      const keysPassword = await passwordIn(ns, keysHost);
      assert.equal(ecr.findToken(keysPassword ?? "")?.accessKeyId, key.accessKeyId);
      assert.equal(ecr.calls(key.accessKeyId), 1, "the static-key registry was never disturbed");
      await controller.stop();
    } finally {
      await sts.close();
    }
  });

  void it("(d) two registries, two roles in two accounts, one namespace: one declared in the config file with no secret (the controller's own identity), one from its secret's keys", async () => {
    const hostNs = uniqueHostNamespace();
    const own = newKey(randomAccountId()); // the controller's identity, from its environment
    const secretKey = newKey(randomAccountId());
    const [accountA, accountB] = [randomAccountId(), randomAccountId()];
    const roleA = `arn:aws:iam::${accountA}:role/pull-a`;
    const roleB = `arn:aws:iam::${accountB}:role/pull-b`;
    const hostA = registryHost(accountA, "eu-west-1");
    const hostB = registryHost(accountB, "us-east-1");
    const ecr = await startEcr([own, secretKey]);
    const sts = await startStsServer({
      ecr,
      callers: [own, secretKey],
      roles: [
        { arn: roleA, trustedCallers: [own.accessKeyId], externalId: "ext-aaaa" },
        { arn: roleB, trustedCallers: [secretKey.accessKeyId] },
      ],
    });
    try {
      const configFile = join(dir, "config-d.yaml");
      writeFileSync(
        configFile,
        `registries:\n  - host: ${hostA}\n    source: assumeRole\n    roleArn: ${roleA}\n    externalId: ext-aaaa\n`,
      );
      await createSecret(hostNs, hostB, {
        aws_access_key_id: secretKey.accessKeyId,
        aws_secret_access_key: secretKey.secretAccessKey,
        aws_role_arn: roleB,
      });
      const controller = await startController({
        ecrEndpoint: ecr.endpoint,
        hostNamespace: hostNs,
        extraArgs: ["-sts-endpoint", sts.endpoint, "-config", configFile],
        env: {
          AWS_ACCESS_KEY_ID: own.accessKeyId,
          AWS_SECRET_ACCESS_KEY: own.secretAccessKey,
          AWS_EC2_METADATA_DISABLED: "true",
        },
      });
      const ns = unique("two-roles");
      await createLabelledNamespace(core, ns, [hostA, hostB]);
      for (const [host, account] of [
        [hostA, accountA],
        [hostB, accountB],
      ] as const) {
        const password = await waitFor(() => passwordIn(ns, host), {
          message: `the pull secret for ${host}`,
        });
        const minted = ecr.findToken(password) ?? assert.fail("minted by ECR");
        assert.equal(minted.accountId, account, `${host}: minted in the role's account`);
        assert.match(minted.accessKeyId, /^ASIA/);
        assert.equal(
          minted.region,
          host.includes("us-east-1") ? "us-east-1" : "eu-west-1",
          "ECR called in the registry's region",
        );
      }
      assert.equal(sts.calls(roleA), 1);
      assert.equal(sts.calls(roleB), 1);
      assert.equal(
        ecr.calls(own.accessKeyId) + ecr.calls(secretKey.accessKeyId),
        0,
        "no static key reached ECR",
      );
      await controller.stop();
    } finally {
      await sts.close();
    }
  });

  void it("(e) STS throttling: cached credentials serve while valid, then failures back off per registry and recover", async () => {
    const hostNs = uniqueHostNamespace();
    const key = newKey(randomAccountId());
    const roleAccount = randomAccountId();
    const roleArn = `arn:aws:iam::${roleAccount}:role/eatr-pull`;
    const host = registryHost(roleAccount, "eu-west-1");
    const ecr = await startEcr([key]);
    // Credentials live 45 s: due for renewal after 22.5 s, so the ECR refresh at ~40 s renews them.
    const sts = await startStsServer({
      ecr,
      callers: [key],
      lifetimeMs: 45_000,
      roles: [{ arn: roleArn, trustedCallers: [key.accessKeyId] }],
    });
    try {
      await createSecret(hostNs, host, {
        aws_access_key_id: key.accessKeyId,
        aws_secret_access_key: key.secretAccessKey,
        aws_role_arn: roleArn,
      });
      const controller = await startController({
        ecrEndpoint: ecr.endpoint,
        hostNamespace: hostNs,
        extraArgs: ["-sts-endpoint", sts.endpoint, "-auth-token-renewal-interval", "20s"],
      });
      const ns = unique("throttled");
      await createLabelledNamespace(core, ns, [host]);
      await waitFor(() => passwordIn(ns, host), { message: "the first pull secret" });
      const firstKey = sts.issued()[0]?.accessKeyId ?? assert.fail("issued");
      sts.failNext(4, "throttle");
      // The renewal at ~40 s is throttled while the credentials are still valid: ECR is called with them.
      await waitFor(() => sts.log().some((c) => c.outcome === "Throttling"), {
        timeoutMs: 90_000,
        message: "a throttled STS call",
      });
      await waitFor(() => ecr.tokens().filter((t) => t.accessKeyId === firstKey).length >= 3, {
        timeoutMs: 60_000,
        message: "ECR called again with the cached credentials despite the throttled renewal",
      });
      // Once they expire, the registry's fetches fail with the STS error and back off.
      await failedEvent(
        hostNs,
        host,
        /Getting AWS credentials for .* failed \(Throttling: STS AssumeRole for registry .* \(source assumeRole\) failed: Throttling: Rate exceeded/,
      );
      await waitFor(() => sts.issued().length >= 2, {
        timeoutMs: 90_000,
        message: "recovery after the throttling",
      });
      await waitFor(
        async () =>
          ecr.findToken((await passwordIn(ns, host)) ?? "")?.accessKeyId === sts.issued()[1]?.accessKeyId,
        { timeoutMs: 60_000, message: "the pull secret minted with the renewed credentials" },
      );
      const throttled = sts.log().filter((c) => c.outcome === "Throttling");
      assert.equal(throttled.length, 4, "every injected throttle was met once: no extra calls");
      // The first was a renewal served from the cache; the other three failed fetches, backing off.
      const failing = throttled.slice(1);
      const gaps = failing.slice(1).map((c, i) => c.at - (failing[i]?.at ?? 0));
      assert.equal(gaps.length, 2);
      assert.ok(gaps[0] !== undefined && gaps[0] >= 500, `first backoff step ~1 s: ${gaps.join(", ")} ms`);
      assert.ok(gaps[1] !== undefined && gaps[1] > gaps[0], `backoff grows: ${gaps.join(", ")} ms`);
      assert.equal(
        await controller.metric("eatr_sts_requests_total", { registry: host, result: "throttled" }),
        4,
      );
      await controller.stop();
    } finally {
      await sts.close();
    }
  });
});
