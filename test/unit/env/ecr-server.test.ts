import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { SignatureV4 } from "@smithy/signature-v4";
import {
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  type ECRClientConfig,
} from "@aws-sdk/client-ecr";
import {
  DescribeRegistriesCommand,
  ECRPUBLICClient,
  GetAuthorizationTokenCommand as GetPublicAuthorizationTokenCommand,
} from "@aws-sdk/client-ecr-public";
import {
  GET_AUTHORIZATION_TOKEN_TARGET,
  GET_PUBLIC_AUTHORIZATION_TOKEN_TARGET,
  startEcrServer,
  type EcrKey,
  type EcrServer,
} from "../../env/ecr-server.ts";
import { Sha256 } from "../../env/sigv4.ts";

const ALICE: EcrKey = {
  accessKeyId: "AKIAALICE0000000001",
  secretAccessKey: "alice/secret+Key0123456789abcdefghijklmn",
  accountId: "123456789012",
};
const BOB: EcrKey = {
  accessKeyId: "AKIABOB000000000002",
  secretAccessKey: "bob-secret-key-0123456789abcdefghijklmnop",
  accountId: "210987654321",
};
const CAROL: EcrKey = {
  accessKeyId: "ASIACAROL0000000003",
  secretAccessKey: "carol-temporary-secret-0123456789abcdefgh",
  sessionToken: "FwoGZXIvYXdzEJr//////////wEaDCarolSessionToken==",
  accountId: "333333333333",
};

type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

function creds(key: EcrKey): Creds {
  const c: Creds = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  if (key.sessionToken !== undefined) c.sessionToken = key.sessionToken;
  return c;
}

void describe("test ECR server with the real @aws-sdk/client-ecr", () => {
  let ecr: EcrServer;
  const clients: ECRClient[] = [];

  function client(credentials: Creds, extra: ECRClientConfig = {}): ECRClient {
    const c = new ECRClient({ endpoint: ecr.endpoint, region: "eu-west-1", credentials, ...extra });
    clients.push(c);
    return c;
  }

  async function getToken(c: ECRClient, registryIds?: string[]) {
    // registryIds is deprecated in ECR's API, but still honoured by ECR (and by the test server).
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    return c.send(new GetAuthorizationTokenCommand(registryIds ? { registryIds } : {}));
  }

  async function errorOf(p: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
    try {
      await p;
    } catch (err) {
      assert.ok(err instanceof Error);
      return err;
    }
    assert.fail("expected the call to fail");
  }

  before(async () => {
    ecr = await startEcrServer({ keys: [ALICE, BOB, CAROL] });
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await ecr.close();
  });

  void it("listens on 127.0.0.1 with a free port", () => {
    assert.match(ecr.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(ecr.port > 0);
  });

  void it("answers a good key with a token like ECR's", async () => {
    ecr.resetCounts();
    const before = Date.now();
    const out = await getToken(client(creds(ALICE)));
    const data = out.authorizationData;
    assert.equal(data?.length, 1);
    const entry = data[0];
    assert.ok(entry?.authorizationToken);
    const decoded = Buffer.from(entry.authorizationToken, "base64").toString("utf8");
    const last = ecr.lastToken(ALICE.accessKeyId);
    assert.ok(last);
    assert.equal(decoded, `AWS:${last.password}`);
    assert.match(last.password, /^ecr-123456789012-[0-9a-f]{8}-\d{6}-[0-9a-f]{12}$/);
    assert.equal(entry.proxyEndpoint, "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    assert.equal(last.region, "eu-west-1");
    assert.ok(entry.expiresAt instanceof Date);
    const lifetime = entry.expiresAt.getTime() - before;
    assert.ok(Math.abs(lifetime - 12 * 3600_000) < 5000, `lifetime ${lifetime} ms`);
    assert.equal(entry.expiresAt.getTime(), last.expiresAt?.getTime());
    assert.equal(ecr.findToken(last.password), last);
    assert.equal(ecr.calls(ALICE.accessKeyId), 1);
    assert.deepEqual(ecr.outcomes(), { ok: 1 });
  });

  void it("mints a distinct, recognisable password on every call", async () => {
    const c = client(creds(ALICE));
    const passwords = new Set<string>();
    for (let i = 0; i < 3; i++) {
      await getToken(c);
      const last = ecr.lastToken(ALICE.accessKeyId);
      assert.ok(last);
      passwords.add(last.password);
    }
    assert.equal(passwords.size, 3);
    const bobs = await getToken(client(creds(BOB)));
    const bobPassword = ecr.lastToken(BOB.accessKeyId)?.password ?? "";
    assert.ok(bobPassword.startsWith("ecr-210987654321-"));
    assert.ok(!passwords.has(bobPassword));
    assert.equal(
      bobs.authorizationData?.[0]?.proxyEndpoint,
      "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com",
    );
  });

  void it("takes the region from the SigV4 scope", async () => {
    const out = await getToken(client(creds(ALICE), { region: "us-east-2" }));
    assert.equal(
      out.authorizationData?.[0]?.proxyEndpoint,
      "https://123456789012.dkr.ecr.us-east-2.amazonaws.com",
    );
    const cn = await getToken(client(creds(ALICE), { region: "cn-north-1" }));
    assert.equal(
      cn.authorizationData?.[0]?.proxyEndpoint,
      "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
    );
  });

  void it("accepts the regions of every AWS partition, with that partition's registry domain", async () => {
    const table: [string, string][] = [
      ["eu-west-1", "amazonaws.com"],
      ["us-gov-east-1", "amazonaws.com"],
      ["cn-northwest-1", "amazonaws.com.cn"],
      ["us-iso-east-1", "c2s.ic.gov"],
      ["us-isob-east-1", "sc2s.sgov.gov"],
      ["eu-isoe-west-1", "cloud.adc-e.uk"],
      ["us-isof-south-1", "csp.hci.ic.gov"],
      ["eusc-de-east-1", "amazonaws.eu"],
    ];
    for (const [region, domain] of table) {
      const out = await getToken(client(creds(ALICE), { region, maxAttempts: 1 }));
      assert.equal(
        out.authorizationData?.[0]?.proxyEndpoint,
        `https://123456789012.dkr.ecr.${region}.${domain}`,
        region,
      );
    }
    for (const region of ["xx-west-1", "eusc-fr-east-1", "mars-1"]) {
      const err = await errorOf(getToken(client(creds(ALICE), { region, maxAttempts: 1 })));
      assert.equal(err.name, "InvalidSignatureException", region);
      assert.match(err.message, /valid region/);
    }
  });

  void it("answers one entry per requested registry id", async () => {
    const out = await getToken(client(creds(ALICE)), ["111111111111", "222222222222"]);
    assert.deepEqual(
      out.authorizationData?.map((d) => d.proxyEndpoint),
      [
        "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com",
        "https://222222222222.dkr.ecr.eu-west-1.amazonaws.com",
      ],
    );
    const bad = await errorOf(getToken(client(creds(ALICE)), ["not-an-account"]));
    assert.equal(bad.name, "InvalidParameterException");
  });

  void it("rejects an unknown access key as UnrecognizedClientException", async () => {
    ecr.resetCounts();
    const err = await errorOf(
      getToken(
        client({ accessKeyId: "AKIAUNKNOWN00000000", secretAccessKey: "whatever" }, { maxAttempts: 1 }),
      ),
    );
    assert.equal(err.name, "UnrecognizedClientException");
    assert.equal(err.message, "The security token included in the request is invalid.");
    assert.equal(err.$metadata?.httpStatusCode, 400);
    assert.equal(ecr.calls("AKIAUNKNOWN00000000"), 1);
    assert.deepEqual(ecr.outcomes(), { "unrecognized-client": 1 });
  });

  void it("rejects a wrong secret as InvalidSignatureException", async () => {
    const err = await errorOf(
      getToken(client({ ...creds(ALICE), secretAccessKey: "not-alice-secret" }, { maxAttempts: 1 })),
    );
    assert.equal(err.name, "InvalidSignatureException");
    assert.match(err.message, /signature we calculated does not match/);
    assert.equal(err.$metadata?.httpStatusCode, 400);
  });

  void it("checks the session token of temporary credentials", async () => {
    const ok = await getToken(client(creds(CAROL)));
    assert.equal(
      ok.authorizationData?.[0]?.proxyEndpoint,
      "https://333333333333.dkr.ecr.eu-west-1.amazonaws.com",
    );
    const missing = await errorOf(
      getToken(
        client(
          { accessKeyId: CAROL.accessKeyId, secretAccessKey: CAROL.secretAccessKey },
          { maxAttempts: 1 },
        ),
      ),
    );
    assert.equal(missing.name, "UnrecognizedClientException");
    const wrong = await errorOf(
      getToken(client({ ...creds(CAROL), sessionToken: "someone-elses-token" }, { maxAttempts: 1 })),
    );
    assert.equal(wrong.name, "UnrecognizedClientException");
  });

  void it("forgets a removed key and accepts it again once re-added", async () => {
    const c = client(creds(BOB), { maxAttempts: 1 });
    assert.equal(ecr.removeKey(BOB.accessKeyId), true);
    const err = await errorOf(getToken(c));
    assert.equal(err.name, "UnrecognizedClientException");
    ecr.addKey(BOB);
    await getToken(c);
  });

  void it("answers an unsigned request with MissingAuthenticationTokenException", async () => {
    const res = await fetch(ecr.endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
      },
      body: "{}",
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("content-type"), "application/x-amz-json-1.1");
    assert.deepEqual(await res.json(), {
      __type: "MissingAuthenticationTokenException",
      message: "Missing Authentication Token",
    });
  });

  void it("injects ThrottlingException (seen as such with retries off, retried away with them on)", async () => {
    ecr.resetCounts();
    ecr.failNext(1, "throttle");
    const err = await errorOf(getToken(client(creds(ALICE), { maxAttempts: 1 })));
    assert.equal(err.name, "ThrottlingException");
    assert.equal(err.message, "Rate exceeded");
    assert.equal(err.$metadata?.httpStatusCode, 400);
    assert.equal(ecr.calls(ALICE.accessKeyId), 1);

    ecr.failNext(1, "throttle");
    const out = await getToken(client(creds(ALICE), { maxAttempts: 2 }));
    assert.ok(out.authorizationData?.[0]?.authorizationToken);
    assert.equal(ecr.calls(ALICE.accessKeyId), 3);
    assert.deepEqual(ecr.outcomes(ALICE.accessKeyId), { throttle: 2, ok: 1 });
  });

  void it("throttles every call in throttle mode until switched off", async () => {
    const c = client(creds(ALICE), { maxAttempts: 1 });
    ecr.setFailureMode("throttle");
    for (let i = 0; i < 3; i++) assert.equal((await errorOf(getToken(c))).name, "ThrottlingException");
    ecr.setFailureMode(null);
    await getToken(c);
  });

  void it("injects a 500 ServerException", async () => {
    ecr.failNext(2, "server");
    assert.equal(ecr.pendingFailures(), 2);
    const c = client(creds(ALICE), { maxAttempts: 1 });
    for (let i = 0; i < 2; i++) {
      const err = await errorOf(getToken(c));
      assert.equal(err.name, "ServerException");
      assert.equal(err.$metadata?.httpStatusCode, 500);
    }
    assert.equal(ecr.pendingFailures(), 0);
    await getToken(c);
  });

  void it("injects AccessDeniedException and dropped connections", async () => {
    const c = client(creds(BOB), { maxAttempts: 1 });
    ecr.failNext(1, "access-denied");
    const denied = await errorOf(getToken(c));
    assert.equal(denied.name, "AccessDeniedException");
    assert.match(denied.message, /210987654321.*ecr:GetAuthorizationToken/);
    ecr.failNext(1, "disconnect");
    const dropped = await errorOf(getToken(c));
    assert.notEqual(dropped.$metadata?.httpStatusCode, 200);
    assert.equal(ecr.log().at(-1)?.outcome, "disconnect");
    await getToken(c);
  });

  void it("counts calls per access key", async () => {
    ecr.resetCounts();
    assert.equal(ecr.totalCalls(), 0);
    const a = client(creds(ALICE));
    const b = client(creds(BOB));
    await Promise.all([getToken(a), getToken(a), getToken(b)]);
    await getToken(a);
    assert.equal(ecr.calls(ALICE.accessKeyId), 3);
    assert.equal(ecr.calls(BOB.accessKeyId), 1);
    assert.equal(ecr.calls(CAROL.accessKeyId), 0);
    assert.equal(ecr.totalCalls(), 4);
    assert.equal(ecr.log().length, 4);
    ecr.resetCounts();
    assert.equal(ecr.calls(ALICE.accessKeyId), 0);
    assert.equal(ecr.totalCalls(), 0);
    assert.ok(ecr.lastToken(ALICE.accessKeyId), "tokens survive resetCounts()");
  });

  void it("delays responses by the configured latency", async () => {
    const c = client(creds(ALICE));
    await getToken(c); // warm the connection
    ecr.setLatencyMs(300);
    try {
      const t0 = performance.now();
      await getToken(c);
      const elapsed = performance.now() - t0;
      assert.ok(elapsed >= 290, `elapsed ${elapsed} ms`);
    } finally {
      ecr.setLatencyMs(0);
    }
    const t1 = performance.now();
    await getToken(c);
    assert.ok(performance.now() - t1 < 250);
  });

  void it("delays only one key's answers with a per-key latency", async () => {
    const alice = client(creds(ALICE));
    const bob = client(creds(BOB));
    await Promise.all([getToken(alice), getToken(bob)]); // warm the connections
    ecr.setKeyLatencyMs(ALICE.accessKeyId, 400);
    try {
      const t0 = performance.now();
      const slow = getToken(alice).then(() => performance.now() - t0);
      await getToken(bob);
      const bobMs = performance.now() - t0;
      const aliceMs = await slow;
      assert.ok(aliceMs >= 390, `alice waited ${aliceMs} ms`);
      assert.ok(bobMs < aliceMs, `bob answered after ${bobMs} ms, before alice (${aliceMs} ms)`);
    } finally {
      ecr.setKeyLatencyMs(ALICE.accessKeyId, undefined);
    }
    const t1 = performance.now();
    await getToken(alice);
    assert.ok(performance.now() - t1 < 350, "back to the server-wide latency");
  });

  void it("controls the token lifetime, including no expiresAt and a past one", async () => {
    const c = client(creds(ALICE));
    try {
      ecr.setTokenLifetimeMs(60_000);
      const short = await getToken(c);
      const inAMinute = (short.authorizationData?.[0]?.expiresAt?.getTime() ?? 0) - Date.now();
      assert.ok(inAMinute > 55_000 && inAMinute <= 60_000, `${inAMinute}`);

      ecr.setTokenLifetimeMs(null);
      const none = await getToken(c);
      assert.equal(none.authorizationData?.[0]?.expiresAt, undefined);
      assert.ok(none.authorizationData?.[0]?.authorizationToken);
      assert.equal(ecr.lastToken(ALICE.accessKeyId)?.expiresAt, undefined);

      ecr.setTokenLifetimeMs(-3600_000);
      const past = await getToken(c);
      assert.ok((past.authorizationData?.[0]?.expiresAt?.getTime() ?? Infinity) < Date.now());
    } finally {
      ecr.setTokenLifetimeMs(12 * 3600_000);
    }
  });

  void it("rejects other operations as UnknownOperationException", async () => {
    const err = await errorOf(
      client(creds(ALICE), { maxAttempts: 1 }).send(new DescribeRepositoriesCommand({})),
    );
    assert.equal(err.name, "UnknownOperationException");
  });
});

void describe("test ECR server clock checks", () => {
  void it("rejects a signature from a skewed clock, which the SDK then corrects from the Date header", async () => {
    const aheadMs = 60 * 60_000;
    const ecr = await startEcrServer({ keys: [ALICE], now: () => Date.now() + aheadMs });
    try {
      const strict = new ECRClient({
        endpoint: ecr.endpoint,
        region: "eu-west-1",
        credentials: creds(ALICE),
        maxAttempts: 1,
      });
      const err = await strict
        .send(new GetAuthorizationTokenCommand({}))
        .then(() => undefined)
        .catch((e: unknown) => e);
      strict.destroy();
      assert.ok(err instanceof Error);
      assert.equal(err.name, "InvalidSignatureException");
      assert.match(err.message, /^Signature expired: /);

      const retrying = new ECRClient({
        endpoint: ecr.endpoint,
        region: "eu-west-1",
        credentials: creds(ALICE),
      });
      const out = await retrying.send(new GetAuthorizationTokenCommand({}));
      retrying.destroy();
      // expiresAt follows the server's clock.
      const expires = out.authorizationData?.[0]?.expiresAt?.getTime() ?? 0;
      assert.ok(Math.abs(expires - (Date.now() + aheadMs + 12 * 3600_000)) < 5000);
      assert.deepEqual(ecr.outcomes(), { "signature-expired": 2, ok: 1 });
    } finally {
      await ecr.close();
    }
  });

  void it("accepts only the configured regions when given", async () => {
    const ecr = await startEcrServer({ keys: [ALICE], regions: ["eu-west-1"] });
    try {
      const other = new ECRClient({
        endpoint: ecr.endpoint,
        region: "us-west-2",
        credentials: creds(ALICE),
        maxAttempts: 1,
      });
      const err = await other
        .send(new GetAuthorizationTokenCommand({}))
        .then(() => undefined)
        .catch((e: unknown) => e);
      other.destroy();
      assert.ok(err instanceof Error);
      assert.equal(err.name, "InvalidSignatureException");
      assert.match(err.message, /valid region/);
    } finally {
      await ecr.close();
    }
  });
});

interface RawResponse {
  status: number;
  body: { __type?: string; message?: string; authorizationData?: unknown[] };
}

function rawPost(
  endpoint: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${endpoint}${path}`, { method: "POST", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as RawResponse["body"],
        });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

void describe("test ECR server signature checks (signed with @smithy/signature-v4 directly)", () => {
  const signer = new SignatureV4({
    service: "ecr",
    region: "eu-west-1",
    credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
    sha256: Sha256,
  });

  async function signed(ecr: EcrServer, path: string, query: Record<string, string>, body: string) {
    const url = new URL(ecr.endpoint);
    const req = await signer.sign({
      method: "POST",
      protocol: "http:",
      hostname: url.hostname,
      port: Number(url.port),
      path,
      query,
      headers: {
        host: url.host,
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
        "x-custom": "  spaced    value ",
      },
      body,
    });
    return { headers: req.headers, wirePath: path };
  }

  function wireQuery(query: Record<string, string>): string {
    const enc = (s: string) =>
      encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const parts = Object.entries(query).map(([k, v]) => `${enc(k)}=${enc(v)}`);
    return parts.length ? `?${parts.join("&")}` : "";
  }

  void it("accepts an intact request and rejects any change to what was signed", async () => {
    const ecr = await startEcrServer({ keys: [ALICE] });
    try {
      const path = "/a%20b/c%C3%A4/";
      const query = { "b key": "x/y", a: "1*2" };
      const { headers } = await signed(ecr, path, query, "{}");
      const target = `${path}${wireQuery(query)}`;

      const ok = await rawPost(ecr.endpoint, target, headers, "{}");
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.authorizationData?.length, 1);

      const cases: [string, () => Promise<RawResponse>][] = [
        ["body", () => rawPost(ecr.endpoint, target, headers, '{"registryIds":["111111111111"]}')],
        ["path", () => rawPost(ecr.endpoint, `/other${wireQuery(query)}`, headers, "{}")],
        ["query", () => rawPost(ecr.endpoint, `${path}${wireQuery({ ...query, a: "3" })}`, headers, "{}")],
        ["signed header", () => rawPost(ecr.endpoint, target, { ...headers, "x-custom": "other" }, "{}")],
        [
          "content type",
          () =>
            rawPost(
              ecr.endpoint,
              target,
              { ...headers, "content-type": "application/x-amz-json-1.1; charset=utf-8" },
              "{}",
            ),
        ],
      ];
      for (const [what, send] of cases) {
        const res = await send();
        assert.equal(res.status, 400, what);
        assert.equal(res.body.__type, "InvalidSignatureException", what);
      }
      // An unsigned header may change freely.
      const extra = await rawPost(ecr.endpoint, target, { ...headers, "x-unsigned": "anything" }, "{}");
      assert.equal(extra.status, 200);
    } finally {
      await ecr.close();
    }
  });

  void it("rejects a scope for another service", async () => {
    const ecr = await startEcrServer({ keys: [ALICE] });
    try {
      const s3signer = new SignatureV4({
        service: "s3",
        region: "eu-west-1",
        credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
        sha256: Sha256,
      });
      const url = new URL(ecr.endpoint);
      const req = await s3signer.sign({
        method: "POST",
        protocol: "http:",
        hostname: url.hostname,
        path: "/",
        headers: {
          host: url.host,
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
        },
        body: "{}",
      });
      const res = await rawPost(ecr.endpoint, "/", req.headers, "{}");
      assert.equal(res.status, 400);
      assert.equal(res.body.__type, "InvalidSignatureException");
      assert.match(res.body.message ?? "", /correct service: 'ecr'/);
    } finally {
      await ecr.close();
    }
  });
});

void describe("test ECR server speaking ECR Public (with the real @aws-sdk/client-ecr-public)", () => {
  let ecr: EcrServer;
  const clients: ECRPUBLICClient[] = [];

  function publicClient(key: EcrKey, region = "us-east-1"): ECRPUBLICClient {
    const c = new ECRPUBLICClient({
      endpoint: ecr.endpoint,
      region,
      credentials: creds(key),
      maxAttempts: 1,
    });
    clients.push(c);
    return c;
  }

  before(async () => {
    // ECR is restricted to eu-west-1 here; ECR Public is served in us-east-1 regardless.
    ecr = await startEcrServer({ keys: [ALICE, BOB, CAROL], regions: ["eu-west-1"] });
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await ecr.close();
  });

  void it("answers one authorizationData object (no proxyEndpoint), minted for the caller's key", async () => {
    ecr.resetCounts();
    const out = await publicClient(CAROL).send(new GetPublicAuthorizationTokenCommand({}));
    const data = out.authorizationData;
    assert.ok(data && !Array.isArray(data));
    assert.deepEqual(Object.keys(data).sort(), ["authorizationToken", "expiresAt"]);
    const last = ecr.lastToken(CAROL.accessKeyId, "ecr-public") ?? assert.fail("minted");
    assert.equal(Buffer.from(data.authorizationToken ?? "", "base64").toString(), `AWS:${last.password}`);
    assert.match(last.password, /^ecr-public-333333333333-[0-9a-f]{8}-\d{6}-[0-9a-f]{12}$/);
    assert.deepEqual([last.service, last.region, last.proxyEndpoint], ["ecr-public", "us-east-1", undefined]);
    assert.equal(data.expiresAt?.getTime(), last.expiresAt?.getTime());
    assert.deepEqual(
      ecr.log().map((c) => [c.service, c.scopeService, c.region, c.target, c.outcome]),
      [["ecr-public", "ecr-public", "us-east-1", "SpencerFrontendService.GetAuthorizationToken", "ok"]],
    );
  });

  void it("counts calls per key and per API", async () => {
    ecr.resetCounts();
    await publicClient(ALICE).send(new GetPublicAuthorizationTokenCommand({}));
    await publicClient(ALICE).send(new GetPublicAuthorizationTokenCommand({}));
    const ecrClient = new ECRClient({
      endpoint: ecr.endpoint,
      region: "eu-west-1",
      credentials: creds(ALICE),
    });
    try {
      await ecrClient.send(new GetAuthorizationTokenCommand({}));
    } finally {
      ecrClient.destroy();
    }
    assert.equal(ecr.calls(ALICE.accessKeyId), 3);
    assert.equal(ecr.calls(ALICE.accessKeyId, "ecr-public"), 2);
    assert.equal(ecr.calls(ALICE.accessKeyId, "ecr"), 1);
    assert.equal(ecr.calls(BOB.accessKeyId, "ecr-public"), 0);
    assert.deepEqual(ecr.outcomes(ALICE.accessKeyId, "ecr-public"), { ok: 2 });
    assert.equal(ecr.lastToken(ALICE.accessKeyId)?.service, "ecr", "the last of either API");
    assert.equal(ecr.lastToken(ALICE.accessKeyId, "ecr-public")?.service, "ecr-public");
    ecr.resetCounts();
    assert.equal(ecr.calls(ALICE.accessKeyId, "ecr-public"), 0);
  });

  void it("refuses a client that signs for another region than us-east-1", async () => {
    ecr.resetCounts();
    await assert.rejects(
      publicClient(ALICE, "eu-west-1").send(new GetPublicAuthorizationTokenCommand({})),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.equal(e.name, "InvalidSignatureException");
        assert.match(e.message, /valid region/);
        return true;
      },
    );
    assert.equal(ecr.calls(ALICE.accessKeyId, "ecr-public"), 1, "counted: AWS meters refused calls too");
  });

  void it("refuses ECR Public's call signed for service ecr, and ECR's signed for ecr-public", async () => {
    const url = new URL(ecr.endpoint);
    const cases: [string, string, string, RegExp][] = [
      [
        "ECR Public's call, scope ecr",
        GET_PUBLIC_AUTHORIZATION_TOKEN_TARGET,
        "ecr",
        /correct service: 'ecr-public'/,
      ],
      [
        "ECR's call, scope ecr-public",
        GET_AUTHORIZATION_TOKEN_TARGET,
        "ecr-public",
        /correct service: 'ecr'/,
      ],
    ];
    for (const [what, target, service, message] of cases) {
      const signer = new SignatureV4({
        service,
        region: service === "ecr" ? "eu-west-1" : "us-east-1",
        credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
        sha256: Sha256,
      });
      const req = await signer.sign({
        method: "POST",
        protocol: "http:",
        hostname: url.hostname,
        path: "/",
        headers: { host: url.host, "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
        body: "{}",
      });
      const res = await rawPost(ecr.endpoint, "/", req.headers, "{}");
      assert.equal(res.status, 400, what);
      assert.equal(res.body.__type, "InvalidSignatureException", what);
      assert.match(res.body.message ?? "", message, what);
    }
  });

  void it("refuses an unknown key and an operation it does not implement, as ECR does", async () => {
    const stranger: EcrKey = { ...ALICE, accessKeyId: "AKIASTRANGER00000009" };
    await assert.rejects(publicClient(stranger).send(new GetPublicAuthorizationTokenCommand({})), {
      name: "UnrecognizedClientException",
    });
    await assert.rejects(publicClient(ALICE).send(new DescribeRegistriesCommand({})), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /DescribeRegistries is not implemented/);
      return true;
    });
  });

  void it("applies injected failures to ECR Public's calls too", async () => {
    ecr.failNext(1, "throttle");
    await assert.rejects(publicClient(BOB).send(new GetPublicAuthorizationTokenCommand({})), {
      name: "ThrottlingException",
    });
    const ok = await publicClient(BOB).send(new GetPublicAuthorizationTokenCommand({}));
    assert.ok(ok.authorizationData?.authorizationToken);
  });
});
