import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import {
  credentialSecretName,
  CredentialsError,
  parseCredentials,
  registryHostOfCredentialSecret,
} from "../../../src/ecr/credentials.ts";
import { credentialsVersion } from "../../../src/ecr/credentials-version.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import { registryHostForms } from "../../support/registry-host-forms.ts";

const registry = parseRegistryHost("123456789012.dkr.ecr.eu-west-1.amazonaws.com") ?? assert.fail("host");
const b64 = (s: string) => Buffer.from(s).toString("base64");
const secret = (data: Record<string, string>): V1Secret => ({
  metadata: { name: "eatr-aws-credentials-123456789012.dkr.ecr.eu-west-1.amazonaws.com", namespace: "ci-cd" },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe("credential secrets", () => {
  it("names the secret <prefix>-<host> and reads the host back", () => {
    const name = credentialSecretName("eatr-aws-credentials", registry.host);
    assert.equal(name, "eatr-aws-credentials-123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    assert.equal(registryHostOfCredentialSecret("eatr-aws-credentials", name), registry.host);
    assert.equal(registryHostOfCredentialSecret("eatr-aws-credentials", "other-secret"), undefined);
    assert.equal(registryHostOfCredentialSecret("eatr-aws-credentials", "eatr-aws-credentials-"), undefined);
  });

  it("reads keys, defaulting the region to the registry's", () => {
    assert.deepEqual(
      parseCredentials(
        secret({ aws_access_key_id: "AKIAEXAMPLE", aws_secret_access_key: "s3cr3t" }),
        registry,
      ),
      {
        accessKeyId: "AKIAEXAMPLE",
        secretAccessKey: "s3cr3t",
        region: "eu-west-1",
      },
    );
  });

  describe("ECR Public (public.ecr.aws)", () => {
    const publicRegistry = parseRegistryHost("public.ecr.aws") ?? assert.fail("host");

    it("names its secret <prefix>-public.ecr.aws and reads the host back", () => {
      const name = credentialSecretName("eatr-aws-credentials", publicRegistry.host);
      assert.equal(name, "eatr-aws-credentials-public.ecr.aws");
      assert.equal(registryHostOfCredentialSecret("eatr-aws-credentials", name), "public.ecr.aws");
    });

    it("reads keys and roles as for a private registry, always in us-east-1", () => {
      assert.deepEqual(
        parseCredentials(
          secret({
            aws_access_key_id: "AKIAEXAMPLE",
            aws_secret_access_key: "s3cr3t",
            aws_region: "eu-west-1",
          }),
          publicRegistry,
        ),
        {
          accessKeyId: "AKIAEXAMPLE",
          secretAccessKey: "s3cr3t",
          region: "us-east-1",
          configuredRegion: "eu-west-1",
        },
      );
      assert.deepEqual(
        parseCredentials(
          secret({ aws_role_arn: "arn:aws:iam::210987654321:role/pull", aws_web_identity: "true" }),
          publicRegistry,
        ),
        {
          source: { kind: "webIdentity", roleArn: "arn:aws:iam::210987654321:role/pull" },
          region: "us-east-1",
        },
      );
    });

    it("says ECR Public is called in us-east-1 when aws_region is not a region", () => {
      assert.throws(
        () =>
          parseCredentials(
            secret({
              aws_access_key_id: "AKIAEXAMPLE",
              aws_secret_access_key: "s3cr3t",
              aws_region: "Virginia",
            }),
            publicRegistry,
          ),
        /remove it \(ECR Public is always called in the registry's region, us-east-1\)/,
      );
    });
  });

  it("takes aws_session_token when present", () => {
    const got = parseCredentials(
      secret({ aws_access_key_id: "AKIA", aws_secret_access_key: "s", aws_session_token: "tok" }),
      registry,
    );
    assert.equal(got.sessionToken, "tok");
  });

  describe("every registry host form", () => {
    for (const form of registryHostForms()) {
      const host = parseRegistryHost(form.host) ?? assert.fail(form.host);
      const named = (data: Record<string, string>): V1Secret => ({
        metadata: { name: credentialSecretName("eatr-aws-credentials", host.host), namespace: "ci-cd" },
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
      });
      const keys = { aws_access_key_id: "AKIA", aws_secret_access_key: "s" };
      it(`${form.form}: region ${form.region}, without or with a matching aws_region`, () => {
        const want = { accessKeyId: "AKIA", secretAccessKey: "s", region: form.region };
        assert.deepEqual(parseCredentials(named(keys), host), want);
        assert.deepEqual(parseCredentials(named({ ...keys, aws_region: form.region }), host), want);
      });
      it(`${form.form}: ECR is still called in ${form.region} when aws_region says otherwise`, () => {
        const elsewhere = form.region === "eu-central-1" ? "eu-west-1" : "eu-central-1";
        assert.deepEqual(parseCredentials(named({ ...keys, aws_region: elsewhere }), host), {
          accessKeyId: "AKIA",
          secretAccessKey: "s",
          region: form.region,
          configuredRegion: elsewhere,
        });
      });
    }
  });

  it("accepts an aws_region in any region grammar, e.g. the EU sovereign cloud's, as a mismatch", () => {
    const got = parseCredentials(
      secret({ aws_access_key_id: "AKIA", aws_secret_access_key: "s", aws_region: "eusc-de-east-1" }),
      registry,
    );
    assert.equal(got.region, "eu-west-1");
    assert.equal(got.configuredRegion, "eusc-de-east-1");
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ["missing access key", { aws_secret_access_key: "s" }, /has no key "aws_access_key_id"/],
    ["missing secret key", { aws_access_key_id: "AKIA" }, /has no key "aws_secret_access_key"/],
    [
      "whitespace inside",
      { aws_access_key_id: "AK IA", aws_secret_access_key: "s" },
      /"aws_access_key_id" is empty or contains whitespace/,
    ],
    [
      "bad region",
      { aws_access_key_id: "AKIA", aws_secret_access_key: "s", aws_region: "Ireland" },
      /"aws_region" = "Ireland" is not an AWS region like eu-west-1; remove it \(ECR is always called in the registry's region, eu-west-1\)/,
    ],
  ];
  for (const [name, data, message] of bad) {
    it(`rejects a secret with ${name}, naming the secret and never a value`, () => {
      assert.throws(
        () => parseCredentials(secret(data), registry),
        (err: unknown) => {
          assert.ok(err instanceof CredentialsError);
          assert.match(err.message, message);
          assert.match(err.message, /ci-cd\/eatr-aws-credentials-123456789012/);
          assert.doesNotMatch(err.message, /\bs\b"|s3cr3t/);
          return true;
        },
      );
    });
  }

  it("fingerprints data only", () => {
    const a = secret({ aws_access_key_id: "AKIA", aws_secret_access_key: "s" });
    const relabelled = { ...a, metadata: { ...a.metadata, labels: { x: "y" }, resourceVersion: "99" } };
    const rotated = secret({ aws_access_key_id: "AKIA", aws_secret_access_key: "s2" });
    assert.equal(credentialsVersion(a), credentialsVersion(relabelled));
    assert.notEqual(credentialsVersion(a), credentialsVersion(rotated));
    assert.match(credentialsVersion(a), /^[0-9a-f]{16}$/);
  });
});
