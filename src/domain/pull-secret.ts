/**
 * What a pull secret managed by eatr is: its name, type, data, label and annotations, how eatr recognises
 * one it wrote, and the token it records. Informers, reconcilers and tools import this; nothing here does I/O.
 */
import type { V1Secret } from "@kubernetes/client-node";
import { parseRegistryHost, registryUrl, type RegistryHost } from "../ecr/registry-host.ts";

/** The label every secret written by eatr carries; eatr never touches a secret without it (or seed shape). */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_VALUE = "eatr";
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

/** Annotations on a managed pull secret. */
export const ANNOTATIONS = {
  registry: "eatr/registry",
  tokenFetchedAt: "eatr/token-fetched-at",
  tokenExpiresAt: "eatr/token-expires-at",
  credentialsVersion: "eatr/credentials-version",
  /** The eatr installation that wrote it (`<lease namespace>/<lease name>`): two installations fighting show. */
  installation: "eatr/installation",
} as const;

export const PULL_SECRET_TYPE = "kubernetes.io/dockerconfigjson";
export const DOCKER_CONFIG_KEY = ".dockerconfigjson";

export interface PullSecretInput {
  readonly namespace: string;
  readonly registry: RegistryHost;
  /** base64("AWS:<password>") exactly as ECR returned it. */
  readonly authorizationToken: string;
  readonly fetchedAtMs: number;
  readonly expiresAtMs: number | undefined;
  /** Fingerprint of the credential secret the token was minted with (credentialsVersion()). */
  readonly credentialsVersion: string;
  /** The writing installation (installationId()); omitted by callers that have none (tests, tools). */
  readonly installation?: string;
}

/** The id of an eatr installation: its leader election Lease, unique per cluster and shared by its replicas. */
export function installationId(leaseNamespace: string, leaseName: string): string {
  return `${leaseNamespace}/${leaseName}`;
}

/**
 * The pull secret eatr wants in a namespace for a registry, in the original eatr's format: named after the
 * registry host, type kubernetes.io/dockerconfigjson, `{"auths":{"https://<host>":{"auth":"<token>"}}}`.
 */
export function buildPullSecret(input: PullSecretInput): V1Secret {
  const annotations: Record<string, string> = {
    [ANNOTATIONS.registry]: input.registry.host,
    [ANNOTATIONS.tokenFetchedAt]: new Date(input.fetchedAtMs).toISOString(),
    [ANNOTATIONS.credentialsVersion]: input.credentialsVersion,
  };
  if (input.installation !== undefined) annotations[ANNOTATIONS.installation] = input.installation;
  if (input.expiresAtMs !== undefined) {
    annotations[ANNOTATIONS.tokenExpiresAt] = new Date(input.expiresAtMs).toISOString();
  }
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: input.registry.host,
      namespace: input.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      annotations,
    },
    type: PULL_SECRET_TYPE,
    data: { [DOCKER_CONFIG_KEY]: dockerConfig(registryUrl(input.registry), input.authorizationToken) },
  };
}

/** The last `.dockerconfigjson` value built per registry URL: every namespace of a registry gets the same one. */
const lastDockerConfig = new Map<string, { token: string; value: string }>();

/** base64 of `{"auths":{"<url>":{"auth":"<token>"}}}`, built once per registry and token. */
function dockerConfig(url: string, token: string): string {
  const last = lastDockerConfig.get(url);
  if (last?.token === token) return last.value;
  const value = Buffer.from(JSON.stringify({ auths: { [url]: { auth: token } } })).toString("base64");
  lastDockerConfig.set(url, { token, value });
  return value;
}

/** True when eatr owns the secret (our managed-by label). */
export function isManaged(secret: V1Secret | undefined): boolean {
  return secret?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/**
 * True when an unlabelled secret is exactly what the original Go eatr wrote for this registry (type
 * dockerconfigjson, one `.dockerconfigjson` key holding only `auths["https://<host>"].auth`). Such secrets
 * are adopted so users can swap the image; anything else of the same name belongs to someone else.
 */
export function isSeedSecret(secret: V1Secret, registryHost: string): boolean {
  if (secret.type !== PULL_SECRET_TYPE) return false;
  const data = secret.data ?? {};
  const keys = Object.keys(data);
  if (keys.length !== 1 || keys[0] !== DOCKER_CONFIG_KEY) return false;
  try {
    const parsed = JSON.parse(
      Buffer.from(data[DOCKER_CONFIG_KEY] ?? "", "base64").toString("utf8"),
    ) as unknown;
    if (!isRecord(parsed) || Object.keys(parsed).length !== 1 || !isRecord(parsed.auths)) return false;
    const auths = parsed.auths;
    const entry = auths[`https://${registryHost}`];
    return (
      Object.keys(auths).length === 1 &&
      isRecord(entry) &&
      Object.keys(entry).length === 1 &&
      typeof entry.auth === "string" &&
      Buffer.from(entry.auth, "base64").toString("utf8").startsWith("AWS:")
    );
  } catch {
    return false;
  }
}

/**
 * Positive proof that eatr wrote this secret, required before it is ever deleted: our label, a name that
 * is an ECR registry host, the `eatr/registry` annotation equal to that name, type dockerconfigjson, and
 * data holding nothing but the ECR `auths` entry for that host. A user's secret that merely carries the
 * (generic-looking) label, or a copy of a pull secret under another name, fails it.
 */
export function isOwnedPullSecret(secret: V1Secret): boolean {
  const name = secret.metadata?.name ?? "";
  return (
    isManaged(secret) &&
    parseRegistryHost(name)?.host === name &&
    secret.metadata?.annotations?.[ANNOTATIONS.registry] === name &&
    isSeedSecret(secret, name)
  );
}

/** The installation that last wrote a managed pull secret, when it says. */
export function writtenBy(secret: V1Secret): string | undefined {
  return secret.metadata?.annotations?.[ANNOTATIONS.installation];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The token a managed pull secret carries, with the times and credentials it was minted with. */
export interface RecordedToken {
  readonly authorizationToken: string;
  readonly fetchedAtMs: number;
  readonly expiresAtMs: number | undefined;
  readonly credentialsVersion: string;
}

/**
 * Reads back the token recorded in a managed pull secret (so a restarted controller can reuse it instead
 * of calling ECR and rewriting every secret). Undefined when anything is missing or malformed.
 */
export function recordedToken(secret: V1Secret, registryHost: string): RecordedToken | undefined {
  if (!isManaged(secret)) return undefined;
  const a = secret.metadata?.annotations ?? {};
  const fetchedAtMs = Date.parse(a[ANNOTATIONS.tokenFetchedAt] ?? "");
  const expiresRaw = a[ANNOTATIONS.tokenExpiresAt];
  const expiresAtMs = expiresRaw === undefined ? undefined : Date.parse(expiresRaw);
  const version = a[ANNOTATIONS.credentialsVersion];
  if (Number.isNaN(fetchedAtMs) || (expiresAtMs !== undefined && Number.isNaN(expiresAtMs)) || !version)
    return undefined;
  try {
    const parsed = JSON.parse(
      Buffer.from(secret.data?.[DOCKER_CONFIG_KEY] ?? "", "base64").toString("utf8"),
    ) as {
      auths?: Record<string, { auth?: unknown }>;
    };
    const auth = parsed.auths?.[`https://${registryHost}`]?.auth;
    if (typeof auth !== "string" || auth === "") return undefined;
    return { authorizationToken: auth, fetchedAtMs, expiresAtMs, credentialsVersion: version };
  } catch {
    return undefined;
  }
}
