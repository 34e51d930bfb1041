import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import {
  ANNOTATIONS,
  buildPullSecret,
  decide,
  isSeedSecret,
  MANAGED_BY_LABEL,
  recordedToken,
} from "../../../src/reconcilers/pull-secret.ts";

const HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const registry = parseRegistryHost(HOST) ?? assert.fail("host");
const b64 = (s: string) => Buffer.from(s).toString("base64");
const token = (password: string) => b64(`AWS:${password}`);
const T0 = Date.UTC(2026, 10, 28, 12);

/** expiresAtMs null = ECR gave no expiry. */
const desired = (password = "p1", expiresAtMs: number | null = T0 + 12 * 3_600_000) =>
  buildPullSecret({
    namespace: "team-a",
    registry,
    authorizationToken: token(password),
    fetchedAtMs: T0,
    expiresAtMs: expiresAtMs ?? undefined,
    credentialsVersion: "abc",
  });

/** What the API server returns: our object plus server-set metadata and someone else's label. */
const stored = (s: V1Secret, extra: Record<string, string> = { team: "a" }): V1Secret => ({
  ...s,
  metadata: {
    ...s.metadata,
    uid: "u1",
    resourceVersion: "41",
    labels: { ...(s.metadata?.labels ?? {}), ...extra },
  },
});

const seedSecret = (dockerconfig: unknown, type = "kubernetes.io/dockerconfigjson"): V1Secret => ({
  metadata: { name: HOST, namespace: "team-a", uid: "u2", resourceVersion: "7" },
  type,
  data: { ".dockerconfigjson": b64(JSON.stringify(dockerconfig)) },
});

describe("buildPullSecret", () => {
  it("writes the original eatr's format plus our label and annotations", () => {
    const s = desired();
    const meta = s.metadata ?? assert.fail("metadata");
    assert.equal(meta.name, HOST);
    assert.equal(meta.namespace, "team-a");
    assert.equal(s.type, "kubernetes.io/dockerconfigjson");
    assert.deepEqual(Object.keys(s.data ?? {}), [".dockerconfigjson"]);
    const config = JSON.parse(
      Buffer.from(s.data?.[".dockerconfigjson"] ?? "", "base64").toString(),
    ) as unknown;
    assert.deepEqual(config, { auths: { [`https://${HOST}`]: { auth: token("p1") } } });
    assert.equal(meta.labels?.[MANAGED_BY_LABEL], "eatr");
    assert.equal(meta.annotations?.[ANNOTATIONS.registry], HOST);
    assert.equal(meta.annotations?.[ANNOTATIONS.tokenExpiresAt], "2026-11-29T00:00:00.000Z");
    assert.equal(meta.annotations?.[ANNOTATIONS.tokenFetchedAt], "2026-11-28T12:00:00.000Z");
  });

  it("omits the expiry annotation when ECR gave none", () => {
    assert.equal(desired("p1", null).metadata?.annotations?.[ANNOTATIONS.tokenExpiresAt], undefined);
  });
});

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

describe("isSeedSecret", () => {
  it("rejects other types and extra keys", () => {
    const ok = seedSecret({ auths: { [`https://${HOST}`]: { auth: token("x") } } });
    assert.equal(isSeedSecret(ok, HOST), true);
    assert.equal(isSeedSecret({ ...ok, type: "Opaque" }, HOST), false);
    assert.equal(isSeedSecret({ ...ok, data: { ...ok.data, more: "eA==" } }, HOST), false);
    assert.equal(isSeedSecret({ ...ok, data: { ".dockerconfigjson": b64("not json") } }, HOST), false);
    assert.equal(
      isSeedSecret(seedSecret({ auths: { [`https://${HOST}`]: { auth: b64("user:x") } } }), HOST),
      false,
    );
  });
});

describe("recordedToken", () => {
  it("reads back what buildPullSecret wrote", () => {
    assert.deepEqual(recordedToken(stored(desired()), HOST), {
      authorizationToken: token("p1"),
      fetchedAtMs: T0,
      expiresAtMs: T0 + 12 * 3_600_000,
      credentialsVersion: "abc",
    });
  });

  it("returns undefined for unmanaged or malformed secrets", () => {
    assert.equal(recordedToken(seedSecret({ auths: {} }), HOST), undefined);
    const broken = stored(desired());
    broken.metadata = {
      ...broken.metadata,
      annotations: { ...broken.metadata?.annotations, [ANNOTATIONS.tokenFetchedAt]: "yesterday" },
    };
    assert.equal(recordedToken(broken, HOST), undefined);
  });
});
