import type { V1Secret } from "@kubernetes/client-node";
import { registryUrl, type RegistryHost } from "../ecr/registry-host.ts";

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

/** What to do with one pull secret. */
export type Verdict =
  | { readonly kind: "create"; readonly secret: V1Secret }
  | { readonly kind: "update"; readonly secret: V1Secret; readonly adopt: boolean }
  | { readonly kind: "unchanged" }
  | { readonly kind: "delete"; readonly secret: V1Secret }
  | { readonly kind: "conflict"; readonly secret: V1Secret };

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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Compares the desired pull secret (undefined: the namespace no longer asks for this registry) with the
 * actual one (undefined: none exists) and names the action. Pure: no I/O, no clock.
 */
export function decide(desired: V1Secret | undefined, actual: V1Secret | undefined): Verdict {
  if (desired === undefined) {
    return actual !== undefined && isManaged(actual)
      ? { kind: "delete", secret: actual }
      : { kind: "unchanged" };
  }
  if (actual === undefined) return { kind: "create", secret: desired };
  const managed = isManaged(actual);
  if (!managed && !isSeedSecret(actual, desired.metadata?.name ?? ""))
    return { kind: "conflict", secret: actual };
  if (managed && matches(desired, actual)) return { kind: "unchanged" };
  return { kind: "update", secret: merge(desired, actual), adopt: !managed };
}

/** True when every field eatr sets already has the desired value (other labels/annotations are ignored). */
function matches(desired: V1Secret, actual: V1Secret): boolean {
  if (actual.type !== desired.type) return false;
  if (!sameRecord(desired.data ?? {}, actual.data ?? {})) return false;
  return (
    subset(desired.metadata?.labels ?? {}, actual.metadata?.labels ?? {}) &&
    subset(desired.metadata?.annotations ?? {}, actual.metadata?.annotations ?? {}) &&
    // An expiry we no longer know about must not linger.
    (desired.metadata?.annotations?.[ANNOTATIONS.tokenExpiresAt] !== undefined ||
      actual.metadata?.annotations?.[ANNOTATIONS.tokenExpiresAt] === undefined)
  );
}

/** The actual secret with eatr's fields set to the desired values; everything else (others' labels) kept. */
function merge(desired: V1Secret, actual: V1Secret): V1Secret {
  const dropExpiry = desired.metadata?.annotations?.[ANNOTATIONS.tokenExpiresAt] === undefined;
  const annotations = Object.fromEntries(
    Object.entries({
      ...(actual.metadata?.annotations ?? {}),
      ...(desired.metadata?.annotations ?? {}),
    }).filter(([k]) => !(dropExpiry && k === ANNOTATIONS.tokenExpiresAt)),
  );
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      ...(actual.metadata ?? {}),
      labels: { ...(actual.metadata?.labels ?? {}), ...(desired.metadata?.labels ?? {}) },
      annotations,
      managedFields: undefined,
    },
    type: desired.type,
    data: { ...(desired.data ?? {}) },
  };
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function subset(want: Readonly<Record<string, string>>, have: Readonly<Record<string, string>>): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
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
