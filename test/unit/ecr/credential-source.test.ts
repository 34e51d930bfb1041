import assert from "node:assert/strict";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import {
  CredentialSources,
  StsError,
  stsResult,
  type CredentialSourcesObserver,
} from "../../../src/ecr/credential-source.ts";
import type { AwsCredentials } from "../../../src/ecr/credentials.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import { CredentialSourceError } from "../../../src/ecr/sts.ts";
import { EcrTokenProvider } from "../../../src/ecr/token-provider.ts";
import { startEcrServer, type EcrServer } from "../../env/ecr-server.ts";
import { startStsServer, type StsServer } from "../../env/sts-server.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const REGISTRY = parseRegistryHost("111111111111.dkr.ecr.eu-west-1.amazonaws.com") ?? assert.fail();
const OTHER = parseRegistryHost("333333333333.dkr.ecr.eu-west-1.amazonaws.com") ?? assert.fail();
const CALLER = {
  accessKeyId: "AKIACALLER0000000001",
  secretAccessKey: "caller/secret+0123456789abcdefghijklmn",
  accountId: "111111111111",
};
const ROLE = "arn:aws:iam::222222222222:role/eatr-pull";
const WEB_ROLE = "arn:aws:iam::222222222222:role/eatr-web";
const ISSUER = "https://issuer.example.test";
const SUB = "system:serviceaccount:eatr:eatr";

const keys = {
  accessKeyId: CALLER.accessKeyId,
  secretAccessKey: CALLER.secretAccessKey,
  region: "eu-west-1",
};
const assumeRole = (extra: Partial<{ externalId: string }> = {}): AwsCredentials => ({
  ...keys,
  source: { kind: "assumeRole", roleArn: ROLE, ...extra },
});
const webIdentity: AwsCredentials = {
  region: "eu-west-1",
  source: { kind: "webIdentity", roleArn: WEB_ROLE },
};

let ecr: EcrServer;
let sts: StsServer;
let signingKey: KeyObject;
let dir: string;
let tokenFile: string;

function jwt(claims: Record<string, unknown>, key: KeyObject = signingKey): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const input = `${enc({ alg: "RS256", kid: "k1" })}.${enc(claims)}`;
  return `${input}.${sign("RSA-SHA256", Buffer.from(input), key).toString("base64url")}`;
}
const goodClaims = () => ({
  iss: ISSUER,
  sub: SUB,
  aud: ["sts.amazonaws.com"],
  exp: Math.floor(Date.now() / 1000) + 3600,
  nbf: Math.floor(Date.now() / 1000) - 10,
});

function sources(clock = new FakeClock(Date.now()), observer?: CredentialSourcesObserver, file = tokenFile) {
  return new CredentialSources({
    clock,
    sts: { endpoint: sts.endpoint, timeoutMs: 5000, webIdentityTokenFile: file },
    ...(observer ? { observer } : {}),
  });
}

function counting(): CredentialSourcesObserver & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    stsRequest: (registry, result) => {
      seen.push(`${registry}:${result}`);
    },
  };
}

before(async () => {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  signingKey = pair.privateKey;
  const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" };
  ecr = await startEcrServer({ keys: [] });
  sts = await startStsServer({
    ecr,
    callers: [CALLER],
    roles: [
      { arn: ROLE, trustedCallers: [CALLER.accessKeyId] },
      {
        arn: "arn:aws:iam::222222222222:role/with-external-id",
        trustedCallers: [CALLER.accessKeyId],
        externalId: "ext-1234",
      },
      { arn: WEB_ROLE, webIdentitySub: SUB },
    ],
    oidc: { issuer: ISSUER, jwks: () => Promise.resolve({ keys: [jwk] }) },
  });
  dir = mkdtempSync(join(tmpdir(), "eatr-sts-"));
  tokenFile = join(dir, "token");
});
after(async () => {
  await sts.close();
  await ecr.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  sts.resetCounts();
  writeFileSync(tokenFile, jwt(goodClaims()));
});

void describe("CredentialSources against the local STS and ECR endpoints", () => {
  void it("keys: the static keys as they are, no STS call", async () => {
    const got = await sources().resolve(REGISTRY, keys);
    assert.deepEqual(got, { accessKeyId: CALLER.accessKeyId, secretAccessKey: CALLER.secretAccessKey });
    assert.equal(sts.calls(), 0);
  });

  void it("assumeRole on top of the keys: ECR accepts the role's credentials, for the role's account", async () => {
    const observer = counting();
    const provider = new EcrTokenProvider({
      endpoint: ecr.endpoint,
      credentials: sources(undefined, observer),
    });
    const token = await provider.getAuthorizationToken({ registry: REGISTRY, credentials: assumeRole() });
    const password = Buffer.from(token.authorizationToken, "base64").toString().slice(4);
    const minted = ecr.findToken(password) ?? assert.fail("token minted by the local ECR");
    assert.match(minted.accessKeyId, /^ASIA/);
    assert.equal(minted.accountId, "222222222222");
    assert.equal(sts.calls(ROLE), 1);
    assert.deepEqual(observer.seen, [`${REGISTRY.host}:success`]);
  });

  void it("caches temporary credentials until shortly before expiry, one STS call in flight", async () => {
    const clock = new FakeClock(Date.now());
    const s = sources(clock);
    const all = await Promise.all([1, 2, 3].map(() => s.resolve(REGISTRY, assumeRole())));
    assert.equal(sts.calls(ROLE), 1, "three concurrent asks, one STS call");
    assert.equal(new Set(all.map((c) => c.accessKeyId)).size, 1);
    clock.advance(50 * 60_000);
    await s.resolve(REGISTRY, assumeRole());
    assert.equal(sts.calls(ROLE), 1, "50 min into a 1 h session: still cached");
    clock.advance(6 * 60_000);
    const renewed = await s.resolve(REGISTRY, assumeRole());
    assert.equal(sts.calls(ROLE), 2, "less than 5 min left: renewed");
    assert.notEqual(renewed.accessKeyId, all[0]?.accessKeyId);
  });

  void it("a changed source (another external ID) starts afresh; registries are cached apart", async () => {
    const s = sources();
    const arn = "arn:aws:iam::222222222222:role/with-external-id";
    const withId = (externalId: string): AwsCredentials => ({
      ...keys,
      source: { kind: "assumeRole", roleArn: arn, externalId },
    });
    await s.resolve(REGISTRY, withId("ext-1234"));
    await s.resolve(OTHER, assumeRole());
    await assert.rejects(s.resolve(REGISTRY, withId("wrong-id")), (err: unknown) => {
      assert.ok(err instanceof StsError);
      assert.equal(err.code, "AccessDenied");
      return true;
    });
    await s.resolve(OTHER, assumeRole());
    assert.equal(sts.calls(ROLE), 1, "the other registry kept its credentials");
  });

  const refusals: [string, () => AwsCredentials, string, RegExp][] = [
    [
      "an unknown access key",
      () => ({ ...assumeRole(), accessKeyId: "AKIAUNKNOWN000000000" }),
      "InvalidClientTokenId",
      /STS AssumeRole for registry 111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com \(source assumeRole\) failed: InvalidClientTokenId/,
    ],
    [
      "a wrong secret",
      () => ({ ...assumeRole(), secretAccessKey: "wrong/secret+0123456789abcdefghijklmno" }),
      "SignatureDoesNotMatch",
      /\(source assumeRole\) failed: SignatureDoesNotMatch/,
    ],
    [
      "a role that does not trust the caller",
      () => ({ ...keys, source: { kind: "assumeRole", roleArn: "arn:aws:iam::222222222222:role/nobody" } }),
      "AccessDenied",
      /\(source assumeRole\) failed: AccessDenied: User: .* is not authorized to perform: sts:AssumeRole/,
    ],
  ];
  for (const [what, creds, code, message] of refusals) {
    void it(`AssumeRole with ${what}: StsError ${code}, counted, no secret in the message`, async () => {
      const observer = counting();
      await assert.rejects(sources(undefined, observer).resolve(REGISTRY, creds()), (err: unknown) => {
        assert.ok(err instanceof StsError, String(err));
        assert.equal(err.code, code);
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /caller\/secret|wrong\/secret/);
        return true;
      });
      assert.deepEqual(observer.seen, [`${REGISTRY.host}:invalid_credentials`]);
    });
  }

  void it("webIdentity: exchanges the token file's JWT; the next STS call reads the file again", async () => {
    const clock = new FakeClock(Date.now());
    const s = sources(clock);
    const provider = new EcrTokenProvider({ endpoint: ecr.endpoint, credentials: s });
    await provider.getAuthorizationToken({ registry: REGISTRY, credentials: webIdentity });
    assert.equal(sts.calls(WEB_ROLE), 1);
    // The kubelet rotates the token: another one (another jti) lands in the same file.
    writeFileSync(tokenFile, jwt({ ...goodClaims(), jti: "second" }));
    clock.advance(58 * 60_000);
    await provider.getAuthorizationToken({ registry: REGISTRY, credentials: webIdentity });
    assert.equal(sts.calls(WEB_ROLE), 2);
    assert.deepEqual(
      sts.log().map((c) => c.outcome),
      ["ok", "ok"],
    );
  });

  const tokens: [string, () => string, string, RegExp][] = [
    [
      "a wrong audience",
      () => jwt({ ...goodClaims(), aud: ["vault"] }),
      "InvalidIdentityTokenException",
      /Incorrect token audience/,
    ],
    [
      "a wrong issuer",
      () => jwt({ ...goodClaims(), iss: "https://evil.test" }),
      "InvalidIdentityTokenException",
      /No OpenIDConnect provider/,
    ],
    [
      "a sub the role does not trust",
      () => jwt({ ...goodClaims(), sub: "system:serviceaccount:x:y" }),
      "AccessDenied",
      /AssumeRoleWithWebIdentity/,
    ],
    [
      "an expired token",
      () => jwt({ ...goodClaims(), exp: Math.floor(Date.now() / 1000) - 60 }),
      "ExpiredTokenException",
      /Token expired/,
    ],
    [
      "a token signed by another key",
      () => jwt(goodClaims(), generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey),
      "InvalidIdentityTokenException",
      /signature could not be verified/,
    ],
  ];
  for (const [what, token, code, message] of tokens) {
    void it(`webIdentity with ${what}: StsError ${code} naming the registry and the source`, async () => {
      writeFileSync(tokenFile, token());
      await assert.rejects(sources().resolve(REGISTRY, webIdentity), (err: unknown) => {
        assert.ok(err instanceof StsError, String(err));
        assert.equal(err.code, code);
        assert.match(
          err.message,
          /STS AssumeRoleWithWebIdentity for registry 111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com \(source webIdentity\) failed/,
        );
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /eyJ/, "the token is never in the message");
        return true;
      });
    });
  }

  void it("webIdentity without a token file: CredentialSourceError naming the file, no STS call", async () => {
    await assert.rejects(
      sources(undefined, undefined, join(dir, "absent")).resolve(REGISTRY, webIdentity),
      (err: unknown) => {
        assert.ok(err instanceof CredentialSourceError);
        assert.match(
          err.message,
          /registry 111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com \(source webIdentity\): cannot read the web identity token file .*absent \(ENOENT\)/,
        );
        return true;
      },
    );
    await assert.rejects(
      sources(undefined, undefined, "").resolve(REGISTRY, webIdentity),
      /no web identity token file is configured; set -web-identity-token-file/,
    );
    assert.equal(sts.calls(), 0);
  });

  void it("a throttled renewal still serves credentials that have not expired; throttling is counted", async () => {
    const clock = new FakeClock(Date.now());
    const observer = counting();
    const s = sources(clock, observer);
    const first = await s.resolve(REGISTRY, assumeRole());
    clock.advance(57 * 60_000);
    sts.failNext(1, "throttle");
    const served = await s.resolve(REGISTRY, assumeRole());
    assert.equal(served.accessKeyId, first.accessKeyId);
    assert.deepEqual(observer.seen, [`${REGISTRY.host}:success`, `${REGISTRY.host}:throttled`]);
    clock.advance(4 * 60_000);
    sts.failNext(1, "throttle");
    await assert.rejects(
      s.resolve(REGISTRY, assumeRole()),
      (err: unknown) => err instanceof StsError && err.code === "Throttling",
    );
  });
});

void describe("stsResult", () => {
  void it("sorts AWS's codes", () => {
    const e = (name: string) => Object.assign(new Error("x"), { name });
    assert.equal(stsResult(e("Throttling")), "throttled");
    assert.equal(stsResult(e("InvalidIdentityTokenException")), "invalid_credentials");
    assert.equal(stsResult(e("ExpiredTokenException")), "invalid_credentials");
    assert.equal(stsResult(e("AccessDenied")), "invalid_credentials");
    assert.equal(stsResult(e("TimeoutError")), "error");
  });
});
