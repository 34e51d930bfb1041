/**
 * ECR registry host names. A namespace label whose key parses here (and whose value is "true") asks for a
 * pull secret for that registry; every other label is ignored.
 */

/** AWS partitions an ECR registry host can belong to. */
export type Partition =
  "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b" | "aws-iso-e" | "aws-iso-f" | "aws-eusc";

/** A parsed ECR registry host, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com. */
export interface RegistryHost {
  /** The host exactly as written in the label key (lower-cased). */
  readonly host: string;
  readonly accountId: string;
  readonly region: string;
  readonly partition: Partition;
  /** The host is a FIPS endpoint (dkr.ecr-fips…). */
  readonly fips: boolean;
  /** The host is a dual-stack endpoint (dkr-ecr….on.aws). */
  readonly dualStack: boolean;
}

/**
 * The grammar of an AWS region name, shared by registry hosts and credential secrets: a 2-4 letter area,
 * one or more words, a number (eu-west-1, us-gov-east-1, us-isob-east-1, eusc-de-east-1). It accepts every
 * region the AWS SDK's partition table describes (e.g. `^eusc\-(de)\-\w+\-\d+$`) and new ones of that shape.
 */
const REGION_PATTERN = /^[a-z]{2,4}(?:-[a-z]+)+-\d+$/;

/** True when `value` is written like an AWS region (see REGION_PATTERN); says nothing of whether it exists. */
export function isAwsRegion(value: string): boolean {
  return REGION_PATTERN.test(value);
}

// The pattern used by the kubelet's ecr-credential-provider and amazon-ecr-credential-helper; the region
// part is then held to the region grammar.
const HOST_PATTERN =
  /^(\d{12})\.dkr[.-]ecr(-fips)?\.([a-z0-9][a-z0-9-_]*)\.(amazonaws\.(?:com(?:\.cn)?|eu)|on\.(?:aws|amazonwebservices\.com\.cn)|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$/;

const PARTITION_BY_DOMAIN: Readonly<Record<string, Partition>> = {
  "amazonaws.com": "aws",
  "amazonaws.com.cn": "aws-cn",
  "amazonaws.eu": "aws-eusc",
  "on.aws": "aws",
  "on.amazonwebservices.com.cn": "aws-cn",
  "c2s.ic.gov": "aws-iso",
  "sc2s.sgov.gov": "aws-iso-b",
  "cloud.adc-e.uk": "aws-iso-e",
  "csp.hci.ic.gov": "aws-iso-f",
};

/**
 * Parses an ECR registry host in any of its forms (commercial, China, GovCloud, ISO partitions, EU sovereign
 * cloud, FIPS, dual-stack). Returns undefined for anything that is not an ECR registry host.
 */
export function parseRegistryHost(value: string): RegistryHost | undefined {
  const host = value.toLowerCase();
  const m = HOST_PATTERN.exec(host);
  if (!m) return undefined;
  const [, accountId, fips, region, domain] = m;
  if (accountId === undefined || region === undefined || domain === undefined) return undefined;
  if (!isAwsRegion(region)) return undefined;
  const dualStack = domain.startsWith("on.");
  // The dashed form (dkr-ecr) exists only for dual-stack hosts, and dual-stack hosts only use it.
  if (host.includes(".dkr-ecr") !== dualStack) return undefined;
  let partition = PARTITION_BY_DOMAIN[domain];
  if (partition === undefined) return undefined;
  if (partition === "aws" && region.startsWith("us-gov-")) partition = "aws-us-gov";
  return { host, accountId, region, partition, fips: fips !== undefined, dualStack };
}

/** The registry URL written as the key of the dockerconfigjson `auths` map (what pods pull from). */
export function registryUrl(registry: RegistryHost): string {
  return `https://${registry.host}`;
}
