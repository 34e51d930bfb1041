/**
 * ECR registry host names. A namespace label whose key parses here (and whose value is "true") asks for a
 * pull secret for that registry; every other label is ignored. Two kinds of host: a private registry
 * (`<account>.dkr.ecr.<region>.<domain>`, served by ECR's GetAuthorizationToken in its region) and ECR Public
 * (`public.ecr.aws`, served by ECR Public's GetAuthorizationToken, which exists only in us-east-1).
 */

/** AWS partitions an ECR registry host can belong to. */
export type Partition =
  "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b" | "aws-iso-e" | "aws-iso-f" | "aws-eusc";

/** The one ECR Public registry host. */
export const PUBLIC_REGISTRY_HOST = "public.ecr.aws";

/** The only region ECR Public's GetAuthorizationToken is served in. */
export const ECR_PUBLIC_REGION = "us-east-1";

interface RegistryHostFields {
  /** The host exactly as written in the label key (lower-cased). */
  readonly host: string;
  /** The region ECR is called in (and requests signed for): the host's, or us-east-1 for ECR Public. */
  readonly region: string;
  readonly partition: Partition;
  /** The host is a FIPS endpoint (dkr.ecr-fips…). */
  readonly fips: boolean;
  /** The host is a dual-stack endpoint (dkr-ecr….on.aws). */
  readonly dualStack: boolean;
}

/** A private registry host, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com. */
export interface PrivateRegistryHost extends RegistryHostFields {
  readonly kind: "private";
  /** The 12-digit account that owns the registry. */
  readonly accountId: string;
}

/**
 * ECR Public (public.ecr.aws): one registry shared by every account, so no account id. Its token is the
 * caller's (the account of the credentials it is minted with: that account's pull limits apply). Region
 * us-east-1, partition aws, neither FIPS nor dual-stack.
 */
export interface PublicRegistryHost extends RegistryHostFields {
  readonly kind: "public";
  readonly accountId?: undefined;
}

/** A parsed ECR registry host; `kind` tells which API mints its tokens. */
export type RegistryHost = PrivateRegistryHost | PublicRegistryHost;

/** The AWS API that mints a registry's tokens, as messages name it: "ECR Public" for public.ecr.aws, else "ECR". */
export function tokenApiName(registryHost: string): "ECR" | "ECR Public" {
  return registryHost === PUBLIC_REGISTRY_HOST ? "ECR Public" : "ECR";
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
 * cloud, FIPS, dual-stack), or ECR Public's `public.ecr.aws` (exactly: no sub- or super-domain). Case does
 * not matter, as in DNS. Returns undefined for anything that is not an ECR registry host.
 */
export function parseRegistryHost(value: string): RegistryHost | undefined {
  const host = value.toLowerCase();
  if (host === PUBLIC_REGISTRY_HOST) {
    return {
      kind: "public",
      host,
      region: ECR_PUBLIC_REGION,
      partition: "aws",
      fips: false,
      dualStack: false,
    };
  }
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
  return { kind: "private", host, accountId, region, partition, fips: fips !== undefined, dualStack };
}

/**
 * The registry URL written as the key of the dockerconfigjson `auths` map (what pods pull from):
 * `https://<host>`, the original eatr's form, for ECR Public too. The kubelet and docker drop the scheme
 * when they match an image to a key, so `https://public.ecr.aws` serves `public.ecr.aws/<repo>` images.
 */
export function registryUrl(registry: RegistryHost): string {
  return `https://${registry.host}`;
}
