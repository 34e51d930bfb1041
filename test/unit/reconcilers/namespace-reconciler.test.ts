import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Namespace, V1ObjectReference, V1Secret } from "@kubernetes/client-node";
import { TokenCache, TokenPendingError, type CachedToken } from "../../../src/ecr/token-cache.ts";
import type { AuthorizationToken, TokenProvider, TokenRequest } from "../../../src/ecr/token-provider.ts";
import { NamespaceReconciler, ReconcileError } from "../../../src/reconcilers/namespace-reconciler.ts";
import { MANAGED_BY_LABEL } from "../../../src/reconcilers/pull-secret.ts";
import type { PullSecretWriter } from "../../../src/reconcilers/secret-writer.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const A = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const B = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
const b64 = (s: string) => Buffer.from(s).toString("base64");

class Provider implements TokenProvider {
  calls: TokenRequest[] = [];
  fail: Error | undefined;
  getAuthorizationToken(request: TokenRequest): Promise<AuthorizationToken> {
    this.calls.push(request);
    if (this.fail) return Promise.reject(this.fail);
    return Promise.resolve({
      authorizationToken: b64(`AWS:pw-${this.calls.length}`),
      expiresAtMs: Date.UTC(2026, 0, 1, 12),
    });
  }
}

/**
 * A real TokenCache whose get() waits out TokenPendingError (the provider here settles on the next turn),
 * standing in for the controller's re-queue on onSettled: these tests are about the reconciler.
 */
class SettlingTokenCache extends TokenCache {
  override async get(...args: Parameters<TokenCache["get"]>): Promise<CachedToken> {
    for (;;) {
      try {
        return await super.get(...args);
      } catch (err) {
        if (!(err instanceof TokenPendingError)) throw err;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }
}

/** An in-memory API: writes land in `secrets`, which also serves as the managed-secret cache. */
class FakeWriter implements PullSecretWriter {
  secrets = new Map<string, V1Secret>();
  writes: string[] = [];
  private rv = 1;
  create(secret: V1Secret): Promise<void> {
    const key = `${secret.metadata?.namespace ?? ""}/${secret.metadata?.name ?? ""}`;
    this.writes.push(`create ${key}`);
    if (this.secrets.has(key)) return Promise.reject(Object.assign(new Error("exists"), { code: 409 }));
    const stored = {
      ...secret,
      metadata: { ...secret.metadata, resourceVersion: String(this.rv++), uid: key },
    };
    this.secrets.set(key, stored);
    return Promise.resolve();
  }
  update(secret: V1Secret): Promise<void> {
    const key = `${secret.metadata?.namespace ?? ""}/${secret.metadata?.name ?? ""}`;
    this.writes.push(`update ${key}`);
    const stored = { ...secret, metadata: { ...secret.metadata, resourceVersion: String(this.rv++) } };
    this.secrets.set(key, stored);
    return Promise.resolve();
  }
  delete(secret: V1Secret): Promise<void> {
    const key = `${secret.metadata?.namespace ?? ""}/${secret.metadata?.name ?? ""}`;
    this.writes.push(`delete ${key}`);
    this.secrets.delete(key);
    return Promise.resolve();
  }
  read(namespace: string, name: string): Promise<V1Secret | undefined> {
    return Promise.resolve(this.secrets.get(`${namespace}/${name}`));
  }
}

function setup() {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const provider = new Provider();
  const writer = new FakeWriter();
  const namespaces = new Map<string, V1Namespace>();
  const credentials = new Map<string, V1Secret>();
  const events: { obj: V1ObjectReference; reason: string; message: string }[] = [];
  const logs: string[] = [];
  const log = (obj: object, msg: string) => logs.push(`${msg} ${JSON.stringify(obj)}`);
  const tokens = new SettlingTokenCache({
    provider,
    clock,
    renewalIntervalMs: 6 * 3_600_000,
    safetyMarginMs: 3_600_000,
    onRefreshDue: () => undefined,
  });
  const reconciler = new NamespaceReconciler({
    caches: {
      managedSecret: (ns, name) => {
        const s = writer.secrets.get(`${ns}/${name}`);
        return s?.metadata?.labels?.[MANAGED_BY_LABEL] === "eatr" ? s : undefined;
      },
      namespace: (n) => namespaces.get(n),
      credentialSecret: (n) => credentials.get(n),
      managedSecrets: (ns) =>
        [...writer.secrets.entries()]
          .filter(([k, s]) => k.startsWith(`${ns}/`) && s.metadata?.labels?.[MANAGED_BY_LABEL] === "eatr")
          .map(([, s]) => s),
    },
    tokens,
    writer,
    events: { record: (obj, _type, reason, message) => events.push({ obj, reason, message }) },
    hostNamespace: "ci-cd",
    credentialsSecretPrefix: "eatr-aws-credentials",
    logger: { debug: log, info: log, warn: log },
  });
  const addNamespace = (name: string, labels: Record<string, string>, phase = "Active") =>
    namespaces.set(name, { metadata: { name, uid: `uid-${name}`, labels }, status: { phase } });
  const addCredentials = (host: string, secret = "s3cr3t-key") =>
    credentials.set(`eatr-aws-credentials-${host}`, {
      metadata: { name: `eatr-aws-credentials-${host}`, namespace: "ci-cd", uid: `cred-${host}` },
      data: { aws_access_key_id: b64("AKIAEXAMPLE"), aws_secret_access_key: b64(secret) },
    });
  return {
    clock,
    provider,
    writer,
    namespaces,
    credentials,
    events,
    logs,
    reconciler,
    addNamespace,
    addCredentials,
  };
}

describe("NamespaceReconciler", () => {
  it("creates one secret per requested registry, then does nothing on a repeat", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addCredentials(B);
    t.addNamespace("team-a", {
      [A]: "true",
      [B]: "true",
      unrelated: "x",
      "999999999999.dkr.ecr.eu-west-1.amazonaws.com": "yes",
    });
    await t.reconciler.reconcile("team-a");
    assert.deepEqual(t.writer.writes.sort(), [`create team-a/${A}`, `create team-a/${B}`]);
    assert.equal(t.provider.calls.length, 2);
    await t.reconciler.reconcile("team-a");
    assert.equal(t.writer.writes.length, 2, "unchanged: no API call");
    assert.equal(t.provider.calls.length, 2, "tokens come from the cache");
  });

  it("serves many namespaces with one ECR call per registry", async () => {
    const t = setup();
    t.addCredentials(A);
    for (let i = 0; i < 50; i++) t.addNamespace(`ns-${i}`, { [A]: "true" });
    await Promise.all(Array.from({ length: 50 }, (_, i) => t.reconciler.reconcile(`ns-${i}`)));
    assert.equal(t.provider.calls.length, 1);
    assert.equal(t.writer.writes.length, 50);
  });

  it('deletes only its own secret when the label goes or is not "true"', async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.reconciler.reconcile("team-a");
    t.writer.secrets.set("team-a/other", {
      metadata: { name: "other", namespace: "team-a" },
      type: "Opaque",
    });
    t.addNamespace("team-a", { [A]: "false" });
    await t.reconciler.reconcile("team-a");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`, `delete team-a/${A}`]);
    assert.ok(t.writer.secrets.has("team-a/other"));
  });

  it("leaves a foreign same-named secret untouched and records a SecretConflict event", async () => {
    const t = setup();
    t.addCredentials(A);
    t.writer.secrets.set(`team-a/${A}`, {
      metadata: { name: A, namespace: "team-a", resourceVersion: "9" },
      type: "Opaque",
      data: { x: b64("y") },
    });
    t.addNamespace("team-a", { [A]: "true" });
    await t.reconciler.reconcile("team-a");
    await t.reconciler.reconcile("team-a");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`], "one create attempt (409), then reads only");
    assert.equal(t.writer.secrets.get(`team-a/${A}`)?.metadata?.resourceVersion, "9");
    assert.deepEqual(
      t.events.map((e) => e.reason),
      ["SecretConflict", "SecretConflict"],
    );
  });

  it("skips terminating namespaces", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("gone", { [A]: "true" }, "Terminating");
    await t.reconciler.reconcile("gone");
    await t.reconciler.reconcile("never-existed");
    assert.deepEqual(t.writer.writes, []);
    assert.equal(t.provider.calls.length, 0);
  });

  it("keeps the existing secret and reports when credentials are missing or malformed", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.reconciler.reconcile("team-a");
    t.credentials.clear();
    await t.reconciler.reconcile("team-a");
    assert.equal(t.events.at(-1)?.reason, "CredentialsMissing");
    assert.equal(t.events.at(-1)?.obj.kind, "Namespace");
    t.credentials.set(`eatr-aws-credentials-${A}`, {
      metadata: { name: `eatr-aws-credentials-${A}`, namespace: "ci-cd" },
      data: {},
    });
    await t.reconciler.reconcile("team-a");
    assert.equal(t.events.at(-1)?.reason, "InvalidCredentials");
    assert.equal(t.events.at(-1)?.obj.kind, "Secret");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`], "the existing pull secret is kept");
  });

  it("throws for ECR failures (to be retried) without touching the existing secret or other registries", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addCredentials(B, "other-secret");
    t.addNamespace("team-a", { [A]: "true" });
    await t.reconciler.reconcile("team-a");
    t.addCredentials(A, "rotated"); // new credentials version: the cached token is not used
    t.addNamespace("team-a", { [A]: "true", [B]: "true" });
    t.provider.fail = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    await assert.rejects(
      t.reconciler.reconcile("team-a"),
      (err: unknown) => err instanceof ReconcileError && /Rate exceeded/.test(err.message),
    );
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`]);
    for (const line of [...t.logs, ...t.events.map((e) => e.message)]) {
      assert.ok(
        !line.includes("s3cr3t") && !line.includes("rotated") && !line.includes("pw-"),
        `no secret in: ${line}`,
      );
    }
  });

  it("re-mints when the credentials change and updates in place", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.reconciler.reconcile("team-a");
    t.addCredentials(A, "rotated");
    await t.reconciler.reconcile("team-a");
    assert.equal(t.provider.calls.length, 2);
    assert.equal(t.provider.calls[1]?.credentials.secretAccessKey, "rotated");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`, `update team-a/${A}`]);
  });
});
