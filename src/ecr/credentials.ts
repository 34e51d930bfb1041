import type { V1Secret } from "@kubernetes/client-node";
import { isAwsRegion, type RegistryHost } from "./registry-host.ts";

/** Static AWS credentials read from a credential secret. Never log this object. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** The region to call ECR in: always the registry host's (an ECR token only works in its own region). */
  readonly region: string;
  /**
   * The secret's aws_region, present only when it names another region than the registry host's. ECR is
   * still called in the host's region; the caller should warn that the setting is ignored.
   */
  readonly configuredRegion?: string;
}

/** A credential secret that exists but cannot be used. The message names the secret and the problem only. */
export class CredentialsError extends Error {
  override readonly name = "CredentialsError";
}

/** The data keys of a credential secret, as the original eatr defined them. */
export const CREDENTIAL_KEYS = {
  accessKeyId: "aws_access_key_id",
  secretAccessKey: "aws_secret_access_key",
  sessionToken: "aws_session_token",
  region: "aws_region",
} as const;

/** The name of the credential secret for a registry: `<prefix>-<registry host>`. */
export function credentialSecretName(prefix: string, registryHost: string): string {
  return `${prefix}-${registryHost}`;
}

/** The registry host a credential secret is for, or undefined when the name does not carry the prefix. */
export function registryHostOfCredentialSecret(prefix: string, secretName: string): string | undefined {
  const start = `${prefix}-`;
  return secretName.startsWith(start) && secretName.length > start.length
    ? secretName.slice(start.length)
    : undefined;
}

/**
 * Reads AWS credentials from a credential secret (`data`, base64, or `stringData`-style plain values are
 * not accepted: the API server only returns `data`). The region is the registry host's; an aws_region that
 * differs is reported in `configuredRegion`, one that is not a region at all is an error. Throws
 * CredentialsError naming the secret and the missing or malformed key, never a secret value.
 */
export function parseCredentials(secret: V1Secret, registry: RegistryHost): AwsCredentials {
  const where = `credential secret ${secret.metadata?.namespace ?? ""}/${secret.metadata?.name ?? ""}`;
  const data = secret.data ?? {};
  const read = (key: string, required: boolean): string | undefined => {
    const raw = data[key];
    if (raw === undefined || raw === "") {
      if (required)
        throw new CredentialsError(
          `${where} has no key "${key}"; add it (kubectl create secret generic … --from-literal=${key}=…)`,
        );
      return undefined;
    }
    const value = Buffer.from(raw, "base64").toString("utf8").trim();
    if (value === "" || /[\s\p{Cc}]/u.test(value)) {
      throw new CredentialsError(
        `${where}: key "${key}" is empty or contains whitespace or control characters`,
      );
    }
    return value;
  };
  const accessKeyId = read(CREDENTIAL_KEYS.accessKeyId, true) ?? "";
  const secretAccessKey = read(CREDENTIAL_KEYS.secretAccessKey, true) ?? "";
  const sessionToken = read(CREDENTIAL_KEYS.sessionToken, false);
  const configured = read(CREDENTIAL_KEYS.region, false);
  if (configured !== undefined && !isAwsRegion(configured)) {
    throw new CredentialsError(
      `${where}: key "${CREDENTIAL_KEYS.region}" = "${configured}" is not an AWS region like ${registry.region}; ` +
        `remove it (ECR is always called in the registry's region, ${registry.region})`,
    );
  }
  return {
    accessKeyId,
    secretAccessKey,
    ...(sessionToken === undefined ? {} : { sessionToken }),
    region: registry.region,
    ...(configured === undefined || configured === registry.region ? {} : { configuredRegion: configured }),
  };
}
