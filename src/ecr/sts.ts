import { readFile } from "node:fs/promises";
import {
  fromNodeProviderChain,
  fromTemporaryCredentials,
  fromTokenFile,
} from "@aws-sdk/credential-providers";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import type { AwsCredentials, CredentialSourceSpec } from "./credentials.ts";
import type { RegistryHost } from "./registry-host.ts";

/** How eatr reaches STS; one value for every registry. */
export interface StsOptions {
  /** Overrides the STS endpoint (VPC endpoints, proxies, tests). Empty = the SDK's regional endpoint. */
  readonly endpoint?: string;
  /** Bound on one STS call, connection setup included. */
  readonly timeoutMs: number;
  /** The projected ServiceAccount token the `webIdentity` source exchanges; "" = not configured. */
  readonly webIdentityTokenFile: string;
}

/** The STS operation a source calls, or undefined for sources that call none themselves. */
export function stsOperation(
  spec: CredentialSourceSpec | undefined,
): "AssumeRole" | "AssumeRoleWithWebIdentity" | undefined {
  if (spec?.kind === "assumeRole") return "AssumeRole";
  if (spec?.kind === "webIdentity") return "AssumeRoleWithWebIdentity";
  return undefined;
}

/** A source's configuration is incomplete on this controller (e.g. no token file); not an STS answer. */
export class CredentialSourceError extends Error {
  override readonly name = "CredentialSourceError";
}

/**
 * The SDK provider for a registry's source (never `keys`: those need no provider). STS is called in the
 * spec's stsRegion or the registry's region, through the custom endpoint when there is one, with one
 * attempt (the token cache owns retries) bounded by timeoutMs. The web identity token file is re-read by
 * the SDK on every call; it is checked first so a missing file is named as such.
 */
export function sdkProvider(
  registry: RegistryHost,
  credentials: AwsCredentials,
  spec: CredentialSourceSpec,
  options: StsOptions,
): AwsCredentialIdentityProvider {
  if (spec.kind === "default") return fromNodeProviderChain();
  const endpoint = options.endpoint === undefined || options.endpoint === "" ? undefined : options.endpoint;
  const clientConfig = {
    region: spec.stsRegion ?? registry.region,
    ...(endpoint === undefined ? { useFipsEndpoint: registry.fips } : { endpoint }),
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: options.timeoutMs,
      requestTimeout: options.timeoutMs,
      throwOnRequestTimeout: true,
    },
  };
  const sessionName = spec.sessionName ?? "eatr";
  if (spec.kind === "assumeRole") {
    const { accessKeyId, secretAccessKey, sessionToken } = credentials;
    const master: AwsCredentialIdentity | undefined =
      accessKeyId !== undefined && secretAccessKey !== undefined
        ? { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) }
        : undefined;
    return fromTemporaryCredentials({
      params: {
        RoleArn: spec.roleArn,
        RoleSessionName: sessionName,
        ...(spec.externalId === undefined ? {} : { ExternalId: spec.externalId }),
        ...(spec.durationSeconds === undefined ? {} : { DurationSeconds: spec.durationSeconds }),
      },
      // Without keys, the SDK's default chain: the controller's own identity.
      ...(master === undefined ? {} : { masterCredentials: master }),
      clientConfig,
    });
  }
  const file = options.webIdentityTokenFile;
  const exchange = fromTokenFile({
    webIdentityTokenFile: file,
    roleArn: spec.roleArn,
    roleSessionName: sessionName,
    ...(spec.durationSeconds === undefined ? {} : { durationSeconds: spec.durationSeconds }),
    clientConfig,
  });
  return async () => {
    if (file === "") {
      throw new CredentialSourceError(
        `registry ${registry.host} (source webIdentity): no web identity token file is configured; set ` +
          `-web-identity-token-file (the chart's webIdentity values project one)`,
      );
    }
    let token: string;
    try {
      token = (await readFile(file, "ascii")).trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      throw new CredentialSourceError(
        `registry ${registry.host} (source webIdentity): cannot read the web identity token file ${file} (${code}); ` +
          `check the projected ServiceAccount token volume`,
        { cause: err },
      );
    }
    if (token === "") {
      throw new CredentialSourceError(
        `registry ${registry.host} (source webIdentity): the web identity token file ${file} is empty`,
      );
    }
    return exchange();
  };
}
