import { createHash } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { isSeedSecret } from "../domain/pull-secret.ts";
import type { Contents } from "./verdict.ts";

/** What is remembered of one secret read with a GET: never its data, a 16-hex digest of it. */
interface Entry {
  readonly resourceVersion: string;
  readonly digest: string;
  readonly seedShaped: boolean;
  readonly immutable: boolean;
}

/**
 * What eatr learnt of pull secrets' contents by reading them (GET), per secret and at the resourceVersion
 * read: a digest of type and data, whether they are in the original eatr's format, and immutable. The
 * metadata-only cache then decides on a secret whose managedFields show someone else's hand in it (a
 * same-named secret of someone else, an immutable one, data co-owned by an apply) without reading it again
 * on every reconcile; a new resourceVersion means a new read. Bounded: when full it starts over, which only
 * costs reads.
 */
export class KnownContents {
  private readonly entries = new Map<string, Entry>();
  private readonly max: number;

  constructor(options: { max?: number } = {}) {
    this.max = options.max ?? 10_000;
  }

  /** Remembers a secret just read whole (its metadata.resourceVersion is the version read). */
  remember(secret: V1Secret): void {
    const resourceVersion = secret.metadata?.resourceVersion;
    if (resourceVersion === undefined || resourceVersion === "") return;
    const key = keyOf(secret.metadata?.namespace ?? "", secret.metadata?.name ?? "");
    if (this.entries.size >= this.max && !this.entries.has(key)) this.entries.clear();
    this.entries.set(key, {
      resourceVersion,
      digest: contentsDigest(secret),
      seedShaped: isSeedSecret(secret, secret.metadata?.name ?? ""),
      immutable: secret.immutable === true,
    });
  }

  /**
   * The Contents of namespace/name against desired, when it was read at exactly resourceVersion;
   * undefined otherwise (an entry of another version is dropped).
   */
  at(
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
    desired: V1Secret | undefined,
  ): Contents | undefined {
    const key = keyOf(namespace, name);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (resourceVersion === undefined || entry.resourceVersion !== resourceVersion) {
      this.entries.delete(key);
      return undefined;
    }
    return {
      asDesired: desired !== undefined && contentsDigest(desired) === entry.digest,
      seedShaped: entry.seedShaped,
      immutable: entry.immutable,
    };
  }

  forget(namespace: string, name: string): void {
    this.entries.delete(keyOf(namespace, name));
  }

  get size(): number {
    return this.entries.size;
  }
}

/** A short digest of a secret's type and data (keys sorted). */
export function contentsDigest(secret: V1Secret): string {
  const hash = createHash("sha256");
  hash.update(`${secret.type ?? ""}\u0000`);
  const data = secret.data ?? {};
  for (const key of Object.keys(data).sort()) hash.update(`${key}\u0000${data[key] ?? ""}\u0000`);
  return hash.digest("hex").slice(0, 16);
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
