import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isAwsRegion, parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import { registryHostForms } from "../../support/registry-host-forms.ts";

describe("parseRegistryHost", () => {
  for (const { form, host, ...want } of registryHostForms()) {
    it(`parses ${host} (${form})`, () => {
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
    "123456789012.dkr.ecr.ireland.amazonaws.com", // not a region
    "123456789012.dkr.ecr.eu-west.amazonaws.com",
    "123456789012.dkr.ecr.eu_west_1.amazonaws.com",
  ];
  for (const host of invalid) {
    it(`rejects ${JSON.stringify(host)}`, () => {
      assert.equal(parseRegistryHost(host), undefined);
    });
  }
});

describe("isAwsRegion", () => {
  for (const region of new Set(registryHostForms().map((f) => f.region))) {
    it(`accepts ${region}`, () => {
      assert.equal(isAwsRegion(region), true);
    });
  }
  for (const region of [
    "",
    "Ireland",
    "eu-west",
    "EU-WEST-1",
    "eu-west-1 ",
    "e-west-1",
    "europe-west-1",
    "eu--1",
  ]) {
    it(`rejects ${JSON.stringify(region)}`, () => {
      assert.equal(isAwsRegion(region), false);
    });
  }
});
