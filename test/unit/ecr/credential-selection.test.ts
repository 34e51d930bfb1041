import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { CredentialsError, parseCredentials } from "../../../src/ecr/credentials.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";

const registry = parseRegistryHost("123456789012.dkr.ecr.eu-west-1.amazonaws.com") ?? assert.fail("host");
const b64 = (s: string) => Buffer.from(s).toString("base64");
const secret = (data: Record<string, string>): V1Secret => ({
  metadata: { name: "eatr-aws-credentials-123456789012.dkr.ecr.eu-west-1.amazonaws.com", namespace: "ci-cd" },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});
const KEYS = { aws_access_key_id: "AKIAEXAMPLE", aws_secret_access_key: "s3cr3tValue" };
const ROLE = "arn:aws:iam::210987654321:role/eatr-pull";

void describe("credential source selection from the credential secret", () => {
  const cases: [string, Record<string, string>, unknown][] = [
    ["keys only: source keys (no source field)", KEYS, { ...keyFields(), region: "eu-west-1" }],
    [
      "keys and a role ARN: assumeRole on top of the keys",
      { ...KEYS, aws_role_arn: ROLE, aws_role_external_id: "ext-42", aws_role_session_name: "eatr-ci" },
      {
        ...keyFields(),
        source: { kind: "assumeRole", roleArn: ROLE, externalId: "ext-42", sessionName: "eatr-ci" },
        region: "eu-west-1",
      },
    ],
    [
      "a role ARN and no keys: assumeRole on top of the controller's own identity",
      { aws_role_arn: ROLE, aws_role_duration_seconds: "3600" },
      { source: { kind: "assumeRole", roleArn: ROLE, durationSeconds: 3600 }, region: "eu-west-1" },
    ],
    [
      'aws_web_identity "true" and a role ARN: webIdentity',
      { aws_web_identity: "true", aws_role_arn: ROLE, aws_role_session_name: "eatr" },
      { source: { kind: "webIdentity", roleArn: ROLE, sessionName: "eatr" }, region: "eu-west-1" },
    ],
    [
      'aws_web_identity "false" is plain assumeRole',
      { ...KEYS, aws_web_identity: "false", aws_role_arn: ROLE },
      { ...keyFields(), source: { kind: "assumeRole", roleArn: ROLE }, region: "eu-west-1" },
    ],
    [
      "a role in another partition",
      { aws_role_arn: "arn:aws-cn:iam::210987654321:role/path/eatr" },
      {
        source: { kind: "assumeRole", roleArn: "arn:aws-cn:iam::210987654321:role/path/eatr" },
        region: "eu-west-1",
      },
    ],
  ];
  for (const [name, data, want] of cases) {
    void it(name, () => {
      assert.deepEqual(parseCredentials(secret(data), registry), want);
    });
  }

  const bad: [string, Record<string, string>, RegExp][] = [
    [
      "nothing at all",
      {},
      /\(source keys\) has no key "aws_access_key_id"; add it .*, or set "aws_role_arn" to assume a role without keys/,
    ],
    [
      "a role with half the keys",
      { aws_role_arn: ROLE, aws_access_key_id: "AKIAEXAMPLE" },
      /\(source assumeRole\) has no key "aws_secret_access_key"/,
    ],
    [
      "a role ARN that is not one",
      { ...KEYS, aws_role_arn: "arn:aws:iam::12:user/x" },
      /\(source assumeRole\): "aws_role_arn" is not an IAM role ARN/,
    ],
    [
      "a bad external ID",
      { ...KEYS, aws_role_arn: ROLE, aws_role_external_id: "a b" },
      /"aws_role_external_id" is empty or contains whitespace/,
    ],
    [
      "an external ID with a forbidden character",
      { ...KEYS, aws_role_arn: ROLE, aws_role_external_id: "ext#1" },
      /\(source assumeRole\): "aws_role_external_id" must be 2 to 1224 characters/,
    ],
    [
      "a bad session name",
      { aws_role_arn: ROLE, aws_role_session_name: "x" },
      /"aws_role_session_name" must be 2 to 64 characters/,
    ],
    [
      "a duration out of range",
      { aws_role_arn: ROLE, aws_role_duration_seconds: "60" },
      /"aws_role_duration_seconds" must be a whole number of seconds from 900 to 43200/,
    ],
    [
      "an external ID without a role",
      { ...KEYS, aws_role_external_id: "ext-42" },
      /\(source assumeRole\): "aws_role_external_id" is set but "aws_role_arn" is not; add the role ARN/,
    ],
    [
      "web identity without a role",
      { aws_web_identity: "true" },
      /\(source webIdentity\): "aws_web_identity" is "true" but there is no key "aws_role_arn"/,
    ],
    [
      "web identity with keys",
      { ...KEYS, aws_web_identity: "true", aws_role_arn: ROLE },
      /\(source webIdentity\): "aws_web_identity" is "true", so the keys are not used; remove/,
    ],
    [
      "web identity with an external ID",
      { aws_web_identity: "true", aws_role_arn: ROLE, aws_role_external_id: "ext-42" },
      /\(source webIdentity\): "aws_role_external_id" is not used with web identity/,
    ],
    [
      "aws_web_identity neither true nor false",
      { aws_web_identity: "yes", aws_role_arn: ROLE },
      /"aws_web_identity" must be "true" or "false"/,
    ],
  ];
  for (const [name, data, message] of bad) {
    void it(`rejects ${name}, naming the secret, the source and the key, never a value`, () => {
      assert.throws(
        () => parseCredentials(secret(data), registry),
        (err: unknown) => {
          assert.ok(err instanceof CredentialsError);
          assert.match(err.message, message);
          assert.match(err.message, /credential secret ci-cd\/eatr-aws-credentials-123456789012/);
          for (const value of Object.values(data).filter((v) => v.length > 5 && v !== "true"))
            assert.ok(!err.message.includes(value), `no value in: ${err.message}`);
          return true;
        },
      );
    });
  }
});

function keyFields() {
  return { accessKeyId: KEYS.aws_access_key_id, secretAccessKey: KEYS.aws_secret_access_key };
}
