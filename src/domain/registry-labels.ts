/**
 * What a namespace's registry labels mean: a label whose key is an ECR registry host and whose value is
 * exactly "true" asks for that registry's pull secret (the original eatr's contract). Pure functions.
 */
import type { V1Namespace } from "@kubernetes/client-node";
import { parseRegistryHost, type RegistryHost } from "../ecr/registry-host.ts";

/** The only label value that opts a namespace in. */
export const OPT_IN_VALUE = "true";

/** The registries a namespace asks for: label keys that are ECR hosts, with the value exactly "true". */
export function requestedRegistries(ns: V1Namespace): RegistryHost[] {
  const out: RegistryHost[] = [];
  for (const [key, value] of Object.entries(ns.metadata?.labels ?? {})) {
    if (value !== OPT_IN_VALUE) continue;
    const registry = parseRegistryHost(key);
    if (registry) out.push(registry);
  }
  return out;
}

/** Values people write for "yes" that do not opt in: only the exact "true" does. */
const LOOKS_LIKE_YES = new Set(["true", "yes", "y", "1", "on", "enabled"]);

/** A registry label whose value looks like "yes" but is not exactly "true", so it is ignored. */
export interface NearMissLabel {
  readonly key: string;
  readonly value: string;
}

/** The registry labels of a namespace that are ignored although they look like an opt-in (True, YES, 1…). */
export function nearMissLabels(ns: V1Namespace): NearMissLabel[] {
  const out: NearMissLabel[] = [];
  for (const [key, value] of Object.entries(ns.metadata?.labels ?? {})) {
    if (value === OPT_IN_VALUE || !LOOKS_LIKE_YES.has(value.trim().toLowerCase())) continue;
    if (parseRegistryHost(key)) out.push({ key, value });
  }
  return out;
}
