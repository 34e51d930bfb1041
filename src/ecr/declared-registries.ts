import { createHash } from "node:crypto";
import {
  checkRoleFields,
  CredentialsError,
  type AwsCredentials,
  type CredentialSourceKind,
  type CredentialSourceSpec,
} from "./credentials.ts";
import { isAwsRegion, parseRegistryHost, type RegistryHost } from "./registry-host.ts";
import { LabelSelectorError, parseLabelSelector, type LabelSelector } from "../domain/label-selector.ts";
import { namePatternProblem } from "../domain/name-pattern.ts";

/**
 * One entry of the config file's `registries` list: how a registry reaches AWS, and which namespaces get
 * it without a label of their own (namespaceSelector, excludeNamespaces; see domain/registry-policy.ts).
 */
export interface DeclaredRegistry {
  readonly host: string;
  /** As written, or `keys` (the credential secret) when the entry names none. */
  readonly source: CredentialSourceKind;
  readonly roleArn?: string;
  readonly externalId?: string;
  readonly sessionName?: string;
  readonly durationSeconds?: number;
  /** The region STS is called in (default: the registry's); ECR is always called in the registry's. */
  readonly region?: string;
  /** Namespaces whose labels match get this registry without a label of their own. */
  readonly namespaceSelector?: LabelSelector;
  /** Names and `*` globs of namespaces the selector never serves. */
  readonly excludeNamespaces?: readonly string[];
}

const SOURCES: readonly CredentialSourceKind[] = ["keys", "assumeRole", "webIdentity", "default"];
const FIELDS = [
  "host",
  "source",
  "roleArn",
  "externalId",
  "sessionName",
  "durationSeconds",
  "region",
  "namespaceSelector",
  "excludeNamespaces",
];
/** Fields that say which namespaces get a registry; they are not part of its credentials. */
const POLICY_FIELDS: ReadonlySet<string> = new Set(["namespaceSelector", "excludeNamespaces"]);

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
    return { registries, problems: [`${where}: "registries" must be a list of {host, source?, …} entries`] };
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
    throw new CredentialsError(`${at}: expected a mapping with host (and source, …)`);
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
  // No source: the registry keeps using its credential secret (keys, or the secret's own aws_role_*).
  const source = str("source", w) ?? "keys";
  if (!(SOURCES as readonly string[]).includes(source))
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
  return {
    host: registry.host,
    source: kind,
    ...role,
    ...(region === undefined ? {} : { region }),
    ...parsePolicy(fields, w),
  };
}

/** namespaceSelector and excludeNamespaces of an entry, validated. */
function parsePolicy(
  fields: Record<string, unknown>,
  w: string,
): Pick<DeclaredRegistry, "namespaceSelector" | "excludeNamespaces"> {
  const out: { namespaceSelector?: LabelSelector; excludeNamespaces?: readonly string[] } = {};
  const text = fields.namespaceSelector;
  if (text !== undefined && text !== null) {
    if (typeof text !== "string")
      throw new CredentialsError(
        `${w}: "namespaceSelector" must be a label selector string such as "team in (a,b)" or "!no-ecr"`,
      );
    let selector: LabelSelector;
    try {
      selector = parseLabelSelector(text);
    } catch (err) {
      if (!(err instanceof LabelSelectorError)) throw err;
      throw new CredentialsError(
        `${w}: "namespaceSelector" is not a label selector: ${err.message} of ${JSON.stringify(text)}`,
      );
    }
    if (selector.requirements.length === 0)
      throw new CredentialsError(
        `${w}: "namespaceSelector" is empty; to serve every namespace write "kubernetes.io/metadata.name" (every namespace has that label), or remove the field`,
      );
    out.namespaceSelector = selector;
  }
  const patterns = fields.excludeNamespaces;
  if (patterns !== undefined && patterns !== null) {
    if (!Array.isArray(patterns) || patterns.some((p) => typeof p !== "string"))
      throw new CredentialsError(
        `${w}: "excludeNamespaces" must be a list of namespace names or globs such as "kube-*"`,
      );
    (patterns as string[]).forEach((p, i) => {
      const problem = namePatternProblem(p);
      if (problem !== undefined)
        throw new CredentialsError(`${w}: "excludeNamespaces"[${String(i)}] ${JSON.stringify(p)} ${problem}`);
    });
    if (out.namespaceSelector === undefined)
      throw new CredentialsError(
        `${w}: "excludeNamespaces" narrows "namespaceSelector", which is missing; add one, or remove excludeNamespaces (a namespace labelled <host>: "true" is always served)`,
      );
    out.excludeNamespaces = Object.freeze([...(patterns as string[])]);
  }
  return out;
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

/**
 * The credentials version of a declaration (joined with the secret's, when it has one). Only the credential
 * fields count: changing which namespaces get a registry re-mints no token and rewrites no secret.
 */
export function declaredVersion(entry: DeclaredRegistry, secretVersion = ""): string {
  const credentialFields = Object.fromEntries(Object.entries(entry).filter(([k]) => !POLICY_FIELDS.has(k)));
  return createHash("sha256")
    .update(`${secretVersion}\u0000${JSON.stringify(credentialFields)}`)
    .digest("hex")
    .slice(0, 16);
}
