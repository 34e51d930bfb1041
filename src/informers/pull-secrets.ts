import type { V1ManagedFieldsEntry, V1Secret } from "@kubernetes/client-node";
import { DOCKER_CONFIG_KEY, isManaged } from "../domain/pull-secret.ts";
import type { InternPool } from "./sources.ts";

/**
 * The field manager prefix of every eatr write (`eatr/<identity>`, src/controller.ts): managedFields
 * entries of such managers are eatr's own writes.
 */
export const EATR_FIELD_MANAGER_PREFIX = "eatr/";

/**
 * A pull secret as the metadata-only cache keeps it: its metadata (never its type, data or immutable,
 * which a PartialObjectMetadata does not carry), and what its managedFields said about its contents.
 */
export interface CachedPullSecret extends V1Secret {
  /**
   * True when the secret's managedFields show that an eatr field manager set its `.dockerconfigjson` and
   * no other manager set any of its data or immutable (its type is immutable and necessarily the one eatr
   * writes, see contentsSetOnlyByEatr): its contents are then what eatr wrote
   * together with its eatr/* annotations (every eatr write sets both at once). False otherwise (edited by
   * hand, someone else's secret, managedFields reset): the reconciler reads the secret before deciding.
   */
  readonly contentsByEatr: boolean;
}

/**
 * Whether managedFields prove that only eatr set a secret's contents (see CachedPullSecret). An Update
 * moves ownership of each changed field to the writer and takes it from everyone else, so a hand edit of
 * the data shows as another manager owning `f:data.f:.dockerconfigjson` until eatr rewrites it. (Removing
 * a key leaves no owner behind, but a pull secret's only key cannot be removed: the API server requires
 * `.dockerconfigjson` in a kubernetes.io/dockerconfigjson secret, and its type is immutable.)
 */
export function contentsSetOnlyByEatr(entries: readonly V1ManagedFieldsEntry[] | undefined): boolean {
  let eatrSetData = false;
  for (const entry of entries ?? []) {
    const fields: unknown = entry.fieldsV1;
    if (!isRecord(fields)) continue;
    const data = fields["f:data"];
    if (entry.manager?.startsWith(EATR_FIELD_MANAGER_PREFIX) === true) {
      if (isRecord(data) && `f:${DOCKER_CONFIG_KEY}` in data) eatrSetData = true;
      continue;
    }
    // "." is the map's own entry, no value. f:type is not checked: a Secret's type is immutable, and eatr
    // can only have written `.dockerconfigjson` into a kubernetes.io/dockerconfigjson secret (its update
    // sends that type), so whoever created it set the type eatr wants (an adopted Go eatr secret's creator
    // keeps owning it).
    if (isRecord(data) && Object.keys(data).some((k) => k !== ".")) return false;
    if ("f:immutable" in fields || "f:stringData" in fields) return false;
  }
  return eatrSetData;
}

/**
 * What the cache keeps of a pull secret (a PartialObjectMetadata, or a whole Secret from a server that
 * ignored the metadata-only Accept header): its metadata without managedFields and creationTimestamp,
 * labels and annotations shared between secrets of one registry, and contentsByEatr. Data, type and
 * immutable are never kept. A secret without eatr's label (a same-named secret of someone else, seen by a
 * per-registry watch) keeps no annotations either: nothing is ever written from its cached metadata (eatr
 * reads it first), and its annotations may quote its data (kubectl's last-applied-configuration).
 * `namespaceName` returns the namespace cache's copy of a namespace's name, so the string is shared.
 */
export function trimPullSecret(
  secret: V1Secret,
  pool: InternPool,
  namespaceName: (namespace: string) => string | undefined = () => undefined,
): CachedPullSecret {
  const m = secret.metadata ?? {};
  const name = pool.intern(m.name) ?? "";
  const namespace = m.namespace === undefined ? undefined : (namespaceName(m.namespace) ?? m.namespace);
  const managed = isManaged(secret);
  return {
    metadata: {
      ...m,
      managedFields: undefined,
      // Never read, and an update keeps it whether sent or not.
      creationTimestamp: undefined,
      name,
      namespace,
      labels: pool.sharedRecord(`${name}\u0000labels`, m.labels),
      annotations: managed ? pool.sharedRecord(`${name}\u0000annotations`, m.annotations) : undefined,
    },
    contentsByEatr: managed && contentsSetOnlyByEatr(m.managedFields),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
