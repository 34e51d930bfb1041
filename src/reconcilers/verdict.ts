import type { V1Secret } from "@kubernetes/client-node";
import { ANNOTATIONS, isManaged, isOwnedPullSecret, isSeedSecret } from "../domain/pull-secret.ts";

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
 * Compares the desired pull secret (undefined: the namespace no longer asks for this registry) with the
 * actual one (undefined: none exists) and names the action. Pure: no I/O, no clock.
 */
export function decide(desired: V1Secret | undefined, actual: V1Secret | undefined): Verdict {
  if (desired === undefined) {
    if (actual === undefined || !isManaged(actual)) return { kind: "unchanged" };
    // Deleting data needs positive proof that eatr wrote it; the label alone is not enough.
    return isOwnedPullSecret(actual)
      ? { kind: "delete", secret: actual }
      : { kind: "conflict", secret: actual, reason: "unproven" };
  }
  if (actual === undefined) return { kind: "create", secret: desired };
  const managed = isManaged(actual);
  if (!managed && !isSeedSecret(actual, desired.metadata?.name ?? ""))
    return { kind: "conflict", secret: actual, reason: "unmanaged" };
  if (managed && matches(desired, actual)) return { kind: "unchanged" };
  // The API server refuses every update of an immutable secret's data (HTTP 422): don't try.
  if (actual.immutable === true) return { kind: "conflict", secret: actual, reason: "immutable" };
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
