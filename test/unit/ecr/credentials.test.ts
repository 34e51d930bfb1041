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

  it("takes aws_region and aws_session_token when present", () => {
    const got = parseCredentials(
      secret({
        aws_access_key_id: "AKIA",
        aws_secret_access_key: "s",
        aws_session_token: "tok",
        aws_region: "us-east-2",
      }),
      registry,
    );
    assert.equal(got.region, "us-east-2");
    assert.equal(got.sessionToken, "tok");
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
      /"aws_region" = "Ireland" is not an AWS region/,
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
