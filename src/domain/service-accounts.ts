/**
 * What eatr does to ServiceAccounts: which ones a namespace selects (annotation `eatr/service-accounts`, or
 * the cluster-wide default), and the imagePullSecrets list it wants on one of them, appending its pull
 * secrets and removing exactly the entries it recorded as its own. Pure functions; nothing here does I/O.
 */
import type { V1LocalObjectReference, V1ServiceAccount } from "@kubernetes/client-node";

/** Namespace annotation selecting the ServiceAccounts that get eatr's pull secrets: default, *, or a,b,c. */
export const SERVICE_ACCOUNTS_ANNOTATION = "eatr/service-accounts";
/** ServiceAccount annotation: "true" means eatr never touches it. */
export const IGNORE_ANNOTATION = "eatr/ignore-service-account";
/**
 * ServiceAccount annotation recording the imagePullSecrets entries eatr added (comma-separated names, sorted).
 * Only these are ever removed; an entry of the same name the user added (not recorded here) stays.
 */
export const ADDED_ANNOTATION = "eatr/added-image-pull-secrets";

/** Which ServiceAccounts of a namespace get the pull secrets. */
export type Selection =
  | { readonly kind: "none" }
  | { readonly kind: "all" }
  | { readonly kind: "names"; readonly names: ReadonlySet<string> };

export const NO_SERVICE_ACCOUNTS: Selection = { kind: "none" };

const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/** What a selection looks like, completing "expected ...". */
export const SELECTION_EXPECTED =
  'empty (none), "*" (every ServiceAccount), or a comma-separated list of ServiceAccount names such as "default" or "default,builder"';

/**
 * Reads a selection: "" is none, "*" all, otherwise comma-separated ServiceAccount names (spaces around
 * names ignored). Returns an error message for anything else (an empty name, "*" among names, a name that
 * is no DNS-1123 subdomain).
 */
export function parseSelection(text: string): Selection | { readonly error: string } {
  const trimmed = text.trim();
  if (trimmed === "") return NO_SERVICE_ACCOUNTS;
  if (trimmed === "*") return { kind: "all" };
  const names = new Set<string>();
  for (const raw of trimmed.split(",")) {
    const name = raw.trim();
    if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
      return {
        error: `"${name}" is not a ServiceAccount name (lowercase letters, digits, '-' or '.'); expected ${SELECTION_EXPECTED}`,
      };
    }
    names.add(name);
  }
  return { kind: "names", names };
}

/**
 * The selection in force in a namespace: its annotation when present (an empty value opts the namespace
 * out), else the cluster-wide default. An annotation that does not parse yields its error.
 */
export function namespaceSelection(
  annotation: string | undefined,
  clusterDefault: Selection,
): Selection | { readonly error: string } {
  return annotation === undefined ? clusterDefault : parseSelection(annotation);
}

/** True when the ServiceAccount carries eatr/ignore-service-account: "true" (eatr never touches it). */
export function isIgnored(sa: V1ServiceAccount): boolean {
  return sa.metadata?.annotations?.[IGNORE_ANNOTATION] === "true";
}

/** True when the selection covers this ServiceAccount (ignored ones never are). */
export function isSelected(selection: Selection, sa: V1ServiceAccount): boolean {
  if (isIgnored(sa)) return false;
  switch (selection.kind) {
    case "none":
      return false;
    case "all":
      return true;
    case "names":
      return selection.names.has(sa.metadata?.name ?? "");
  }
}

/** The names eatr recorded as added on a ServiceAccount. */
export function addedByEatr(sa: V1ServiceAccount): string[] {
  const raw = sa.metadata?.annotations?.[ADDED_ANNOTATION] ?? "";
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** What a ServiceAccount should carry: its imagePullSecrets and the names eatr added (sorted). */
export interface ImagePullSecretsPlan {
  readonly imagePullSecrets: V1LocalObjectReference[];
  readonly added: string[];
  /** False when the ServiceAccount already matches (list and annotation): no write. */
  readonly changed: boolean;
}

/**
 * The imagePullSecrets a ServiceAccount should have when eatr wants `wanted` (pull secret names) on it:
 * entries eatr added that are no longer wanted are removed (one each: the one eatr appended); wanted names
 * missing from the list are appended in the order given and recorded; everything else keeps its place,
 * including an entry of a wanted name the user put there (it stays the user's: not recorded). Never
 * reorders, duplicates or drops an entry eatr did not add.
 */
export function planImagePullSecrets(sa: V1ServiceAccount, wanted: readonly string[]): ImagePullSecretsPlan {
  const current = sa.imagePullSecrets ?? [];
  const recorded = new Set(addedByEatr(sa));
  const want = new Set(wanted);
  // Remove ours that are no longer wanted: the last entry of that name (eatr appends).
  const drop = new Set<number>();
  for (const name of recorded) {
    if (want.has(name)) continue;
    for (let i = current.length - 1; i >= 0; i--) {
      if (current[i]?.name === name) {
        drop.add(i);
        break;
      }
    }
  }
  const list: V1LocalObjectReference[] = current.filter((_, i) => !drop.has(i));
  const present = new Set(list.map((e) => e.name));
  const added = new Set<string>();
  for (const name of wanted) {
    if (present.has(name)) {
      // Already there: ours if we recorded it, else the user's (left unrecorded, so never removed).
      if (recorded.has(name)) added.add(name);
      continue;
    }
    list.push({ name });
    present.add(name);
    added.add(name);
  }
  const addedSorted = [...added].sort();
  const changed =
    drop.size > 0 ||
    list.length !== current.length ||
    addedSorted.join(",") !== [...recorded].sort().join(",");
  return { imagePullSecrets: list, added: addedSorted, changed };
}

/**
 * The ServiceAccount to write: `live` (as read from the API server, resourceVersion kept for the optimistic
 * lock) with the plan's imagePullSecrets and eatr's annotation set (or removed when eatr added nothing).
 * Does not mutate `live`.
 */
export function applyPlan(live: V1ServiceAccount, plan: ImagePullSecretsPlan): V1ServiceAccount {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(live.metadata?.annotations ?? {}))
    if (k !== ADDED_ANNOTATION) annotations[k] = v;
  if (plan.added.length > 0) annotations[ADDED_ANNOTATION] = plan.added.join(",");
  const out: V1ServiceAccount = {
    ...live,
    metadata: { ...live.metadata, annotations },
  };
  if (plan.imagePullSecrets.length > 0) out.imagePullSecrets = plan.imagePullSecrets;
  else delete out.imagePullSecrets;
  return out;
}
