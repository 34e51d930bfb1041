import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AwsCredentials } from "../../../src/ecr/credentials.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import { TokenCache, type TokenCacheOptions } from "../../../src/ecr/token-cache.ts";
import type { AuthorizationToken, TokenProvider, TokenRequest } from "../../../src/ecr/token-provider.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const HOUR = 3_600_000;
const registry = parseRegistryHost("123456789012.dkr.ecr.eu-west-1.amazonaws.com") ?? assert.fail("host");
const other = parseRegistryHost("210987654321.dkr.ecr.us-east-1.amazonaws.com") ?? assert.fail("host");
const creds: AwsCredentials = { accessKeyId: "AKIA", secretAccessKey: "s", region: "eu-west-1" };

/** A provider whose calls stay pending until the test resolves or rejects them. */
class ScriptedProvider implements TokenProvider {
  calls: { request: TokenRequest; resolve: (t: AuthorizationToken) => void; reject: (e: unknown) => void }[] =
    [];
  getAuthorizationToken(request: TokenRequest): Promise<AuthorizationToken> {
    return new Promise((resolve, reject) => this.calls.push({ request, resolve, reject }));
  }
  last() {
    return this.calls.at(-1) ?? assert.fail("no call");
  }
}

function setup(overrides: Partial<TokenCacheOptions> = {}) {
  const clock = new FakeClock();
  const provider = new ScriptedProvider();
  const due: string[] = [];
  const cache = new TokenCache({
    provider,
    clock,
    renewalIntervalMs: 6 * HOUR,
    safetyMarginMs: HOUR,
    jitterFraction: 0,
    onRefreshDue: (r) => due.push(r),
    ...overrides,
  });
  /** A token living lifetimeMs from now; null = ECR said no expiresAt. */
  const token = (n: number, lifetimeMs: number | null = 12 * HOUR): AuthorizationToken => ({
    authorizationToken: Buffer.from(`AWS:password-${n}`).toString("base64"),
    expiresAtMs: lifetimeMs === null ? undefined : clock.now() + lifetimeMs,
  });
  return { clock, provider, due, cache, token };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe("TokenCache", () => {
  it("shares one ECR call among 100 concurrent callers", async () => {
    const { provider, cache, token } = setup();
    const all = Array.from({ length: 100 }, () => cache.get(registry, creds, "v1"));
    await flush();
    assert.equal(provider.calls.length, 1);
    provider.last().resolve(token(1));
    const got = await Promise.all(all);
    assert.ok(got.every((t) => t.authorizationToken === got[0]?.authorizationToken));
    await cache.get(registry, creds, "v1");
    assert.equal(provider.calls.length, 1, "a fresh token is served from the cache");
  });

  it("keeps registries apart", async () => {
    const { provider, cache, token } = setup();
    const a = cache.get(registry, creds, "v1");
    const b = cache.get(other, creds, "v1");
    await flush();
    assert.equal(provider.calls.length, 2);
    provider.calls[0]?.resolve(token(1));
    provider.calls[1]?.resolve(token(2));
    assert.notEqual((await a).authorizationToken, (await b).authorizationToken);
  });

  it("refreshes when the age reaches the renewal interval (12 h token, 6 h interval)", async () => {
    const { clock, provider, due, cache, token } = setup();
    const p = cache.get(registry, creds, "v1");
    await flush();
    provider.last().resolve(token(1));
    const first = await p;
    assert.equal(first.refreshAtMs - first.fetchedAtMs, 6 * HOUR);
    clock.advance(6 * HOUR - 1);
    assert.deepEqual(due, []);
    await cache.get(registry, creds, "v1");
    assert.equal(provider.calls.length, 1);
    clock.advance(1);
    assert.deepEqual(due, [registry.host], "the refresh re-queues the registry's namespaces");
    const q = cache.get(registry, creds, "v1");
    await flush();
    assert.equal(provider.calls.length, 2);
    provider.last().resolve(token(2));
    assert.notEqual((await q).authorizationToken, first.authorizationToken);
  });

  it("refreshes at expiry minus the safety margin when that comes first", async () => {
    const { provider, cache, token } = setup();
    const p = cache.get(registry, creds, "v1");
    await flush();
    provider.last().resolve(token(1, 2 * HOUR));
    const t = await p;
    assert.equal(t.refreshAtMs - t.fetchedAtMs, HOUR);
  });

  it("applies jitter only forwards, within the fraction", async () => {
    const { provider, cache, token } = setup({ jitterFraction: 0.1, random: () => 0.5 });
    const p = cache.get(registry, creds, "v1");
    await flush();
    provider.last().resolve(token(1));
    const t = await p;
    assert.equal(t.refreshAtMs - t.fetchedAtMs, 6 * HOUR - 0.05 * 6 * HOUR);
  });

  it("does not hot-loop on a past expiresAt (moto's 2015): the floor spaces calls", async () => {
    const { clock, provider, due, cache, token } = setup({ minRefreshIntervalMs: 30_000 });
    const p = cache.get(registry, creds, "v1");
    await flush();
    provider.last().resolve(token(1, -10 * 365 * 24 * HOUR));
    const t = await p;
    assert.equal(t.refreshAtMs - t.fetchedAtMs, 30_000);
    for (let i = 0; i < 10; i++) await cache.get(registry, creds, "v1");
    assert.equal(provider.calls.length, 1);
    clock.advance(29_999);
    assert.equal(due.length, 0);
    clock.advance(1);
    assert.equal(due.length, 1);
  });

  it("treats a missing expiresAt as living one renewal interval", async () => {
    const { provider, cache, token } = setup();
    const p = cache.get(registry, creds, "v1");
    await flush();
    provider.last().resolve(token(1, null));
    const t = await p;
    assert.equal(t.refreshAtMs - t.fetchedAtMs, 6 * HOUR);
  });

  it("backs off per registry after a failure and calls again only after the backoff", async () => {
    const { clock, provider, due, cache, token } = setup({
      failureBackoffBaseMs: 1000,
      failureBackoffMaxMs: 8000,
    });
    const boom = Object.assign(new Error("slow down"), { name: "ThrottlingException" });
    const p = cache.get(registry, creds, "v1");
    await flush();
    provider.last().reject(boom);
    await assert.rejects(p, /slow down/);
    await assert.rejects(cache.get(registry, creds, "v1"), /slow down/);
    assert.equal(provider.calls.length, 1, "no call during the backoff");
    clock.advance(1000);
    assert.deepEqual(due, [registry.host], "the end of the backoff re-queues the registry's users");
    const q = cache.get(registry, creds, "v1");
    await flush();
    assert.equal(provider.calls.length, 2);
    provider.last().reject(boom);
    await assert.rejects(q);
    clock.advance(1999);
    await assert.rejects(cache.get(registry, creds, "v1"));
    assert.equal(provider.calls.length, 2, "second backoff is twice as long");
    clock.advance(1);
    const r = cache.get(registry, creds, "v1");
    await flush();
    provider.last().resolve(token(3));
    await r;
    assert.equal(provider.calls.length, 3);
  });

  it("serves the old token while it is valid when a refresh fails", async () => {
    const { clock, provider, cache, token } = setup();
    const p = cache.get(registry, creds, "v1");
    await flush();
    provider.last().resolve(token(1));
    const first = await p;
    clock.advance(6 * HOUR);
    const q = cache.get(registry, creds, "v1");
    await flush();
    provider.last().reject(new Error("ECR down"));
    assert.equal((await q).authorizationToken, first.authorizationToken);
    assert.equal((await cache.get(registry, creds, "v1")).authorizationToken, first.authorizationToken);
    assert.equal(provider.calls.length, 2);
    clock.advance(6 * HOUR);
    const r = cache.get(registry, creds, "v1");
    await flush();
    assert.equal(provider.calls.length, 3, "the backoff is over: one more call");
    provider.last().reject(new Error("ECR still down"));
    await assert.rejects(r, /ECR still down/, "an expired token is never served");
  });

  it("re-mints when the credentials version changes, and invalidate() forgets", async () => {
    const { provider, cache, token } = setup();
    const p = cache.get(registry, creds, "v1");
    await flush();
    provider.last().resolve(token(1));
    await p;
    const q = cache.get(registry, creds, "v2");
    await flush();
    assert.equal(provider.calls.length, 2);
    provider.last().resolve(token(2));
    await q;
    cache.invalidate(registry.host);
    assert.equal(cache.peek(registry.host), undefined);
  });

  it("primes from a recorded token and refuses one that is due", async () => {
    const { clock, provider, cache } = setup();
    const recorded = {
      authorizationToken: "dG9r",
      fetchedAtMs: clock.now() - HOUR,
      expiresAtMs: clock.now() + 11 * HOUR,
    };
    assert.equal(cache.prime(registry.host, recorded, "v1"), true);
    assert.equal((await cache.get(registry, creds, "v1")).authorizationToken, "dG9r");
    assert.equal(provider.calls.length, 0);
    assert.equal(cache.prime(registry.host, recorded, "v1"), false, "never overwrites an entry");
    const old = {
      authorizationToken: "b2xk",
      fetchedAtMs: clock.now() - 7 * HOUR,
      expiresAtMs: clock.now() + 5 * HOUR,
    };
    assert.equal(cache.prime(other.host, old, "v1"), false);
  });

  it("validates its options", () => {
    assert.throws(() => setup({ renewalIntervalMs: 0 }), /renewalIntervalMs must be > 0/);
    assert.throws(() => setup({ jitterFraction: 1 }), /jitterFraction/);
  });

  it("close() cancels timers", async () => {
    const { clock, provider, cache, token } = setup();
    const p = cache.get(registry, creds, "v1");
    await flush();
    provider.last().resolve(token(1));
    await p;
    assert.equal(clock.pendingTimers(), 1);
    cache.close();
    assert.equal(clock.pendingTimers(), 0);
  });
});
