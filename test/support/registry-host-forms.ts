/**
 * Every form of ECR registry host eatr accepts, one example each, for table tests: parsing
 * (test/unit/ecr/registry-host.test.ts), credential parsing (test/unit/ecr/credentials.test.ts) and the
 * controller end to end (test/integration/host-forms.test.ts).
 */
import type { Partition } from "../../src/ecr/registry-host.ts";

export interface RegistryHostForm {
  /** What the form is, e.g. "FIPS (GovCloud)". */
  readonly form: string;
  /** Every form here is a private registry's (ECR Public's one host is tested on its own). */
  readonly kind: "private";
  readonly host: string;
  readonly accountId: string;
  readonly region: string;
  readonly partition: Partition;
  readonly fips: boolean;
  readonly dualStack: boolean;
}

/** One host of each form for this account (12 digits). */
export function registryHostForms(accountId = "123456789012"): RegistryHostForm[] {
  const form = (
    name: string,
    host: string,
    region: string,
    partition: Partition,
    fips = false,
    dualStack = false,
  ): RegistryHostForm => ({
    form: name,
    kind: "private",
    host: `${accountId}.${host}`,
    accountId,
    region,
    partition,
    fips,
    dualStack,
  });
  return [
    form("commercial", "dkr.ecr.eu-west-1.amazonaws.com", "eu-west-1", "aws"),
    form("commercial (us-east-1)", "dkr.ecr.us-east-1.amazonaws.com", "us-east-1", "aws"),
    form("FIPS", "dkr.ecr-fips.us-east-1.amazonaws.com", "us-east-1", "aws", true),
    form("China", "dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1", "aws-cn"),
    form("GovCloud", "dkr.ecr.us-gov-west-1.amazonaws.com", "us-gov-west-1", "aws-us-gov"),
    form("FIPS (GovCloud)", "dkr.ecr-fips.us-gov-east-1.amazonaws.com", "us-gov-east-1", "aws-us-gov", true),
    form("dual-stack", "dkr-ecr.us-west-2.on.aws", "us-west-2", "aws", false, true),
    form(
      "dual-stack FIPS (GovCloud)",
      "dkr-ecr-fips.us-gov-west-1.on.aws",
      "us-gov-west-1",
      "aws-us-gov",
      true,
      true,
    ),
    form(
      "dual-stack (China)",
      "dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn",
      "cn-northwest-1",
      "aws-cn",
      false,
      true,
    ),
    form("ISO", "dkr.ecr.us-iso-east-1.c2s.ic.gov", "us-iso-east-1", "aws-iso"),
    form("ISO-B", "dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1", "aws-iso-b"),
    form("ISO-E", "dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "eu-isoe-west-1", "aws-iso-e"),
    form("ISO-F", "dkr.ecr.us-isof-south-1.csp.hci.ic.gov", "us-isof-south-1", "aws-iso-f"),
    form("EU sovereign cloud", "dkr.ecr.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1", "aws-eusc"),
  ];
}
