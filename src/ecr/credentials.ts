import type { V1Secret } from "@kubernetes/client-node";
import { isAwsRegion, tokenApiName, type RegistryHost } from "./registry-host.ts";

/**
 * How a registry reaches AWS when it does not use its static keys directly (absent = `keys`):
 * `assumeRole` assumes the role on top of the static keys when there are any, else on top of the
 * controller's own identity (the SDK's default chain); `webIdentity` exchanges the controller's projected
 * ServiceAccount token for the role; `default` is the SDK's default chain itself.
 */
export type CredentialSourceSpec =
  | {
      readonly kind: "assumeRole";
      readonly roleArn: string;
      readonly externalId?: string;
      readonly sessionName?: string;
      readonly durationSeconds?: number;
      /** Where STS is called (default: the registry's region). */
      readonly stsRegion?: string;
    }
  | {
      readonly kind: "webIdentity";
      readonly roleArn: string;
      readonly sessionName?: string;
      readonly durationSeconds?: number;
      readonly stsRegion?: string;
    }
  | { readonly kind: "default" };

/** The name of a registry's credential source, as errors, logs and config spell it. */
export type CredentialSourceKind = "keys" | CredentialSourceSpec["kind"];

/**
 * A registry's AWS credentials: static keys from a credential secret, and/or a source that yields
 * temporary ones. The keys are present unless `source` needs none. Never log this object.
 */
export interface AwsCredentials {
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  /** Absent: the static keys are used as they are (source `keys`). */
  readonly source?: CredentialSourceSpec;
  /**
   * The region to call ECR in: always the registry host's (an ECR token only works in its own region);
   * us-east-1 for ECR Public.
   */
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
  roleArn: "aws_role_arn",
  roleExternalId: "aws_role_external_id",
  roleSessionName: "aws_role_session_name",
  roleDurationSeconds: "aws_role_duration_seconds",
  webIdentity: "aws_web_identity",
} as const;

/** IAM role ARNs in every partition (aws, aws-cn, aws-us-gov, aws-eusc, aws-iso…). */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
/** STS's own grammar for RoleSessionName and ExternalId. */
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

/** The role fields of a source, validated; `where` names the place (secret, registries entry). */
export interface RoleFields {
  readonly roleArn?: string | undefined;
  readonly externalId?: string | undefined;
  readonly sessionName?: string | undefined;
  readonly durationSeconds?: string | number | undefined;
}

/**
 * Checks role fields and returns the ones that are set. Throws CredentialsError naming `where`, the
 * field (as `names` spells it) and what is wrong, never the value.
 */
export function checkRoleFields(
  where: string,
  fields: RoleFields,
  names: Record<keyof RoleFields, string>,
): { roleArn?: string; externalId?: string; sessionName?: string; durationSeconds?: number } {
  const out: { roleArn?: string; externalId?: string; sessionName?: string; durationSeconds?: number } = {};
  if (fields.roleArn !== undefined) {
    if (!ROLE_ARN.test(fields.roleArn))
      throw new CredentialsError(
        `${where}: "${names.roleArn}" is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)`,
      );
    out.roleArn = fields.roleArn;
  }
  if (fields.externalId !== undefined) {
    if (!EXTERNAL_ID.test(fields.externalId))
      throw new CredentialsError(
        `${where}: "${names.externalId}" must be 2 to 1224 characters of letters, digits and +=,.@:/-`,
      );
    out.externalId = fields.externalId;
  }
  if (fields.sessionName !== undefined) {
    if (!SESSION_NAME.test(fields.sessionName))
      throw new CredentialsError(
        `${where}: "${names.sessionName}" must be 2 to 64 characters of letters, digits and +=,.@-`,
      );
    out.sessionName = fields.sessionName;
  }
  if (fields.durationSeconds !== undefined) {
    const n = Number(fields.durationSeconds);
    if (!Number.isInteger(n) || n < 900 || n > 43_200)
      throw new CredentialsError(
        `${where}: "${names.durationSeconds}" must be a whole number of seconds from 900 to 43200`,
      );
    out.durationSeconds = n;
  }
  const needsRole = ["externalId", "sessionName", "durationSeconds"] as const;
  for (const key of needsRole) {
    if (out[key] !== undefined && out.roleArn === undefined)
      throw new CredentialsError(
        `${where}: "${names[key]}" is set but "${names.roleArn}" is not; add the role ARN`,
      );
  }
  return out;
}

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
 * Role keys select the source: `aws_role_arn` alone (with or without keys) is `assumeRole`; with
 * `aws_web_identity: "true"` it is `webIdentity` (no keys allowed).
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
  const accessKeyId = read(CREDENTIAL_KEYS.accessKeyId, false);
  const secretAccessKey = read(CREDENTIAL_KEYS.secretAccessKey, false);
  const sessionToken = read(CREDENTIAL_KEYS.sessionToken, false);
  const configured = read(CREDENTIAL_KEYS.region, false);
  if (configured !== undefined && !isAwsRegion(configured)) {
    throw new CredentialsError(
      `${where}: key "${CREDENTIAL_KEYS.region}" = "${configured}" is not an AWS region like ${registry.region}; ` +
        `remove it (${tokenApiName(registry.host)} is always called in the registry's region, ${registry.region})`,
    );
  }
  const source = secretSource(where, read);
  const keys = accessKeyId !== undefined || secretAccessKey !== undefined || sessionToken !== undefined;
  if (source?.kind === "webIdentity" && keys) {
    throw new CredentialsError(
      `${where} (source webIdentity): "${CREDENTIAL_KEYS.webIdentity}" is "true", so the keys are not used; ` +
        `remove "${CREDENTIAL_KEYS.accessKeyId}", "${CREDENTIAL_KEYS.secretAccessKey}" and "${CREDENTIAL_KEYS.sessionToken}"`,
    );
  }
  // A role needs no keys (it is assumed with the controller's own identity); keys need each other.
  if (keys || source === undefined) {
    const hint =
      source === undefined ? `, or set "${CREDENTIAL_KEYS.roleArn}" to assume a role without keys` : "";
    for (const [key, value] of [
      [CREDENTIAL_KEYS.accessKeyId, accessKeyId],
      [CREDENTIAL_KEYS.secretAccessKey, secretAccessKey],
    ] as const) {
      if (value === undefined)
        throw new CredentialsError(
          `${where} (source ${source?.kind ?? "keys"}) has no key "${key}"; add it (kubectl create secret generic … --from-literal=${key}=…)${hint}`,
        );
    }
  }
  return {
    ...(accessKeyId === undefined ? {} : { accessKeyId }),
    ...(secretAccessKey === undefined ? {} : { secretAccessKey }),
    ...(sessionToken === undefined ? {} : { sessionToken }),
    ...(source === undefined ? {} : { source }),
    region: registry.region,
    ...(configured === undefined || configured === registry.region ? {} : { configuredRegion: configured }),
  };
}

/** The source a credential secret's role keys ask for; undefined for plain keys. */
function secretSource(
  where: string,
  read: (key: string, required: boolean) => string | undefined,
): CredentialSourceSpec | undefined {
  const flag = read(CREDENTIAL_KEYS.webIdentity, false);
  if (flag !== undefined && flag !== "true" && flag !== "false") {
    throw new CredentialsError(`${where}: key "${CREDENTIAL_KEYS.webIdentity}" must be "true" or "false"`);
  }
  const webIdentity = flag === "true";
  const kind = webIdentity ? "webIdentity" : "assumeRole";
  const role = checkRoleFields(
    `${where} (source ${kind})`,
    {
      roleArn: read(CREDENTIAL_KEYS.roleArn, false),
      externalId: read(CREDENTIAL_KEYS.roleExternalId, false),
      sessionName: read(CREDENTIAL_KEYS.roleSessionName, false),
      durationSeconds: read(CREDENTIAL_KEYS.roleDurationSeconds, false),
    },
    {
      roleArn: CREDENTIAL_KEYS.roleArn,
      externalId: CREDENTIAL_KEYS.roleExternalId,
      sessionName: CREDENTIAL_KEYS.roleSessionName,
      durationSeconds: CREDENTIAL_KEYS.roleDurationSeconds,
    },
  );
  if (role.roleArn === undefined) {
    if (webIdentity)
      throw new CredentialsError(
        `${where} (source webIdentity): "${CREDENTIAL_KEYS.webIdentity}" is "true" but there is no key "${CREDENTIAL_KEYS.roleArn}"; add the role to assume`,
      );
    return undefined;
  }
  if (webIdentity) {
    if (role.externalId !== undefined)
      throw new CredentialsError(
        `${where} (source webIdentity): "${CREDENTIAL_KEYS.roleExternalId}" is not used with web identity (AssumeRoleWithWebIdentity takes none); remove it`,
      );
    return {
      kind: "webIdentity",
      roleArn: role.roleArn,
      ...(role.sessionName === undefined ? {} : { sessionName: role.sessionName }),
      ...(role.durationSeconds === undefined ? {} : { durationSeconds: role.durationSeconds }),
    };
  }
  return { kind: "assumeRole", ...role, roleArn: role.roleArn };
}
