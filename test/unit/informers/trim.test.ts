import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Namespace, V1Secret } from "@kubernetes/client-node";
import { InternPool, trimNamespace } from "../../../src/informers/sources.ts";
import { contentsSetOnlyByEatr, trimPullSecret } from "../../../src/informers/pull-secrets.ts";
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

describe("trimPullSecret", () => {
  const eatr = {
    manager: "eatr/pod-1",
    operation: "Update",
    fieldsV1: { "f:data": { "f:.dockerconfigjson": {} } },
  };
  it("keeps the metadata an update sends back, never data, type, immutable or managedFields", () => {
    const secret: V1Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "r",
        namespace: "a",
        uid: "u",
        resourceVersion: "7",
        creationTimestamp: new Date(0),
        labels: { "app.kubernetes.io/managed-by": "eatr" },
        annotations: { "eatr/registry": "r", other: "x" },
        finalizers: ["someone/else"],
        ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "o", uid: "o1" }],
        managedFields: [eatr],
      },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": "e30=" },
      immutable: false,
    };
    const trimmed = trimPullSecret(secret, new InternPool());
    const { managedFields, creationTimestamp, ...rest } = secret.metadata ?? {};
    assert.ok(managedFields && creationTimestamp);
    assert.deepEqual(JSON.parse(JSON.stringify(trimmed)), { metadata: rest, contentsByEatr: true });
    assert.ok(secret.metadata?.managedFields, "the received object is not mutated");
  });

  it("shares the labels and annotations objects of equal secrets of one registry", () => {
    const pool = new InternPool();
    const secret = (namespace: string, token: string): V1Secret => ({
      metadata: {
        name: "r.dkr.ecr.eu-west-1.amazonaws.com",
        namespace,
        labels: { "app.kubernetes.io/managed-by": "eatr" },
        annotations: { "eatr/registry": "r", "eatr/token-fetched-at": token },
      },
    });
    const a = trimPullSecret(secret("a", "t1"), pool);
    const b = trimPullSecret(secret("b", "t1"), pool);
    const c = trimPullSecret(secret("c", "t2"), pool);
    assert.equal(a.metadata?.annotations, b.metadata?.annotations);
    assert.equal(a.metadata?.labels, c.metadata?.labels);
    assert.deepEqual(c.metadata?.annotations, { "eatr/registry": "r", "eatr/token-fetched-at": "t2" });
    assert.equal(c.metadata?.namespace, "c");
  });

  it("keeps no annotations of someone else's secret (they may quote its data)", () => {
    const trimmed = trimPullSecret(
      {
        metadata: {
          name: "r",
          namespace: "a",
          annotations: {
            "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"c2VjcmV0"}}',
          },
          managedFields: [eatr],
        },
        data: { password: "c2VjcmV0" },
      },
      new InternPool(),
    );
    assert.equal(trimmed.metadata?.annotations, undefined);
    assert.equal(
      trimmed.contentsByEatr,
      false,
      "not ours: its contents are never trusted from managedFields",
    );
    assert.equal(JSON.stringify(trimmed).includes("c2VjcmV0"), false);
  });
});

describe("contentsSetOnlyByEatr", () => {
  const entry = (manager: string, fieldsV1: object) => ({ manager, operation: "Update", fieldsV1 });
  const cases: [string, ReturnType<typeof entry>[] | undefined, boolean][] = [
    ["eatr set the data", [entry("eatr/a", { "f:data": { "f:.dockerconfigjson": {} }, "f:type": {} })], true],
    [
      "others set only labels or annotations",
      [
        entry("eatr/a", { "f:data": { ".": {}, "f:.dockerconfigjson": {} } }),
        entry("kubectl-label", { "f:metadata": { "f:labels": { "f:team": {} } } }),
      ],
      true,
    ],
    [
      "an earlier eatr pod's entry lost the key to a later one",
      [
        entry("eatr/a", { "f:data": {}, "f:type": {} }),
        entry("eatr/b", { "f:data": { "f:.dockerconfigjson": {} } }),
      ],
      true,
    ],
    [
      "data edited by hand (kubectl edit owns the key)",
      [
        entry("eatr/a", { "f:data": {}, "f:type": {} }),
        entry("kubectl-edit", { "f:data": { "f:.dockerconfigjson": {} } }),
      ],
      false,
    ],
    [
      "a key added by someone else",
      [
        entry("eatr/a", { "f:data": { "f:.dockerconfigjson": {} } }),
        entry("x", { "f:data": { "f:extra": {} } }),
      ],
      false,
    ],
    [
      "made immutable by someone else",
      [entry("eatr/a", { "f:data": { "f:.dockerconfigjson": {} } }), entry("x", { "f:immutable": {} })],
      false,
    ],
    [
      "an adopted secret: its creator still owns the type and the data map's own entry",
      [
        entry("admin", { "f:data": { ".": {} }, "f:type": {} }),
        entry("eatr/a", { "f:data": { "f:.dockerconfigjson": {} }, "f:metadata": {} }),
      ],
      true,
    ],
    ["managedFields reset", [], false],
    ["no managedFields", undefined, false],
    [
      "the Go eatr (manager eatr, no slash)",
      [entry("eatr", { "f:data": { "f:.dockerconfigjson": {} } })],
      false,
    ],
    ["eatr owns no data key", [entry("eatr/a", { "f:metadata": {} })], false],
  ];
  for (const [what, entries, want] of cases) {
    it(`${what}: ${String(want)}`, () => {
      assert.equal(contentsSetOnlyByEatr(entries), want);
    });
  }
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
