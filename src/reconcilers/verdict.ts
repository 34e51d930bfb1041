import type { V1Secret } from "@kubernetes/client-node";
import { ANNOTATIONS, isManaged, isOwnedPullSecret, isSeedSecret } from "../domain/pull-secret.ts";
import { parseRegistryHost } from "../ecr/registry-host.ts";

/**
 * Why a pull secret cannot be managed: `unmanaged`, a secret of that name without our label (someone
 * else's); `unproven`, one with our label that eatr cannot prove it wrote (never deleted); `immutable`,
 * ours but made immutable, so its token cannot be renewed.
 */
export type ConflictReason = "unmanaged" | "unproven" | "immutable";

/** What to do with one pull secret. */
export type Verdict =
  | { readonly kind: "create"; readonly secret: V1Secret }
  | { readonly kind: "update"; readonly secret: V1Secret; readonly adopt: boolean }
  | { readonly kind: "unchanged" }
  | { readonly kind: "delete"; readonly secret: V1Secret }
  | { readonly kind: "conflict"; readonly secret: V1Secret; readonly reason: ConflictReason };

/**
 * What decide() needs of an existing secret's contents (type, data, immutable), which the metadata-only
 * cache does not hold. Without it, decide() reads them from the actual secret (one read with a GET).
 */
export interface Contents {
  /** Its type and data equal the desired secret's. */
  readonly asDesired: boolean;
  /** Its type and data are exactly the original eatr's format for its name (isSeedSecret). */
  readonly seedShaped: boolean;
  readonly immutable: boolean;
}

/**
 * Compares the desired pull secret (undefined: the namespace no longer asks for this registry) with the
 * actual one (undefined: none exists) and names the action. `contents` summarises the actual secret's
 * type, data and immutable when `actual` is metadata only; otherwise they are read from `actual`. Pure:
 * no I/O, no clock.
 */
export function decide(
  desired: V1Secret | undefined,
  actual: V1Secret | undefined,
  contents?: Contents,
): Verdict {
  if (desired === undefined) {
    if (actual === undefined || !isManaged(actual)) return { kind: "unchanged" };
    // Deleting data needs positive proof that eatr wrote it; the label alone is not enough.
    const owned =
      contents === undefined ? isOwnedPullSecret(actual) : contents.seedShaped && namedByEatr(actual);
    return owned
      ? { kind: "delete", secret: actual }
      : { kind: "conflict", secret: actual, reason: "unproven" };
  }
  if (actual === undefined) return { kind: "create", secret: desired };
  const managed = isManaged(actual);
  if (!managed && !(contents?.seedShaped ?? isSeedSecret(actual, desired.metadata?.name ?? "")))
    return { kind: "conflict", secret: actual, reason: "unmanaged" };
  const asDesired = contents?.asDesired ?? sameContents(desired, actual);
  if (managed && asDesired && matches(desired, actual)) return { kind: "unchanged" };
  // The API server refuses every update of an immutable secret's data (HTTP 422): don't try.
  if (contents?.immutable ?? actual.immutable === true)
    return { kind: "conflict", secret: actual, reason: "immutable" };
  return { kind: "update", secret: merge(desired, actual), adopt: !managed };
}

/** The Contents of a whole secret (from a GET) against the desired one. */
export function contentsOf(actual: V1Secret, desired: V1Secret | undefined): Contents {
  return {
    asDesired: desired !== undefined && sameContents(desired, actual),
    seedShaped: isSeedSecret(actual, actual.metadata?.name ?? ""),
    immutable: actual.immutable === true,
  };
}

/** The metadata half of isOwnedPullSecret: named after an ECR host, and eatr/registry says that host. */
function namedByEatr(actual: V1Secret): boolean {
  const name = actual.metadata?.name ?? "";
  return (
    parseRegistryHost(name)?.host === name && actual.metadata?.annotations?.[ANNOTATIONS.registry] === name
  );
}

/** True when type and data are the desired ones. */
function sameContents(desired: V1Secret, actual: V1Secret): boolean {
  return actual.type === desired.type && sameRecord(desired.data ?? {}, actual.data ?? {});
}

/** True when every label and annotation eatr sets has the desired value (others' are ignored). */
function matches(desired: V1Secret, actual: V1Secret): boolean {
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
