import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { InternPool, trimSecret } from "../../../src/informers/sources.ts";

describe("InternPool", () => {
  it("returns the pooled value for equal strings and stays within its bound", () => {
    const pool = new InternPool(3);
    assert.equal(pool.intern("a".repeat(10)), "a".repeat(10));
    pool.intern("a".repeat(10));
    assert.equal(pool.size, 1, "an equal string is not added twice");
    pool.intern("b");
    pool.intern("c");
    assert.equal(pool.size, 3);
    pool.intern("d");
    assert.equal(pool.size, 1, "a full pool starts over");
    assert.equal(pool.intern(undefined as string | undefined), undefined);
    assert.deepEqual(pool.record({ k: "v" }), { k: "v" });
    assert.equal(pool.record(undefined), undefined);
  });
});

describe("trimSecret", () => {
  it("drops managedFields and keeps everything an update sends back", () => {
    const secret: V1Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "r",
        namespace: "a",
        uid: "u",
        resourceVersion: "7",
        labels: { "app.kubernetes.io/managed-by": "eatr" },
        annotations: { "eatr/registry": "r", other: "x" },
        finalizers: ["someone/else"],
        ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "o", uid: "o1" }],
        managedFields: [{ manager: "eatr", operation: "Update" }],
      },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": "e30=" },
    };
    const trimmed = trimSecret(secret, new InternPool());
    const { managedFields, ...rest } = secret.metadata ?? {};
    assert.ok(managedFields);
    assert.deepEqual(JSON.parse(JSON.stringify(trimmed)), { ...secret, metadata: rest });
    assert.ok(secret.metadata?.managedFields, "the received object is not mutated");
  });
});
