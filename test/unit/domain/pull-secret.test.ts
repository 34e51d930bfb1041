import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import {
  ANNOTATIONS,
  buildPullSecret,
  isOwnedPullSecret,
  isSeedSecret,
  MANAGED_BY_LABEL,
  recordedToken,
} from "../../../src/domain/pull-secret.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import { b64, desired, HOST, seedSecret, stored, T0, token } from "../support/pull-secrets.ts";

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

describe("isOwnedPullSecret (the proof needed before a delete)", () => {
  const ours = stored(desired());
  const rows: { name: string; secret: V1Secret; owned: boolean }[] = [
    { name: "what eatr wrote", secret: ours, owned: true },
    {
      name: "without our label",
      secret: { ...ours, metadata: { ...ours.metadata, labels: { team: "a" } } },
      owned: false,
    },
    {
      name: "under a name that is no registry host",
      secret: { ...ours, metadata: { ...ours.metadata, name: "copy" } },
      owned: false,
    },
    {
      name: "named after another registry than its annotation",
      secret: {
        ...ours,
        metadata: { ...ours.metadata, name: "210987654321.dkr.ecr.us-east-1.amazonaws.com" },
      },
      owned: false,
    },
    {
      name: "without the registry annotation",
      secret: { ...ours, metadata: { ...ours.metadata, annotations: {} } },
      owned: false,
    },
    { name: "of another type", secret: { ...ours, type: "Opaque" }, owned: false },
    { name: "holding more data", secret: { ...ours, data: { ...ours.data, extra: b64("x") } }, owned: false },
    {
      name: "holding another registry's credentials",
      secret: {
        ...ours,
        data: {
          ".dockerconfigjson": b64(JSON.stringify({ auths: { "https://ghcr.io": { auth: token("x") } } })),
        },
      },
      owned: false,
    },
  ];
  for (const row of rows) {
    it(`${row.owned ? "accepts" : "refuses"} a secret ${row.name}`, () => {
      assert.equal(isOwnedPullSecret(row.secret), row.owned);
    });
  }
});

describe("the pull secret of ECR Public (public.ecr.aws)", () => {
  const publicRegistry = parseRegistryHost("public.ecr.aws") ?? assert.fail("host");
  const built = buildPullSecret({
    namespace: "team-a",
    registry: publicRegistry,
    authorizationToken: token("pub1"),
    fetchedAtMs: T0,
    expiresAtMs: T0 + 12 * 3_600_000,
    credentialsVersion: "abc",
  });

  it("is named public.ecr.aws, its auths key https://public.ecr.aws", () => {
    assert.equal(built.metadata?.name, "public.ecr.aws");
    assert.equal(built.metadata?.annotations?.[ANNOTATIONS.registry], "public.ecr.aws");
    const config = JSON.parse(
      Buffer.from(built.data?.[".dockerconfigjson"] ?? "", "base64").toString(),
    ) as unknown;
    assert.deepEqual(config, { auths: { "https://public.ecr.aws": { auth: token("pub1") } } });
  });

  it("is recognised as ours, and its token read back", () => {
    assert.equal(isOwnedPullSecret(stored(built)), true);
    assert.equal(recordedToken(stored(built), "public.ecr.aws")?.authorizationToken, token("pub1"));
  });

  it("is not adopted from `kubectl create secret docker-registry public.ecr.aws` (someone else's)", () => {
    const theirs: V1Secret = {
      metadata: { name: "public.ecr.aws", namespace: "team-a" },
      type: "kubernetes.io/dockerconfigjson",
      data: {
        ".dockerconfigjson": b64(
          JSON.stringify({
            auths: { "public.ecr.aws": { username: "AWS", password: "pw", auth: token("pw") } },
          }),
        ),
      },
    };
    assert.equal(isSeedSecret(theirs, "public.ecr.aws"), false);
    assert.equal(isOwnedPullSecret(theirs), false);
  });
});
