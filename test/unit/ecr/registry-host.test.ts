import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ECR_PUBLIC_REGION,
  PUBLIC_REGISTRY_HOST,
  isAwsRegion,
  parseRegistryHost,
  registryUrl,
  tokenApiName,
} from "../../../src/ecr/registry-host.ts";
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

describe("parseRegistryHost: ECR Public", () => {
  it("parses public.ecr.aws as a public registry: no account, us-east-1, commercial partition", () => {
    const got = parseRegistryHost("public.ecr.aws");
    assert.deepEqual(
      { ...got },
      {
        kind: "public",
        host: "public.ecr.aws",
        region: "us-east-1",
        partition: "aws",
        fips: false,
        dualStack: false,
      },
    );
    assert.equal(got?.accountId, undefined);
    assert.equal(PUBLIC_REGISTRY_HOST, "public.ecr.aws");
    assert.equal(ECR_PUBLIC_REGION, "us-east-1");
  });

  it("lower-cases it, as DNS does not care (a label key may be written in capitals)", () => {
    for (const written of ["PUBLIC.ECR.AWS", "Public.Ecr.Aws"]) {
      assert.equal(parseRegistryHost(written)?.host, "public.ecr.aws", written);
      assert.equal(parseRegistryHost(written)?.kind, "public", written);
    }
  });

  it("says private registry hosts are private, with their account", () => {
    const got = parseRegistryHost("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    assert.equal(got?.kind, "private");
    assert.equal(got.accountId, "123456789012");
  });

  const lookAlikes = [
    "public.ecr.aws.evil.com",
    "x.public.ecr.aws",
    ".public.ecr.aws",
    "public.ecr.aws.",
    " public.ecr.aws",
    "public.ecr.aws ",
    "public.ecr.aws\n",
    "https://public.ecr.aws",
    "public.ecr.aws/nginx",
    "public.ecr.aws:443",
    "public-ecr.aws",
    "publicecr.aws",
    "public.ecr.aws.cn",
    "public.ecr.amazonaws.com",
    "ecr.aws",
    "123456789012.public.ecr.aws",
    "public.ecr.aws\u0000",
    "publİc.ecr.aws", // U+0130 lower-cases to "i" plus a combining dot, not to "i"
  ];
  for (const host of lookAlikes) {
    it(`refuses the look-alike ${JSON.stringify(host)}`, () => {
      assert.equal(parseRegistryHost(host), undefined);
    });
  }

  it("writes the auths key as https://public.ecr.aws and names the API ECR Public", () => {
    const registry = parseRegistryHost("public.ecr.aws") ?? assert.fail();
    assert.equal(registryUrl(registry), "https://public.ecr.aws");
    assert.equal(tokenApiName("public.ecr.aws"), "ECR Public");
    assert.equal(tokenApiName("123456789012.dkr.ecr.eu-west-1.amazonaws.com"), "ECR");
  });
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
