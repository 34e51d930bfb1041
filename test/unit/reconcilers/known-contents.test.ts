import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { contentsDigest, KnownContents } from "../../../src/reconcilers/known-contents.ts";

const secret = (rv: string, data: Record<string, string>, extra: Partial<V1Secret> = {}): V1Secret => ({
  metadata: { name: "r", namespace: "a", resourceVersion: rv },
  type: "kubernetes.io/dockerconfigjson",
  data,
  ...extra,
});

describe("KnownContents", () => {
  it("knows a read secret's contents at that resourceVersion only, and never keeps its data", () => {
    const known = new KnownContents();
    const read = secret("5", { ".dockerconfigjson": "c2VjcmV0LXRva2Vu" }, { immutable: true });
    known.remember(read);
    assert.deepEqual(known.at("a", "r", "5", read), { asDesired: true, seedShaped: false, immutable: true });
    assert.deepEqual(known.at("a", "r", "5", secret("9", { ".dockerconfigjson": "b3RoZXI=" })), {
      asDesired: false,
      seedShaped: false,
      immutable: true,
    });
    assert.equal(
      JSON.stringify([...(known as unknown as { entries: Map<string, unknown> }).entries]).includes(
        "c2VjcmV0",
      ),
      false,
    );
    assert.equal(known.at("a", "r", "6", read), undefined, "another resourceVersion: unknown");
    assert.equal(known.at("a", "r", "5", read), undefined, "and the stale entry is gone");
  });

  it("stays within its bound", () => {
    const known = new KnownContents({ max: 2 });
    for (const name of ["x", "y", "z"])
      known.remember({ ...secret("1", {}), metadata: { name, namespace: "a", resourceVersion: "1" } });
    assert.ok(known.size <= 2);
  });

  it("digests type and data, not metadata", () => {
    assert.equal(contentsDigest(secret("1", { k: "v" })), contentsDigest(secret("2", { k: "v" })));
    assert.notEqual(contentsDigest(secret("1", { k: "v" })), contentsDigest(secret("1", { k: "w" })));
    assert.notEqual(
      contentsDigest(secret("1", { k: "v" })),
      contentsDigest({ ...secret("1", { k: "v" }), type: "Opaque" }),
    );
    assert.match(contentsDigest(secret("1", {})), /^[0-9a-f]{16}$/);
  });
});
