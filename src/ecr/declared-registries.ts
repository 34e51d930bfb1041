import { createHash } from "node:crypto";
import {
  checkRoleFields,
  CredentialsError,
  type AwsCredentials,
  type CredentialSourceKind,
  type CredentialSourceSpec,
} from "./credentials.ts";
import { isAwsRegion, parseRegistryHost, type RegistryHost } from "./registry-host.ts";

/** One entry of the config file's `registries` list: how a registry reaches AWS. */
export interface DeclaredRegistry {
  readonly host: string;
  readonly source: CredentialSourceKind;
  readonly roleArn?: string;
  readonly externalId?: string;
  readonly sessionName?: string;
  readonly durationSeconds?: number;
  /** The region STS is called in (default: the registry's); ECR is always called in the registry's. */
  readonly region?: string;
}

const SOURCES: readonly CredentialSourceKind[] = ["keys", "assumeRole", "webIdentity", "default"];
const FIELDS = ["host", "source", "roleArn", "externalId", "sessionName", "durationSeconds", "region"];

/**
 * Validates the `registries` list as written in the config file. Returns the entries and one problem per
 * line, each naming the entry (index and host), the source and the field, never a value besides the host.
 */
export function parseDeclaredRegistries(
  written: unknown,
  where: string,
): { registries: DeclaredRegistry[]; problems: string[] } {
  const registries: DeclaredRegistry[] = [];
  const problems: string[] = [];
  if (!Array.isArray(written)) {
    return { registries, problems: [`${where}: "registries" must be a list of {host, source, …} entries`] };
  }
  const seen = new Set<string>();
  written.forEach((item: unknown, i) => {
    try {
      const entry = parseEntry(item, `${where}: registries[${String(i)}]`);
      if (seen.has(entry.host))
        throw new CredentialsError(`${where}: registries[${String(i)}] (${entry.host}) is listed twice`);
      seen.add(entry.host);
      registries.push(entry);
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err;
      problems.push(err.message);
    }
  });
  return { registries, problems };
}

function parseEntry(item: unknown, at: string): DeclaredRegistry {
  if (typeof item !== "object" || item === null || Array.isArray(item))
    throw new CredentialsError(`${at}: expected a mapping with host and source`);
  const fields = item as Record<string, unknown>;
  const str = (name: string, w: string): string | undefined => {
    const v = fields[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string" || v === "")
      throw new CredentialsError(`${w}: "${name}" must be a non-empty string`);
    return v;
  };
  for (const key of Object.keys(fields)) {
    if (!FIELDS.includes(key))
      throw new CredentialsError(`${at}: unknown field "${key}" (known: ${FIELDS.join(", ")})`);
  }
  const host = str("host", at);
  if (host === undefined)
    throw new CredentialsError(`${at}: "host" is missing (an ECR registry host, or public.ecr.aws)`);
  const registry = parseRegistryHost(host);
  if (!registry)
    throw new CredentialsError(
      `${at}: "host" is not an ECR registry host like 123456789012.dkr.ecr.eu-west-1.amazonaws.com or public.ecr.aws`,
    );
  const w = `${at} (${host})`;
  const source = str("source", w);
  if (source === undefined || !(SOURCES as readonly string[]).includes(source))
    throw new CredentialsError(`${w}: "source" must be one of ${SOURCES.join(", ")}`);
  const kind = source as CredentialSourceKind;
  const ws = `${w} (source ${kind})`;
  const duration = fields.durationSeconds;
  if (duration !== undefined && typeof duration !== "number")
    throw new CredentialsError(`${ws}: "durationSeconds" must be a number`);
  const role = checkRoleFields(
    ws,
    {
      roleArn: str("roleArn", ws),
      externalId: str("externalId", ws),
      sessionName: str("sessionName", ws),
      durationSeconds: duration,
    },
    {
      roleArn: "roleArn",
      externalId: "externalId",
      sessionName: "sessionName",
      durationSeconds: "durationSeconds",
    },
  );
  const region = str("region", ws);
  if (region !== undefined && !isAwsRegion(region))
    throw new CredentialsError(`${ws}: "region" is not an AWS region like ${registry.region}`);
  if ((kind === "assumeRole" || kind === "webIdentity") && role.roleArn === undefined)
    throw new CredentialsError(`${ws}: "roleArn" is missing; add the role to assume`);
  if ((kind === "keys" || kind === "default") && (role.roleArn !== undefined || region !== undefined))
    throw new CredentialsError(
      `${ws}: "roleArn" and "region" apply to assumeRole and webIdentity only; remove them`,
    );
  if (kind === "webIdentity" && role.externalId !== undefined)
    throw new CredentialsError(`${ws}: "externalId" is not used with web identity; remove it`);
  return { host: registry.host, source: kind, ...role, ...(region === undefined ? {} : { region }) };
}

/** The source an entry declares; undefined for `keys`. */
function specOf(entry: DeclaredRegistry): CredentialSourceSpec | undefined {
  const common = {
    ...(entry.sessionName === undefined ? {} : { sessionName: entry.sessionName }),
    ...(entry.durationSeconds === undefined ? {} : { durationSeconds: entry.durationSeconds }),
    ...(entry.region === undefined ? {} : { stsRegion: entry.region }),
  };
  switch (entry.source) {
    case "keys":
      return undefined;
    case "default":
      return { kind: "default" };
    case "assumeRole":
      return {
        kind: "assumeRole",
        roleArn: entry.roleArn ?? "",
        ...(entry.externalId === undefined ? {} : { externalId: entry.externalId }),
        ...common,
      };
    case "webIdentity":
      return { kind: "webIdentity", roleArn: entry.roleArn ?? "", ...common };
  }
}

/**
 * A registry's credentials from its declaration alone (it has no credential secret), or undefined when
 * the declaration needs one (`keys`).
 */
export function declaredCredentials(
  entry: DeclaredRegistry,
  registry: RegistryHost,
): AwsCredentials | undefined {
  const source = specOf(entry);
  return source === undefined ? undefined : { source, region: registry.region };
}

/**
 * Precedence when a registry has both: the credential secret decides; the declaration only adds its
 * `assumeRole` role to a secret that names no source of its own (keys only).
 */
export function mergeDeclared(
  fromSecret: AwsCredentials,
  entry: DeclaredRegistry | undefined,
): AwsCredentials {
  if (entry?.source !== "assumeRole" || fromSecret.source !== undefined) return fromSecret;
  const source = specOf(entry);
  return source === undefined ? fromSecret : { ...fromSecret, source };
}

/** The credentials version of a declaration (joined with the secret's, when it has one). */
export function declaredVersion(entry: DeclaredRegistry, secretVersion = ""): string {
  return createHash("sha256")
    .update(`${secretVersion}\u0000${JSON.stringify(entry)}`)
    .digest("hex")
    .slice(0, 16);
}
