import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";

describe("parseRegistryHost", () => {
  const valid: [
    string,
    { accountId: string; region: string; partition: string; fips: boolean; dualStack: boolean },
  ][] = [
    [
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
      { accountId: "123456789012", region: "eu-west-1", partition: "aws", fips: false, dualStack: false },
    ],
    [
      "123456789012.dkr.ecr.us-east-1.amazonaws.com",
      { accountId: "123456789012", region: "us-east-1", partition: "aws", fips: false, dualStack: false },
    ],
    [
      "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
      { accountId: "123456789012", region: "us-east-1", partition: "aws", fips: true, dualStack: false },
    ],
    [
      "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
      { accountId: "123456789012", region: "cn-north-1", partition: "aws-cn", fips: false, dualStack: false },
    ],
    [
      "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
      {
        accountId: "123456789012",
        region: "us-gov-west-1",
        partition: "aws-us-gov",
        fips: false,
        dualStack: false,
      },
    ],
    [
      "123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
      {
        accountId: "123456789012",
        region: "us-gov-east-1",
        partition: "aws-us-gov",
        fips: true,
        dualStack: false,
      },
    ],
    [
      "123456789012.dkr-ecr.us-west-2.on.aws",
      { accountId: "123456789012", region: "us-west-2", partition: "aws", fips: false, dualStack: true },
    ],
    [
      "123456789012.dkr-ecr-fips.us-gov-west-1.on.aws",
      {
        accountId: "123456789012",
        region: "us-gov-west-1",
        partition: "aws-us-gov",
        fips: true,
        dualStack: true,
      },
    ],
    [
      "123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn",
      {
        accountId: "123456789012",
        region: "cn-northwest-1",
        partition: "aws-cn",
        fips: false,
        dualStack: true,
      },
    ],
    [
      "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
      {
        accountId: "123456789012",
        region: "us-iso-east-1",
        partition: "aws-iso",
        fips: false,
        dualStack: false,
      },
    ],
    [
      "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
      {
        accountId: "123456789012",
        region: "us-isob-east-1",
        partition: "aws-iso-b",
        fips: false,
        dualStack: false,
      },
    ],
    [
      "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
      {
        accountId: "123456789012",
        region: "eu-isoe-west-1",
        partition: "aws-iso-e",
        fips: false,
        dualStack: false,
      },
    ],
    [
      "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
      {
        accountId: "123456789012",
        region: "us-isof-south-1",
        partition: "aws-iso-f",
        fips: false,
        dualStack: false,
      },
    ],
    [
      "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
      {
        accountId: "123456789012",
        region: "eusc-de-east-1",
        partition: "aws-eusc",
        fips: false,
        dualStack: false,
      },
    ],
  ];
  for (const [host, want] of valid) {
    it(`parses ${host}`, () => {
      const got = parseRegistryHost(host);
      assert.ok(got, `${host} should parse`);
      assert.deepEqual({ ...got }, { host, ...want });
    });
  }

  it("lower-cases the host", () => {
    assert.equal(
      parseRegistryHost("123456789012.DKR.ECR.EU-WEST-1.AMAZONAWS.COM")?.host,
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    );
  });

  const invalid = [
    "",
    "true",
    "app.kubernetes.io/name",
    "12345678901.dkr.ecr.eu-west-1.amazonaws.com", // 11 digits
    "1234567890123.dkr.ecr.eu-west-1.amazonaws.com", // 13 digits
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.com",
    "evil.123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "123456789012.dkr.ecr..amazonaws.com",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.org",
    "123456789012.ecr.eu-west-1.amazonaws.com",
    "123456789012.dkr-ecr.eu-west-1.amazonaws.com", // dashed form is dual-stack only
    "123456789012.dkr.ecr.us-west-2.on.aws", // dual-stack uses the dashed form
    "docker.io",
    "ghcr.io",
    "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo",
    "abcdefghijkl.dkr.ecr.eu-west-1.amazonaws.com",
  ];
  for (const host of invalid) {
    it(`rejects ${JSON.stringify(host)}`, () => {
      assert.equal(parseRegistryHost(host), undefined);
    });
  }
});
