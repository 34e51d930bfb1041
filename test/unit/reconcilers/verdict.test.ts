import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { MANAGED_BY_LABEL } from "../../../src/domain/pull-secret.ts";
import { decide } from "../../../src/reconcilers/verdict.ts";
import { b64, desired, HOST, seedSecret, stored, token } from "../support/pull-secrets.ts";

describe("decide (the verdict table)", () => {
  const foreign: V1Secret = {
    metadata: { name: HOST, namespace: "team-a", resourceVersion: "3" },
    type: "Opaque",
    data: { a: b64("b") },
  };
  const rows: {
    name: string;
    desired: V1Secret | undefined;
    actual: V1Secret | undefined;
    kind: string;
    adopt?: boolean;
    reason?: string;
  }[] = [
    { name: "wanted, absent → create", desired: desired(), actual: undefined, kind: "create" },
    {
      name: "wanted, ours and current → unchanged",
      desired: desired(),
      actual: stored(desired()),
      kind: "unchanged",
    },
    {
      name: "wanted, ours with an old token → update",
      desired: desired("p2"),
      actual: stored(desired("p1")),
      kind: "update",
      adopt: false,
    },
    {
      name: "wanted, ours with data edited by hand → update",
      desired: desired(),
      actual: { ...stored(desired()), data: { ".dockerconfigjson": b64("{}"), extra: b64("x") } },
      kind: "update",
      adopt: false,
    },
    {
      name: "wanted, ours with an annotation removed by hand → update",
      desired: desired(),
      actual: { ...stored(desired()), metadata: { ...stored(desired()).metadata, annotations: {} } },
      kind: "update",
      adopt: false,
    },
    {
      name: "wanted, someone else's secret → conflict",
      desired: desired(),
      actual: foreign,
      kind: "conflict",
    },
    {
      name: "wanted, the Go eatr's unlabelled secret → update (adopt)",
      desired: desired(),
      actual: seedSecret({ auths: { [`https://${HOST}`]: { auth: token("old") } } }),
      kind: "update",
      adopt: true,
    },
    {
      name: "wanted, dockerconfigjson with credentials of another registry → conflict",
      desired: desired(),
      actual: seedSecret({ auths: { "https://ghcr.io": { auth: b64("u:p") } } }),
      kind: "conflict",
    },
    {
      name: "wanted, dockerconfigjson with username/password too → conflict",
      desired: desired(),
      actual: seedSecret({
        auths: { [`https://${HOST}`]: { auth: token("x"), username: "AWS", password: "x" } },
      }),
      kind: "conflict",
    },
    { name: "not wanted, ours → delete", desired: undefined, actual: stored(desired()), kind: "delete" },
    {
      name: "not wanted, a user's secret that carries our label → conflict (never deleted)",
      desired: undefined,
      actual: {
        metadata: { name: "db-password", namespace: "team-a", labels: { [MANAGED_BY_LABEL]: "eatr" } },
        type: "Opaque",
        data: { password: b64("x") },
      },
      kind: "conflict",
      reason: "unproven",
    },
    {
      name: "not wanted, a copy of our pull secret under another name → conflict (never deleted)",
      desired: undefined,
      actual: { ...stored(desired()), metadata: { ...stored(desired()).metadata, name: "my-copy" } },
      kind: "conflict",
      reason: "unproven",
    },
    {
      name: "not wanted, ours with data edited to hold more → conflict (never deleted)",
      desired: undefined,
      actual: { ...stored(desired()), data: { ".dockerconfigjson": b64("{}"), extra: b64("x") } },
      kind: "conflict",
      reason: "unproven",
    },
    {
      name: "wanted, ours but immutable with an old token → conflict (an update would be refused)",
      desired: desired("p2"),
      actual: { ...stored(desired("p1")), immutable: true },
      kind: "conflict",
      reason: "immutable",
    },
    {
      name: "wanted, ours, immutable and current → unchanged",
      desired: desired(),
      actual: { ...stored(desired()), immutable: true },
      kind: "unchanged",
    },
    {
      name: "not wanted, someone else's → unchanged",
      desired: undefined,
      actual: foreign,
      kind: "unchanged",
    },
    { name: "not wanted, absent → unchanged", desired: undefined, actual: undefined, kind: "unchanged" },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const verdict = decide(row.desired, row.actual);
      assert.equal(verdict.kind, row.kind);
      if (verdict.kind === "update") assert.equal(verdict.adopt, row.adopt);
      if (verdict.kind === "conflict") assert.equal(verdict.reason, row.reason ?? "unmanaged");
    });
  }

  it("an update keeps others' labels and annotations, sets ours, keeps resourceVersion for optimistic locking", () => {
    const actual = stored(desired("p1"));
    actual.metadata = {
      ...actual.metadata,
      annotations: { ...actual.metadata?.annotations, "their/note": "keep" },
    };
    const verdict = decide(desired("p2"), actual);
    assert.equal(verdict.kind, "update");
    assert.equal(verdict.secret.metadata?.resourceVersion, "41");
    assert.equal(verdict.secret.metadata?.labels?.team, "a");
    assert.equal(verdict.secret.metadata?.labels?.[MANAGED_BY_LABEL], "eatr");
    assert.equal(verdict.secret.metadata?.annotations?.["their/note"], "keep");
    assert.deepEqual(verdict.secret.data, desired("p2").data);
    assert.equal(
      actual.data?.[".dockerconfigjson"],
      desired("p1").data?.[".dockerconfigjson"],
      "the cached object is not mutated",
    );
  });

  it("an adoption adds our label to the Go eatr's secret", () => {
    const verdict = decide(desired(), seedSecret({ auths: { [`https://${HOST}`]: { auth: token("old") } } }));
    assert.equal(verdict.kind, "update");
    assert.equal(verdict.secret.metadata?.labels?.[MANAGED_BY_LABEL], "eatr");
  });
});
