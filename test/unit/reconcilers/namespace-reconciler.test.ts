import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Namespace, V1ObjectReference, V1Secret } from "@kubernetes/client-node";
import { ANNOTATIONS, MANAGED_BY_LABEL } from "../../../src/domain/pull-secret.ts";
import { TokenCache, TokenPendingError } from "../../../src/ecr/token-cache.ts";
import type { AuthorizationToken, TokenProvider, TokenRequest } from "../../../src/ecr/token-provider.ts";
import type { CachedPullSecret } from "../../../src/informers/pull-secrets.ts";
import type { PullSecretWriter } from "../../../src/kube/secret-writer.ts";
import { Contests } from "../../../src/reconcilers/contests.ts";
import { CredentialProblems } from "../../../src/reconcilers/credential-problems.ts";
import {
  NamespaceReconciler,
  ReconcileError,
  type Tokens,
} from "../../../src/reconcilers/namespace-reconciler.ts";
import { Notices } from "../../../src/reconcilers/notices.ts";
import { parseLabelSelector } from "../../../src/domain/label-selector.ts";
import { RegistryPolicy } from "../../../src/domain/registry-policy.ts";
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
 * An in-memory API: writes land in `secrets`, which also serves the managed-secret cache as metadata
 * only, as the real one does: contentsByEatr is true for objects stored by eatr's own writes (a test that
 * edits a secret stores a new object, as a hand edit shows in managedFields).
 */
class FakeWriter implements PullSecretWriter {
  secrets = new Map<string, V1Secret>();
  writes: string[] = [];
  reads: string[] = [];
  private readonly ours = new WeakSet<V1Secret>();
  /** When set, every update is refused with this error. */
  failUpdate: Error | undefined;
  /** Secrets deleted on the server while the cache still shows them: their next update answers 404. */
  goneOnServer = new Set<string>();
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
    this.ours.add(stored);
    return Promise.resolve();
  }
  update(secret: V1Secret): Promise<void> {
    const key = `${secret.metadata?.namespace ?? ""}/${secret.metadata?.name ?? ""}`;
    this.writes.push(`update ${key}`);
    if (this.failUpdate) return Promise.reject(this.failUpdate);
    if (this.goneOnServer.delete(key)) {
      this.secrets.delete(key);
      return Promise.reject(Object.assign(new Error("HTTP 404 NotFound"), { code: 404 }));
    }
    const stored = { ...secret, metadata: { ...secret.metadata, resourceVersion: String(this.rv++) } };
    this.secrets.set(key, stored);
    this.ours.add(stored);
    return Promise.resolve();
  }
  delete(secret: V1Secret): Promise<void> {
    const key = `${secret.metadata?.namespace ?? ""}/${secret.metadata?.name ?? ""}`;
    this.writes.push(`delete ${key}`);
    this.secrets.delete(key);
    return Promise.resolve();
  }
  read(namespace: string, name: string): Promise<V1Secret | undefined> {
    this.reads.push(`${namespace}/${name}`);
    return Promise.resolve(this.secrets.get(`${namespace}/${name}`));
  }
  /** What the metadata-only cache holds of a stored secret. */
  cached(secret: V1Secret): CachedPullSecret {
    return { metadata: secret.metadata ?? {}, contentsByEatr: this.ours.has(secret) };
  }
}

/**
 * restricted: the cache is what restricted mode's per-registry watches show, every secret named after a
 * registry host, ours or not; otherwise the label-selected one. writer: the API of an earlier setup (a
 * restart).
 */
function setup(
  options: {
    tokens?: Tokens;
    restricted?: boolean;
    writer?: FakeWriter;
    registryPolicy?: RegistryPolicy;
    /** The API server's namespaces (NamespaceReconcilerOptions.liveNamespace), when they differ from the cache. */
    live?: Map<string, V1Namespace>;
  } = {},
) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const provider = new Provider();
  const writer = options.writer ?? new FakeWriter();
  const inCache = (s: V1Secret) =>
    options.restricted === true
      ? [A, B].includes(s.metadata?.name ?? "")
      : s.metadata?.labels?.[MANAGED_BY_LABEL] === "eatr";
  const namespaces = new Map<string, V1Namespace>();
  const credentials = new Map<string, V1Secret>();
  const events: { obj: V1ObjectReference; type: string; reason: string; message: string }[] = [];
  const logs: string[] = [];
  const warnings: string[] = [];
  /** Registries whose token the cache said was due (a refresh, or the end of a failure backoff). */
  const due: string[] = [];
  const log = (obj: object, msg: string) => logs.push(`${msg} ${JSON.stringify(obj)}`);
  const warn = (obj: object, msg: string) => {
    warnings.push(msg);
    log(obj, msg);
  };
  const recorder = {
    record: (obj: V1ObjectReference, type: string, reason: string, message: string) =>
      events.push({ obj, type, reason, message }),
  };
  const conflicts: string[] = [];
  const registryProblems: string[] = [];
  const tokens = new TokenCache({
    provider,
    clock,
    renewalIntervalMs: 6 * 3_600_000,
    safetyMarginMs: 3_600_000,
    onRefreshDue: (registry) => due.push(registry),
  });
  const usersOf = (registry: string) =>
    [...namespaces.values()]
      .filter((n) => n.metadata?.labels?.[registry] === "true")
      .map((n) => n.metadata?.name ?? "");
  const reconciler = new NamespaceReconciler({
    caches: {
      managedSecret: (ns, name) => {
        const s = writer.secrets.get(`${ns}/${name}`);
        return s && inCache(s) ? writer.cached(s) : undefined;
      },
      namespace: (n) => namespaces.get(n),
      credentialSecret: (n) => credentials.get(n),
      managedSecrets: (ns) =>
        [...writer.secrets.entries()]
          .filter(([k, s]) => k.startsWith(`${ns}/`) && inCache(s))
          .map(([, s]) => writer.cached(s)),
    },
    tokens: options.tokens ?? tokens,
    writer,
    events: recorder,
    hostNamespace: "ci-cd",
    credentialsSecretPrefix: "eatr-aws-credentials",
    installation: "ci-cd/eatr",
    credentialProblems: new CredentialProblems({
      clock,
      events: recorder,
      logger: { warn, info: log },
      usersOf,
      observer: {
        raised: (registry, reason) => registryProblems.push(`raised ${registry} ${reason}`),
        cleared: (registry, reason) => registryProblems.push(`cleared ${registry} ${reason}`),
      },
    }),
    contests: new Contests({ clock }),
    notices: new Notices(clock),
    logger: { debug: () => undefined, info: log, warn },
    observer: { conflict: (ns, name, reason) => conflicts.push(`${ns}/${name} ${reason}`) },
    ...(options.registryPolicy === undefined ? {} : { registryPolicy: options.registryPolicy }),
    ...(options.live === undefined
      ? {}
      : { liveNamespace: (n: string) => Promise.resolve(options.live?.get(n) ?? namespaces.get(n)) }),
  });
  /** Reconciles until the tokens it asked for have arrived: a reconcile never waits for ECR. */
  const run = async (ns: string) => {
    try {
      await reconciler.reconcile(ns);
    } catch {
      // the second pass tells
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    return reconciler.reconcile(ns);
  };
  const addNamespace = (name: string, labels: Record<string, string>, phase = "Active") =>
    namespaces.set(name, { metadata: { name, uid: `uid-${name}`, labels }, status: { phase } });
  const addCredentials = (host: string, secret = "s3cr3t-key") =>
    credentials.set(`eatr-aws-credentials-${host}`, {
      metadata: { name: `eatr-aws-credentials-${host}`, namespace: "ci-cd", uid: `cred-${host}` },
      data: { aws_access_key_id: b64("AKIAEXAMPLE"), aws_secret_access_key: b64(secret) },
    });
  return {
    clock,
    due,
    provider,
    writer,
    namespaces,
    credentials,
    events,
    logs,
    warnings,
    conflicts,
    registryProblems,
    reconciler,
    run,
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
    await t.run("team-a");
    assert.deepEqual(t.writer.writes.sort(), [`create team-a/${A}`, `create team-a/${B}`]);
    assert.equal(t.provider.calls.length, 2);
    await t.run("team-a");
    assert.equal(t.writer.writes.length, 2, "unchanged: no API call");
    assert.equal(t.provider.calls.length, 2, "tokens come from the cache");
  });

  it("serves many namespaces with one ECR call per registry", async () => {
    const t = setup();
    t.addCredentials(A);
    for (let i = 0; i < 50; i++) t.addNamespace(`ns-${i}`, { [A]: "true" });
    await Promise.all(Array.from({ length: 50 }, (_, i) => t.run(`ns-${i}`)));
    assert.equal(t.provider.calls.length, 1);
    assert.equal(t.writer.writes.length, 50);
  });

  it('deletes only its own secret when the label goes or is not "true"', async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    t.writer.secrets.set("team-a/other", {
      metadata: { name: "other", namespace: "team-a" },
      type: "Opaque",
    });
    t.addNamespace("team-a", { [A]: "false" });
    await t.run("team-a");
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
    await t.run("team-a");
    await t.run("team-a");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`], "one create attempt (409), then reads only");
    assert.equal(t.writer.secrets.get(`team-a/${A}`)?.metadata?.resourceVersion, "9");
    // Reported on the secret, in its namespace, once per backoff step (not once per reconcile).
    assert.deepEqual(
      t.events.map((e) => `${e.reason} ${e.obj.kind ?? ""} ${e.obj.namespace ?? ""}/${e.obj.name ?? ""}`),
      [`SecretConflict Secret team-a/${A}`],
    );
    assert.deepEqual(t.conflicts, [`team-a/${A} unmanaged`]);
    t.clock.advance(5 * 60_000);
    await t.run("team-a");
    assert.equal(t.events.length, 2, "reminded after the first backoff step");
  });

  it("skips terminating namespaces", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("gone", { [A]: "true" }, "Terminating");
    await t.run("gone");
    await t.run("never-existed");
    assert.deepEqual(t.writer.writes, []);
    assert.equal(t.provider.calls.length, 0);
  });

  it("keeps the existing secret and reports when credentials are missing or malformed", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    t.credentials.clear();
    await t.run("team-a");
    t.clock.advance(2_000); // registry-wide problems are reported once, after a short settle time
    assert.equal(t.events.at(-1)?.reason, "CredentialsMissing");
    assert.deepEqual(t.events.at(-1)?.obj, {
      apiVersion: "v1",
      kind: "Secret",
      namespace: "ci-cd",
      name: `eatr-aws-credentials-${A}`,
    });
    t.credentials.set(`eatr-aws-credentials-${A}`, {
      metadata: { name: `eatr-aws-credentials-${A}`, namespace: "ci-cd" },
      data: {},
    });
    await t.run("team-a");
    t.clock.advance(2_000);
    assert.equal(t.events.at(-1)?.reason, "InvalidCredentials");
    assert.equal(t.events.at(-1)?.obj.kind, "Secret");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`], "the existing pull secret is kept");
  });

  it("waits out a registry's ECR backoff without an error or a write, then writes the new token", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addCredentials(B, "other-secret");
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    t.addCredentials(A, "rotated"); // new credentials version: the cached token is not used
    t.addNamespace("team-a", { [A]: "true", [B]: "true" });
    t.provider.fail = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    // The failure is the registry's (TokenReporter logs it and raises its Event once): the namespace is
    // looked at again when ECR may be called again, not retried as an error of its own.
    t.due.length = 0;
    assert.equal(await t.run("team-a"), undefined, "no error, and no requeue of its own");
    assert.equal(t.provider.calls.filter((c) => c.credentials.secretAccessKey === "rotated").length, 1);
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`], "the existing secret is kept");
    assert.equal(t.due.join(", "), "", "the registry's namespaces are not re-queued during its backoff");
    // When the backoff is over the cache re-queues the registry's namespaces; ECR answers, the token is written.
    t.provider.fail = undefined;
    t.clock.advance(1_000);
    assert.ok(t.due.includes(A), `the end of the backoff re-queues ${A}'s namespaces: ${t.due.join(", ")}`);
    await t.run("team-a");
    assert.deepEqual(t.writer.writes.slice(1).sort(), [`create team-a/${B}`, `update team-a/${A}`]);
    for (const line of [...t.logs, ...t.events.map((e) => e.message)]) {
      assert.ok(
        !line.includes("s3cr3t") && !line.includes("rotated") && !line.includes("pw-"),
        `no secret in: ${line}`,
      );
    }
  });

  it("throws a ReconcileError (retried with backoff) for a failed write, and still serves the other registries", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addCredentials(B, "other-secret");
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    t.addCredentials(A, "rotated"); // a new token for A: its secret is updated
    t.addNamespace("team-a", { [A]: "true", [B]: "true" });
    t.writer.failUpdate = Object.assign(new Error("HTTP 500 etcdserver: request timed out"), {
      statusCode: 500,
    });
    await assert.rejects(
      t.run("team-a"),
      (err: unknown) =>
        err instanceof ReconcileError && err.message.includes(`update secret team-a/${A} failed: HTTP 500`),
    );
    assert.ok(t.writer.writes.includes(`create team-a/${B}`), "B is served in the same reconcile");
  });

  it("creates a pull secret again at once when its update finds it deleted (the cache had not seen the delete)", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    t.addCredentials(A, "rotated"); // a new token: the secret is updated
    t.writer.goneOnServer.add(`team-a/${A}`);
    await t.run("team-a");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`, `update team-a/${A}`, `create team-a/${A}`]);
    assert.ok(t.writer.secrets.has(`team-a/${A}`), "written anew, no error");
  });

  it("re-mints when the credentials change and updates in place", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    t.addCredentials(A, "rotated");
    await t.run("team-a");
    assert.equal(t.provider.calls.length, 2);
    assert.equal(t.provider.calls[1]?.credentials.secretAccessKey, "rotated");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`, `update team-a/${A}`]);
  });

  it("before deleting, checks the live namespace: a cache behind the API server (a cut-off watch) deletes nothing", async () => {
    const live = new Map<string, V1Namespace>();
    const t = setup({ live });
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    // The cache lost the label (say, it never saw it come back); the API server's namespace still has it.
    live.set("team-a", {
      metadata: { name: "team-a", labels: { [A]: "true" } },
      status: { phase: "Active" },
    });
    t.addNamespace("team-a", {});
    const result = await t.run("team-a");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`], "not deleted");
    assert.equal(result?.requeueAfterMs, 5_000, "looked at again once the cache may have caught up");
    assert.ok(
      t.logs.some((l) => l.startsWith("pull secret kept: the cached namespace no longer asks for it")),
    );
    // Once the API server agrees, the delete goes ahead.
    live.set("team-a", { metadata: { name: "team-a", labels: {} }, status: { phase: "Active" } });
    await t.run("team-a");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`, `delete team-a/${A}`]);
  });

  it("never deletes a secret that merely carries its label, or a copy under another name", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    const ours = t.writer.secrets.get(`team-a/${A}`) ?? assert.fail("created");
    t.writer.secrets.set("team-a/db-password", {
      metadata: { name: "db-password", namespace: "team-a", labels: { [MANAGED_BY_LABEL]: "eatr" } },
      type: "Opaque",
      data: { password: b64("hunter2") },
    });
    t.writer.secrets.set("team-a/copy", { ...ours, metadata: { ...ours.metadata, name: "copy" } });
    t.addNamespace("team-a", {}); // the label goes: only what eatr provably wrote is deleted
    await t.run("team-a");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`, `delete team-a/${A}`]);
    assert.ok(t.writer.secrets.has("team-a/db-password") && t.writer.secrets.has("team-a/copy"));
    assert.deepEqual(t.conflicts.sort(), ["team-a/copy unproven", "team-a/db-password unproven"]);
    assert.deepEqual(t.events.map((e) => `${e.reason} ${e.obj.namespace ?? ""}/${e.obj.name ?? ""}`).sort(), [
      "SecretNotOwned team-a/copy",
      "SecretNotOwned team-a/db-password",
    ]);
  });

  it("does not try to renew an immutable pull secret: one Warning Event with the fix, no error loop", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    const key = `team-a/${A}`;
    const ours = t.writer.secrets.get(key) ?? assert.fail("created");
    t.writer.secrets.set(key, { ...ours, immutable: true });
    t.addCredentials(A, "rotated"); // a new token is wanted
    await t.run("team-a"); // resolves: not an error to retry with backoff
    await t.run("team-a");
    assert.deepEqual(t.writer.writes, [`create ${key}`], "no update is sent");
    const [event, ...more] = t.events.filter((e) => e.reason === "SecretImmutable");
    assert.equal(more.length, 0, "reported once per backoff step");
    assert.equal(event?.type, "Warning");
    assert.equal(event?.obj.namespace, "team-a");
    assert.match(event?.message ?? "", /immutable.*cannot renew.*Delete it/);
    assert.deepEqual(t.conflicts, [`${key} immutable`]);
  });

  it("treats the API server's refusal to change an immutable secret like finding it immutable", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    await t.run("team-a");
    t.writer.failUpdate = Object.assign(new Error("HTTP 422"), {
      statusCode: 422,
      body: JSON.stringify({
        message: 'Secret "x" is invalid: data: Forbidden: field is immutable when `immutable` is set',
      }),
    });
    t.addCredentials(A, "rotated");
    await t.run("team-a");
    assert.deepEqual(
      t.events.map((e) => e.reason),
      ["SecretImmutable"],
    );
  });

  it("tells once, with a Normal Event, about a registry label whose value is not exactly true", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "True" });
    await t.run("team-a");
    await t.run("team-a");
    assert.deepEqual(t.writer.writes, [], "still not an opt-in");
    const told = t.events.filter((e) => e.reason === "RegistryLabelIgnored");
    assert.equal(told.length, 1);
    assert.equal(told[0]?.type, "Normal");
    assert.equal(told[0]?.obj.kind, "Namespace");
    assert.match(told[0]?.message ?? "", new RegExp(`${A.replaceAll(".", "\\.")}=True is ignored.*"true"`));
    assert.equal(t.logs.filter((l) => l.startsWith("registry label ignored")).length, 1);
  });

  it("backs off, with a Warning Event, when another installation keeps undoing its writes", async () => {
    const t = setup();
    t.addCredentials(A);
    t.addNamespace("team-a", { [A]: "true" });
    const key = `team-a/${A}`;
    const otherWrites = () => {
      const s = t.writer.secrets.get(key) ?? assert.fail("exists");
      t.writer.secrets.set(key, {
        ...s,
        metadata: {
          ...s.metadata,
          annotations: { ...s.metadata?.annotations, [ANNOTATIONS.installation]: "blue/eatr" },
        },
        data: {
          ".dockerconfigjson": b64(
            JSON.stringify({ auths: { [`https://${A}`]: { auth: b64("AWS:other") } } }),
          ),
        },
      });
    };
    await t.run("team-a");
    otherWrites(); // the first time: a takeover (the other installation may be gone)
    assert.equal(await t.run("team-a"), undefined);
    assert.equal(t.writer.writes.length, 2);
    otherWrites(); // undone within seconds: a fight
    assert.deepEqual(await t.run("team-a"), { requeueAfterMs: 30_000 });
    assert.equal(t.writer.writes.length, 2, "left alone this round");
    const contested = t.events.filter((e) => e.reason === "SecretContested");
    assert.equal(contested.length, 1);
    assert.match(contested[0]?.message ?? "", /blue\/eatr.*ci-cd\/eatr.*one installation per registry/);
    t.clock.advance(30_000);
    assert.equal(await t.run("team-a"), undefined);
    assert.equal(t.writer.writes.length, 3, "written again once the round is over");
    otherWrites();
    assert.deepEqual(await t.run("team-a"), { requeueAfterMs: 60_000 }, "each round doubles");
  });

  it("reports missing credentials once for all the namespaces they affect", async () => {
    const t = setup();
    for (let i = 0; i < 300; i++) t.addNamespace(`ns-${i}`, { [A]: "true" });
    for (let i = 0; i < 300; i++) await t.run(`ns-${i}`);
    assert.equal(t.events.length, 0, "nothing yet: the report waits until the startup settled");
    t.clock.advance(2_000);
    assert.deepEqual(
      t.events.map((e) => e.reason),
      ["CredentialsMissing"],
    );
    assert.match(t.events[0]?.message ?? "", /300 namespaces ask for registry/);
    assert.equal(t.warnings.length, 1, "one log line, not one per namespace");
    assert.deepEqual(t.registryProblems, [`raised ${A} missing`]);
    t.clock.advance(5 * 60_000);
    assert.equal(t.events.length, 2, "a reminder per backoff step");
    t.addCredentials(A);
    await t.run("ns-0");
    assert.deepEqual(t.registryProblems, [`raised ${A} missing`, `cleared ${A} missing`]);
  });

  it("does not hold a worker while a registry's first token is fetched: the others are served", async () => {
    const pending: Tokens = {
      peek: () => undefined,
      prime: () => false,
      unavailableForMs: () => undefined,
      get: (registry) =>
        registry.host === A
          ? Promise.reject(new TokenPendingError(`token for ${A} is being fetched`))
          : Promise.resolve({
              authorizationToken: b64("AWS:pw"),
              expiresAtMs: Date.UTC(2026, 0, 1, 12),
              fetchedAtMs: Date.UTC(2026, 0, 1),
              refreshAtMs: Date.UTC(2026, 0, 1, 6),
            }),
    };
    const t = setup({ tokens: pending });
    t.addCredentials(A);
    t.addCredentials(B);
    t.addNamespace("team-a", { [A]: "true", [B]: "true" });
    assert.equal(
      await t.reconciler.reconcile("team-a"),
      undefined,
      "no error: requeued when the token arrives",
    );
    assert.deepEqual(t.writer.writes, [`create team-a/${B}`]);
  });

  it("calls ECR in the host's region and warns once when aws_region says another", async () => {
    const t = setup();
    t.credentials.set(`eatr-aws-credentials-${A}`, {
      metadata: { name: `eatr-aws-credentials-${A}`, namespace: "ci-cd", uid: "cred" },
      data: {
        aws_access_key_id: b64("AKIAEXAMPLE"),
        aws_secret_access_key: b64("k"),
        aws_region: b64("us-east-1"),
      },
    });
    t.addNamespace("team-a", { [A]: "true" });
    t.addNamespace("team-b", { [A]: "true" });
    await t.run("team-a");
    await t.run("team-b");
    assert.equal(t.provider.calls[0]?.credentials.region, "eu-west-1");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`, `create team-b/${A}`]);
    const mismatch = t.events.filter((e) => e.reason === "RegionMismatch");
    assert.equal(mismatch.length, 1, "registry-wide: once, not per namespace");
    assert.equal(mismatch[0]?.obj.name, `eatr-aws-credentials-${A}`);
    assert.match(mismatch[0]?.message ?? "", /aws_region us-east-1, but registry .* is in eu-west-1/);
  });

  describe("reads a secret's data only when someone else may have set it (metadata-only cache)", () => {
    it("cold: creates without reading; warm: decides from the cache, no API call", async () => {
      const t = setup();
      t.addCredentials(A);
      for (const ns of ["a", "b", "c"]) t.addNamespace(ns, { [A]: "true" });
      for (const ns of ["a", "b", "c"]) await t.run(ns);
      assert.deepEqual(t.writer.reads, [], "no GET before a create");
      assert.equal(t.writer.writes.length, 3);
      for (const ns of ["a", "b", "c"]) await t.run(ns);
      assert.deepEqual(t.writer.reads, [], "eatr's own writes: known from managedFields");
      assert.equal(t.writer.writes.length, 3, "no write");
    });

    it("repairs data edited by hand after reading it, then trusts its own write again", async () => {
      const t = setup();
      t.addCredentials(A);
      t.addNamespace("a", { [A]: "true" });
      await t.run("a");
      const key = `a/${A}`;
      const ours = t.writer.secrets.get(key) ?? assert.fail("created");
      const edited = {
        ...ours,
        metadata: { ...ours.metadata, resourceVersion: "50" },
        data: { ".dockerconfigjson": b64("{}") },
      };
      t.writer.secrets.set(key, edited);
      await t.run("a");
      assert.deepEqual(t.writer.reads, [key], "read once: someone else set its data");
      assert.deepEqual(t.writer.writes, [`create ${key}`, `update ${key}`]);
      assert.notDeepEqual(t.writer.secrets.get(key)?.data, edited.data, "repaired");
      await t.run("a");
      assert.deepEqual(t.writer.reads, [key], "its own repair needs no read");
    });

    it("reads a secret someone else had a hand in once per resourceVersion, not on every reconcile", async () => {
      const t = setup();
      t.addCredentials(A);
      t.addNamespace("a", { [A]: "true" });
      await t.run("a");
      const key = `a/${A}`;
      const ours = t.writer.secrets.get(key) ?? assert.fail("created");
      // Same contents, but another manager co-owns the data now (e.g. a server-side apply of the same value).
      t.writer.secrets.set(key, { ...ours, metadata: { ...ours.metadata, resourceVersion: "60" } });
      await t.run("a");
      await t.run("a");
      assert.deepEqual(t.writer.reads, [key], "one read at resourceVersion 60");
      assert.equal(t.writer.writes.length, 1, "its data is as wanted: no write");
      const cur = t.writer.secrets.get(key) ?? assert.fail("kept");
      t.writer.secrets.set(key, { ...cur, metadata: { ...cur.metadata, resourceVersion: "61" } });
      await t.run("a");
      assert.deepEqual(t.writer.reads, [key, key], "a new resourceVersion: read again");
    });

    it("reads a secret before deleting it (the proof of ownership is in its data)", async () => {
      const t = setup();
      t.addCredentials(A);
      t.addNamespace("a", { [A]: "true" });
      await t.run("a");
      t.addNamespace("a", {});
      await t.run("a");
      assert.deepEqual(t.writer.reads, [`a/${A}`]);
      assert.deepEqual(t.writer.writes, [`create a/${A}`, `delete a/${A}`]);
    });

    it("does not re-read an unprovable labelled secret on every reconcile", async () => {
      const t = setup({ restricted: true });
      t.writer.secrets.set(`a/${A}`, {
        metadata: { name: A, namespace: "a", resourceVersion: "5", labels: { [MANAGED_BY_LABEL]: "eatr" } },
        type: "Opaque",
        data: { password: b64("hunter2") },
      });
      t.addNamespace("a", {});
      await t.run("a");
      await t.run("a");
      assert.deepEqual(t.writer.reads, [`a/${A}`], "read once at its resourceVersion");
      assert.deepEqual(t.writer.writes, [], "never deleted");
      assert.deepEqual(t.conflicts, [`a/${A} unproven`]);
    });

    it("restricted: someone else's same-named secret is a conflict, read once, never written", async () => {
      const t = setup({ restricted: true });
      t.addCredentials(A);
      t.writer.secrets.set(`a/${A}`, {
        metadata: { name: A, namespace: "a", resourceVersion: "9" },
        type: "Opaque",
        data: { x: b64("y") },
      });
      t.addNamespace("a", { [A]: "true" });
      await t.run("a");
      await t.run("a");
      assert.deepEqual(t.writer.writes, [], "not even a create attempt: the watch shows it");
      assert.deepEqual(t.writer.reads, [`a/${A}`], "read once, then known at its resourceVersion");
      assert.deepEqual(t.conflicts, [`a/${A} unmanaged`]);
      t.addNamespace("a", {});
      await t.run("a");
      assert.deepEqual(t.writer.writes, [], "someone else's secret is never deleted");
      assert.deepEqual(t.writer.reads, [`a/${A}`], "nor read for it");
    });

    it("restricted: adopts the original eatr's secret after reading it", async () => {
      const t = setup({ restricted: true });
      t.addCredentials(A);
      const seed = Buffer.from(
        JSON.stringify({ auths: { [`https://${A}`]: { auth: b64("AWS:old") } } }),
      ).toString("base64");
      t.writer.secrets.set(`a/${A}`, {
        metadata: { name: A, namespace: "a", resourceVersion: "9", annotations: { keep: "me" } },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": seed },
      });
      t.addNamespace("a", { [A]: "true" });
      await t.run("a");
      assert.deepEqual(t.writer.writes, [`update a/${A}`]);
      assert.equal(
        t.writer.secrets.get(`a/${A}`)?.metadata?.annotations?.keep,
        "me",
        "written from the read",
      );
    });

    it("finds an immutable secret by reading it: one Warning, no write", async () => {
      const t = setup();
      t.addCredentials(A);
      t.addNamespace("a", { [A]: "true" });
      await t.run("a");
      const key = `a/${A}`;
      const ours = t.writer.secrets.get(key) ?? assert.fail("created");
      t.writer.secrets.set(key, {
        ...ours,
        immutable: true,
        metadata: { ...ours.metadata, resourceVersion: "70" },
      });
      await t.run("a");
      assert.deepEqual(t.writer.writes, [`create ${key}`]);
      assert.deepEqual(t.conflicts, [], "its data is still as wanted: nothing to renew yet");
      // A renewal wants new data: the remembered read says immutable, so no write is tried.
      t.addCredentials(A, "rotated");
      await t.run("a");
      await t.run("a");
      assert.deepEqual(t.writer.writes, [`create ${key}`]);
      assert.deepEqual(t.writer.reads, [key], "one read at resourceVersion 70");
      assert.deepEqual(t.conflicts, [`${key} immutable`]);
    });

    it("after a restart reuses the written token with one read per registry and writes nothing", async () => {
      const before = setup();
      before.addCredentials(A);
      for (const ns of ["a", "b", "c"]) before.addNamespace(ns, { [A]: "true" });
      for (const ns of ["a", "b", "c"]) await before.run(ns);
      const t = setup({ writer: before.writer });
      t.addCredentials(A);
      for (const ns of ["a", "b", "c"]) t.addNamespace(ns, { [A]: "true" });
      t.clock.advance(60_000);
      await Promise.all(["a", "b", "c"].map((ns) => t.run(ns)));
      assert.equal(t.provider.calls.length, 0, "no ECR call: the token was read back");
      assert.equal(t.writer.writes.length, 3, "no write after the restart");
      assert.equal(t.writer.reads.length, 1, "one read for the registry, not one per namespace");
    });
  });
});

describe("NamespaceReconciler with a registry policy", () => {
  const restricted = () => new RegistryPolicy({ registries: [{ host: A }], restrictToDeclared: true });

  it("restricted: a label for an undeclared registry gets no secret, no ECR call, and a Warning Event on the Namespace", async () => {
    const t = setup({ registryPolicy: restricted() });
    t.addCredentials(A);
    t.addCredentials(B);
    t.addNamespace("team-a", { [A]: "true", [B]: "true" });
    await t.run("team-a");
    assert.deepEqual(t.writer.writes, [`create team-a/${A}`], "the declared registry is served");
    assert.deepEqual(
      t.provider.calls.map((c) => c.registry.host),
      [A],
      "no ECR call for the undeclared one",
    );
    const told = t.events.filter((e) => e.reason === "RegistryNotDeclared");
    assert.equal(told.length, 1, "once, although reconciled twice");
    assert.equal(told[0]?.type, "Warning");
    assert.deepEqual(told[0]?.obj, {
      apiVersion: "v1",
      kind: "Namespace",
      name: "team-a",
      uid: "uid-team-a",
    });
    const message = told[0]?.message ?? "";
    assert.match(
      message,
      new RegExp(`registry ${B.replaceAll(".", "\\.")} \\(label ${B.replaceAll(".", "\\.")}=true\\)`),
    );
    assert.match(message, /-restrict-to-declared-registries/);
    assert.match(message, /is not in its registries list/);
    assert.match(
      message,
      /Add .* to the registries list of eatr's config file \(chart value registries\), or remove the label/,
    );
    assert.match(message, new RegExp(`kubectl label namespace team-a ${B.replaceAll(".", "\\.")}-`));
    assert.deepEqual(
      t.conflicts,
      [`team-a/${B} undeclared`],
      "counted once (eatr_pull_secret_conflicts_total)",
    );
    assert.equal(t.warnings.filter((w) => w.startsWith("registry not declared")).length, 1);
  });

  it("restricted: repeats the Event once per backoff step, per namespace and registry", async () => {
    const t = setup({ registryPolicy: restricted() });
    t.addNamespace("team-a", { [B]: "true" });
    t.addNamespace("team-b", { [B]: "true" });
    for (let i = 0; i < 3; i++) {
      await t.run("team-a");
      await t.run("team-b");
    }
    assert.deepEqual(
      t.events.map((e) => `${e.reason} ${e.obj.name ?? ""}`),
      ["RegistryNotDeclared team-a", "RegistryNotDeclared team-b"],
    );
    t.clock.advance(4 * 60_000);
    await t.run("team-a");
    assert.equal(t.events.length, 2, "not before the first backoff step (5 min)");
    t.clock.advance(60_000);
    await t.run("team-a");
    assert.equal(t.events.length, 3, "reminded after it");
    assert.deepEqual(t.writer.writes, []);
    assert.equal(t.provider.calls.length, 0);
  });

  it("restricted: a pull secret eatr wrote for a now-undeclared registry is left as it is", async () => {
    const open = setup();
    open.addCredentials(B);
    open.addNamespace("team-a", { [B]: "true" });
    await open.run("team-a");
    const written = open.writer.secrets.get(`team-a/${B}`) ?? assert.fail("written");

    const t = setup({ registryPolicy: restricted() });
    t.addCredentials(B);
    t.writer.secrets.set(`team-a/${B}`, written);
    t.addNamespace("team-a", { [B]: "true" });
    await t.run("team-a");
    t.addNamespace("team-a", {}); // even the label removed: eatr does not touch undeclared hosts
    await t.run("team-a");
    assert.deepEqual(t.writer.writes, [], "neither renewed nor deleted");
    assert.equal(t.writer.secrets.get(`team-a/${B}`), written);

    // Not restricted, the same secret is deleted once the label goes (the seed's rule).
    const u = setup();
    u.writer.secrets.set(`team-a/${B}`, written);
    u.addNamespace("team-a", {});
    await u.run("team-a");
    assert.deepEqual(u.writer.writes, [`delete team-a/${B}`]);
  });

  it("not restricted: an undeclared registry is served as before, with no Event", async () => {
    const t = setup({
      registryPolicy: new RegistryPolicy({ registries: [{ host: A }], restrictToDeclared: false }),
    });
    t.addCredentials(B);
    t.addNamespace("team-a", { [B]: "true" });
    await t.run("team-a");
    assert.deepEqual(t.writer.writes, [`create team-a/${B}`]);
    assert.deepEqual(t.events, []);
  });

  it('a namespaceSelector serves a namespace without a label; a label "false" or leaving the selector removes it', async () => {
    const t = setup({
      registryPolicy: new RegistryPolicy({
        registries: [
          { host: A, namespaceSelector: parseLabelSelector("team=web"), excludeNamespaces: ["web-x*"] },
        ],
        restrictToDeclared: true,
      }),
    });
    t.addCredentials(A);
    t.addNamespace("web-1", { team: "web" });
    t.addNamespace("web-xy", { team: "web" });
    await t.run("web-1");
    await t.run("web-xy");
    assert.deepEqual(t.writer.writes, [`create web-1/${A}`], "the excluded namespace gets nothing");
    t.addNamespace("web-1", { team: "web", [A]: "false" });
    await t.run("web-1");
    assert.deepEqual(t.writer.writes.at(-1), `delete web-1/${A}`, "opted out by its label");
    t.addNamespace("web-1", { team: "web" });
    await t.run("web-1");
    assert.deepEqual(t.writer.writes.at(-1), `create web-1/${A}`);
    t.addNamespace("web-1", { team: "db" });
    await t.run("web-1");
    assert.deepEqual(t.writer.writes.at(-1), `delete web-1/${A}`, "left the selector");
    t.addNamespace("web-xy", { team: "web", [A]: "true" });
    await t.run("web-xy");
    assert.deepEqual(
      t.writer.writes.at(-1),
      `create web-xy/${A}`,
      'a "true" label opts in although excluded',
    );
    assert.deepEqual(t.events, []);
  });
});
