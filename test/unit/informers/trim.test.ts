import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Namespace, V1Secret } from "@kubernetes/client-node";
import { InternPool, trimNamespace, trimSecret } from "../../../src/informers/sources.ts";
import { requestedRegistries } from "../../../src/domain/registry-labels.ts";
import { parseLabelSelector } from "../../../src/domain/label-selector.ts";
import { RegistryPolicy } from "../../../src/domain/registry-policy.ts";

describe("InternPool", () => {
  it("holds each distinct string once and stays within its bound", () => {
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

  it("shares the labels, annotations and data objects of equal secrets of one registry", () => {
    const pool = new InternPool();
    const secret = (namespace: string, token: string): V1Secret => ({
      metadata: {
        name: "r.dkr.ecr.eu-west-1.amazonaws.com",
        namespace,
        labels: { "app.kubernetes.io/managed-by": "eatr" },
        annotations: { "eatr/registry": "r", "eatr/token-fetched-at": token },
      },
      data: { ".dockerconfigjson": token },
    });
    const a = trimSecret(secret("a", "t1"), pool);
    const b = trimSecret(secret("b", "t1"), pool);
    const c = trimSecret(secret("c", "t2"), pool);
    assert.equal(a.data, b.data);
    assert.equal(a.metadata?.annotations, b.metadata?.annotations);
    assert.equal(a.metadata?.labels, c.metadata?.labels);
    assert.notEqual(b.data, c.data, "another token: another object");
    assert.deepEqual(c.data, { ".dockerconfigjson": "t2" });
    assert.deepEqual(c.metadata?.annotations, { "eatr/registry": "r", "eatr/token-fetched-at": "t2" });
    assert.equal(c.metadata?.namespace, "c");
  });
});

describe("trimNamespace", () => {
  const host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
  const ns = (name: string, labels: Record<string, string>, phase?: string): V1Namespace => ({
    metadata: {
      name,
      uid: `u-${name}`,
      resourceVersion: "1",
      labels: { ...labels, "kubernetes.io/metadata.name": name },
      annotations: { note: "x" },
      managedFields: [{ manager: "kubectl" }],
    },
    spec: { finalizers: ["kubernetes"] },
    ...(phase === undefined ? {} : { status: { phase } }),
  });

  it("keeps only registry labels (any value), name, uid, resourceVersion and phase", () => {
    const pool = new InternPool();
    const t = trimNamespace(
      ns(
        "a",
        { [host]: "true", team: "x", "222222222222.dkr.ecr.us-east-1.amazonaws.com": "false" },
        "Active",
      ),
      pool,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(t)), {
      metadata: {
        name: "a",
        uid: "u-a",
        resourceVersion: "1",
        labels: { [host]: "true", "222222222222.dkr.ecr.us-east-1.amazonaws.com": "false" },
      },
      status: { phase: "Active" },
    });
    assert.deepEqual(
      requestedRegistries(t).map((r) => r.host),
      [host],
    );
    const none = trimNamespace(ns("b", { team: "y" }), pool);
    assert.equal(none.metadata?.labels, undefined);
    assert.equal(
      none.status?.phase,
      undefined,
      "a missing phase stays missing (the reconciler reads it as Active)",
    );
  });

  it("with namespaceSelectors, also keeps the labels they read (and the policy serves from them)", () => {
    const policy = new RegistryPolicy({
      registries: [{ host, namespaceSelector: parseLabelSelector("team in (x),!no-ecr") }],
      restrictToDeclared: false,
    });
    const t = trimNamespace(ns("a", { team: "x", other: "y", "no-ecr-2": "" }), new InternPool(), (key) =>
      policy.keepsLabel(key),
    );
    assert.deepEqual(t.metadata?.labels, { team: "x" });
    assert.deepEqual(
      policy.wanted(t).map((r) => r.host),
      [host],
      "the trimmed namespace is served as the full one",
    );
    const optedOut = trimNamespace(ns("b", { team: "x", "no-ecr": "" }), new InternPool(), (key) =>
      policy.keepsLabel(key),
    );
    assert.deepEqual(optedOut.metadata?.labels, { team: "x", "no-ecr": "" });
    assert.deepEqual(policy.wanted(optedOut), []);
  });

  it("keeps the public.ecr.aws label (ECR Public) and drops its look-alikes", () => {
    const t = trimNamespace(
      ns("p", { "public.ecr.aws": "true", "public.ecr.aws.evil.com": "true", "x.public.ecr.aws": "true" }),
      new InternPool(),
    );
    assert.deepEqual(t.metadata?.labels, { "public.ecr.aws": "true" });
    assert.deepEqual(
      requestedRegistries(t).map((r) => [r.host, r.kind]),
      [["public.ecr.aws", "public"]],
    );
  });

  it("shares labels and status objects between namespaces asking for the same registries", () => {
    const pool = new InternPool();
    const a = trimNamespace(ns("a", { [host]: "true" }, "Active"), pool);
    const b = trimNamespace(ns("b", { [host]: "true" }, "Active"), pool);
    assert.equal(a.metadata?.labels, b.metadata?.labels);
    assert.equal(a.status, b.status);
  });
});
