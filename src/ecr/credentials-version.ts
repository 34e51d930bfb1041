import { createHash } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";

/**
 * A short fingerprint of a credential secret's data: changes when the credentials change, not when only
 * labels or annotations do. Tokens and pull secrets record it so a rotation re-mints and a restart does not.
 */
export function credentialsVersion(secret: V1Secret): string {
  // Cached objects are never mutated (an update replaces them): compute once per object.
  let version = computed.get(secret);
  if (version === undefined) computed.set(secret, (version = compute(secret)));
  return version;
}

const computed = new WeakMap<V1Secret, string>();

function compute(secret: V1Secret): string {
  const data = secret.data ?? {};
  const hash = createHash("sha256");
  for (const key of Object.keys(data).sort()) hash.update(`${key}\u0000${data[key] ?? ""}\u0000`);
  return hash.digest("hex").slice(0, 16);
}
