import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AwsCredentials } from "../../../src/ecr/credentials.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import {
  MIN_REFRESH_INTERVAL_MS,
  TokenCache,
  TokenPendingError,
  type CachedToken,
  type TokenCacheOptions,
} from "../../../src/ecr/token-cache.ts";
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

interface Report {
  kind: "fetched" | "failed" | "shortLived" | "primed";
  registry: string;
  detail: unknown;
}

function setup(overrides: Partial<TokenCacheOptions> = {}) {
  const clock = new FakeClock();
  const provider = new ScriptedProvider();
  const due: string[] = [];
  const settled: string[] = [];
  const reports: Report[] = [];
  const cache = new TokenCache({
    provider,
    clock,
    renewalIntervalMs: 6 * HOUR,
    safetyMarginMs: HOUR,
    jitterFraction: 0,
    onRefreshDue: (r) => due.push(r),
    onSettled: (r) => settled.push(r),
    observer: {
      fetched: (r, token, renewal) =>
        reports.push({ kind: "fetched", registry: r, detail: { token, renewal } }),
      failed: (r, error, retryInMs) =>
        reports.push({ kind: "failed", registry: r, detail: { error, retryInMs } }),
      shortLived: (r, lifetimeMs, marginMs) =>
        reports.push({ kind: "shortLived", registry: r, detail: { lifetimeMs, marginMs } }),
      primed: (r, token) => reports.push({ kind: "primed", registry: r, detail: { token } }),
    },
    ...overrides,
  });
  /** A token living lifetimeMs from now; null = ECR said no expiresAt. */
  const token = (n: number, lifetimeMs: number | null = 12 * HOUR): AuthorizationToken => ({
    authorizationToken: Buffer.from(`AWS:password-${n}`).toString("base64"),
    expiresAtMs: lifetimeMs === null ? undefined : clock.now() + lifetimeMs,
  });
  /** get() for the registry; undefined when it rejected with TokenPendingError (asserted). */
  const pending = async (r = registry, version = "v1"): Promise<void> => {
    await assert.rejects(cache.get(r, creds, version), (err: unknown) => {
      assert.ok(err instanceof TokenPendingError, `TokenPendingError, got ${String(err)}`);
      assert.equal(err.name, "TokenPendingError");
      assert.match(err.message, new RegExp(r.host.replaceAll(".", "\\.")));
      return true;
    });
  };
  /** Fetches a first token for the registry: get() is pending, the call resolves, the fetch settles. */
  const fetchFirst = async (
    n = 1,
    lifetimeMs: number | null = 12 * HOUR,
    r = registry,
  ): Promise<CachedToken> => {
    await pending(r);
    provider.last().resolve(token(n, lifetimeMs));
    await flush();
    return cache.get(r, creds, "v1");
  };
  return { clock, provider, due, settled, reports, cache, token, pending, fetchFirst };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Settles when `p` settles, or says "still pending" after a macrotask: get() must never be the latter. */
async function state(p: Promise<unknown>): Promise<string> {
  return Promise.race([
    p.then(
      () => "resolved",
      () => "rejected",
    ),
    flush().then(() => "still pending"),
  ]);
}

describe("TokenCache", () => {
  it("never waits for ECR: the first get() is TokenPendingError at once, 100 callers share one call", async () => {
    const { provider, settled, cache, token, pending } = setup();
    for (let i = 0; i < 100; i++) await pending();
    assert.equal(provider.calls.length, 1, "one call however many callers");
    provider.last().resolve(token(1));
    await flush();
    assert.deepEqual(settled, [registry.host], "onSettled once for the settled call");
    const got = await Promise.all(Array.from({ length: 100 }, () => cache.get(registry, creds, "v1")));
    assert.ok(got.every((t) => t.authorizationToken === token(1).authorizationToken));
    assert.equal(provider.calls.length, 1, "a fresh token is served from the cache");
    assert.deepEqual(settled, [registry.host]);
  });

  it("while registry A's call hangs, A is pending at once and B's cached token is served at once", async () => {
    const { provider, settled, cache, token, pending, fetchFirst } = setup();
    const b = await fetchFirst(2, 12 * HOUR, other);
    await pending(registry);
    assert.equal(provider.calls.length, 2);
    for (let i = 0; i < 10; i++) {
      assert.equal(
        await state(cache.get(registry, creds, "v1")),
        "rejected",
        "A: no waiting on the hung call",
      );
      const got = cache.get(other, creds, "v1");
      assert.equal(await state(got), "resolved", "B: served while A hangs");
      assert.equal((await got).authorizationToken, b.authorizationToken);
    }
    assert.equal(provider.calls.length, 2, "still one call for A");
    assert.deepEqual(settled, [other.host], "A has not settled");
    provider.calls[1]?.resolve(token(1));
    await flush();
    assert.deepEqual(settled, [other.host, registry.host]);
    assert.equal((await cache.get(registry, creds, "v1")).authorizationToken, token(1).authorizationToken);
  });

  it("refreshes when the age reaches the renewal interval, serving the old token meanwhile", async () => {
    const { clock, provider, due, settled, reports, cache, token, fetchFirst } = setup();
    const first = await fetchFirst(1);
    assert.equal(first.refreshAtMs - first.fetchedAtMs, 6 * HOUR);
    clock.advance(6 * HOUR - 1);
    assert.deepEqual(due, []);
    await cache.get(registry, creds, "v1");
    assert.equal(provider.calls.length, 1);
    clock.advance(1);
    assert.deepEqual(due, [registry.host], "the refresh re-queues the registry's namespaces");
    for (let i = 0; i < 3; i++) {
      const p = cache.get(registry, creds, "v1");
      assert.equal(await state(p), "resolved", "the due but valid token is served without waiting");
      assert.equal((await p).authorizationToken, first.authorizationToken);
    }
    assert.equal(provider.calls.length, 2, "one refresh call in the background");
    provider.last().resolve(token(2));
    await flush();
    assert.deepEqual(settled, [registry.host, registry.host]);
    const renewed = await cache.get(registry, creds, "v1");
    assert.notEqual(renewed.authorizationToken, first.authorizationToken);
    assert.deepEqual(
      reports.map((r) => [r.kind, (r.detail as { renewal?: boolean }).renewal]),
      [
        ["fetched", false],
        ["fetched", true],
      ],
    );
  });

  it("refreshes at expiry minus the safety margin when that comes first", async () => {
    const { fetchFirst } = setup();
    const t = await fetchFirst(1, 2 * HOUR);
    assert.equal(t.refreshAtMs - t.fetchedAtMs, HOUR);
  });

  it("applies jitter only forwards, within the fraction", async () => {
    const { fetchFirst } = setup({ jitterFraction: 0.1, random: () => 0.5 });
    const t = await fetchFirst(1);
    assert.equal(t.refreshAtMs - t.fetchedAtMs, 6 * HOUR - 0.05 * 6 * HOUR);
  });

  it("keeps 20 s between refreshes however small the renewal interval (the floor does not shrink)", async () => {
    assert.equal(MIN_REFRESH_INTERVAL_MS, 20_000);
    const { clock, provider, due, cache, token, fetchFirst } = setup({ renewalIntervalMs: 1 });
    const t = await fetchFirst(1);
    assert.equal(t.refreshAtMs - t.fetchedAtMs, 20_000);
    clock.advance(19_999);
    for (let i = 0; i < 10; i++) await cache.get(registry, creds, "v1");
    assert.equal(provider.calls.length, 1);
    assert.deepEqual(due, []);
    clock.advance(1);
    assert.deepEqual(due, [registry.host]);
    await cache.get(registry, creds, "v1");
    assert.equal(provider.calls.length, 2);
    provider.last().resolve(token(2));
  });

  it("refuses an already expired token (moto's 2015): a failure with backoff, never cached", async () => {
    const { clock, provider, due, settled, reports, cache, token, pending } = setup();
    await pending();
    provider.last().resolve(token(1, -10 * 365 * 24 * HOUR));
    await flush();
    assert.deepEqual(settled, [registry.host], "settled: the waiting namespaces are re-queued");
    assert.equal(cache.peek(registry.host), undefined, "the expired token is not cached");
    const failure = reports.find((r) => r.kind === "failed");
    assert.ok(failure, `reported as failed: ${JSON.stringify(reports.map((r) => r.kind))}`);
    const { error, retryInMs } = failure.detail as { error: Error; retryInMs: number };
    assert.equal(error.name, "ExpiredTokenResponseError");
    assert.match(error.message, /123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com.*already expired.*2016-/);
    assert.equal(retryInMs, 1000);
    await assert.rejects(cache.get(registry, creds, "v1"), { name: "ExpiredTokenResponseError" });
    assert.equal(provider.calls.length, 1, "no call during the backoff");
    clock.advance(1000);
    assert.deepEqual(due, [registry.host]);
    await pending();
    assert.equal(provider.calls.length, 2);
  });

  it("keeps serving a valid token when a refresh returns an expired one", async () => {
    const { clock, provider, reports, cache, token, fetchFirst } = setup();
    const first = await fetchFirst(1);
    clock.advance(6 * HOUR);
    assert.equal((await cache.get(registry, creds, "v1")).authorizationToken, first.authorizationToken);
    provider.last().resolve(token(2, -1));
    await flush();
    assert.equal((await cache.get(registry, creds, "v1")).authorizationToken, first.authorizationToken);
    assert.equal(cache.peek(registry.host)?.authorizationToken, first.authorizationToken);
    assert.deepEqual(
      reports.map((r) => r.kind),
      ["fetched", "failed"],
    );
  });

  it("reports a token living no longer than the safety margin once per registry until that changes", async () => {
    const { clock, provider, reports, cache, token, fetchFirst } = setup();
    const t = await fetchFirst(1, HOUR);
    assert.equal(
      t.refreshAtMs - t.fetchedAtMs,
      MIN_REFRESH_INTERVAL_MS,
      "due at once: refreshed at the floor",
    );
    const shortLived = () => reports.filter((r) => r.kind === "shortLived");
    assert.deepEqual(
      shortLived().map((r) => [r.registry, r.detail]),
      [[registry.host, { lifetimeMs: HOUR, marginMs: HOUR }]],
    );
    const refresh = async (lifetimeMs: number) => {
      clock.advance(MIN_REFRESH_INTERVAL_MS);
      await cache.get(registry, creds, "v1");
      provider.last().resolve(token(provider.calls.length, lifetimeMs));
      await flush();
    };
    await refresh(HOUR - 1);
    assert.equal(shortLived().length, 1, "not again while it stays short-lived");
    await refresh(HOUR + 1);
    assert.equal(shortLived().length, 1);
    await refresh(HOUR / 2);
    assert.equal(shortLived().length, 2, "reported again after a normal token");
    assert.deepEqual(shortLived()[1]?.detail, { lifetimeMs: HOUR / 2, marginMs: HOUR });
  });

  it("never serves a token past its expiry, even before the floor allows a refresh", async () => {
    const { clock, provider, cache, fetchFirst } = setup();
    await fetchFirst(1, 5_000);
    clock.advance(5_000);
    await assert.rejects(cache.get(registry, creds, "v1"), /expired at .*ECR is called again at/);
    assert.equal(provider.calls.length, 1, "the floor holds");
    const wait = cache.unavailableForMs(registry.host);
    assert.ok(wait !== undefined && wait > 0, `no token until the floor passes (${wait} ms)`);
    clock.advance(wait);
    assert.equal(cache.unavailableForMs(registry.host), undefined, "the floor has passed");
  });

  it("treats a missing expiresAt as living one renewal interval", async () => {
    const { fetchFirst } = setup();
    const t = await fetchFirst(1, null);
    assert.equal(t.refreshAtMs - t.fetchedAtMs, 6 * HOUR);
  });

  it("backs off per registry after a failure and calls again only after the backoff", async () => {
    const { clock, provider, due, settled, cache, token, pending } = setup({
      failureBackoffBaseMs: 1000,
      failureBackoffMaxMs: 8000,
    });
    const boom = Object.assign(new Error("slow down"), { name: "ThrottlingException" });
    await pending();
    provider.last().reject(boom);
    await flush();
    assert.deepEqual(settled, [registry.host], "onSettled for a failure too");
    await assert.rejects(cache.get(registry, creds, "v1"), /slow down/);
    assert.equal(provider.calls.length, 1, "no call during the backoff");
    assert.equal(
      cache.unavailableForMs(registry.host),
      1000,
      "the backoff's length, for the callers' requeue",
    );
    clock.advance(400);
    assert.equal(cache.unavailableForMs(registry.host), 600);
    assert.equal(cache.unavailableForMs("other.dkr.ecr.eu-west-1.amazonaws.com"), undefined);
    clock.advance(600);
    assert.deepEqual(due, [registry.host], "the end of the backoff re-queues the registry's users");
    await pending();
    assert.equal(provider.calls.length, 2);
    provider.last().reject(boom);
    await flush();
    clock.advance(1999);
    await assert.rejects(cache.get(registry, creds, "v1"), /slow down/);
    assert.equal(provider.calls.length, 2, "second backoff is twice as long");
    clock.advance(1);
    await pending();
    assert.equal(cache.unavailableForMs(registry.host), undefined, "a call in flight: nothing to wait out");
    provider.last().resolve(token(3));
    await flush();
    assert.equal((await cache.get(registry, creds, "v1")).authorizationToken, token(3).authorizationToken);
    assert.equal(cache.unavailableForMs(registry.host), undefined, "a usable token");
    assert.equal(provider.calls.length, 3);
    assert.equal(settled.length, 3, "once per settled call");
  });

  it("serves the old token while it is valid when a refresh fails, never an expired one", async () => {
    const { clock, provider, cache, pending, fetchFirst } = setup();
    const first = await fetchFirst(1);
    clock.advance(6 * HOUR);
    assert.equal((await cache.get(registry, creds, "v1")).authorizationToken, first.authorizationToken);
    provider.last().reject(new Error("ECR down"));
    await flush();
    assert.equal((await cache.get(registry, creds, "v1")).authorizationToken, first.authorizationToken);
    assert.equal(provider.calls.length, 2);
    clock.advance(6 * HOUR);
    await pending();
    assert.equal(provider.calls.length, 3, "the backoff is over: one more call");
    provider.last().reject(new Error("ECR still down"));
    await flush();
    await assert.rejects(
      cache.get(registry, creds, "v1"),
      /ECR still down/,
      "an expired token is never served",
    );
  });

  it("re-mints when the credentials version changes; a call that settles after that installs nothing", async () => {
    const { provider, settled, reports, cache, token, pending, fetchFirst } = setup();
    await fetchFirst(1);
    await pending(registry, "v2");
    const stale = provider.last();
    assert.equal(stale.request.signal?.aborted, false);
    cache.invalidate(registry.host);
    assert.equal(stale.request.signal?.aborted, true, "the dropped entry's call is aborted");
    assert.equal(cache.peek(registry.host), undefined);
    await pending(registry, "v3");
    assert.equal(provider.calls.length, 3);
    stale.resolve(token(2));
    await flush();
    assert.equal(cache.peek(registry.host), undefined, "the old call's token went nowhere");
    assert.deepEqual(settled, [registry.host], "and told nobody");
    provider.last().resolve(token(3));
    await flush();
    assert.equal((await cache.get(registry, creds, "v3")).authorizationToken, token(3).authorizationToken);
    assert.equal(reports.filter((r) => r.kind === "fetched").length, 2);
  });

  it("primes from a recorded token, tells the observer (its expiry is exported again), and refuses one that is due", async () => {
    const { clock, provider, cache, reports } = setup();
    const recorded = {
      authorizationToken: "dG9r",
      fetchedAtMs: clock.now() - HOUR,
      expiresAtMs: clock.now() + 11 * HOUR,
    };
    assert.equal(cache.prime(registry.host, recorded, "v1"), true);
    assert.deepEqual(
      reports.map((r) => [
        r.kind,
        r.registry,
        (r.detail as { token: { expiresAtMs: number } }).token.expiresAtMs,
      ]),
      [["primed", registry.host, recorded.expiresAtMs]],
    );
    assert.equal((await cache.get(registry, creds, "v1")).authorizationToken, "dG9r");
    assert.equal(provider.calls.length, 0);
    assert.equal(cache.prime(registry.host, recorded, "v1"), false, "never overwrites an entry");
    const old = {
      authorizationToken: "b2xk",
      fetchedAtMs: clock.now() - 7 * HOUR,
      expiresAtMs: clock.now() + 5 * HOUR,
    };
    assert.equal(cache.prime(other.host, old, "v1"), false);
    assert.equal(reports.length, 1, "a refused token is not reported");
  });

  it("validates its options", () => {
    assert.throws(() => setup({ renewalIntervalMs: 0 }), /renewalIntervalMs must be > 0/);
    assert.throws(() => setup({ minRefreshIntervalMs: 0 }), /minRefreshIntervalMs must be > 0/);
    assert.throws(() => setup({ jitterFraction: 1 }), /jitterFraction/);
  });

  it("close() cancels timers and aborts calls in flight", async () => {
    const { clock, provider, settled, cache, pending, fetchFirst } = setup();
    await fetchFirst(1);
    await pending(other);
    assert.equal(clock.pendingTimers(), 1);
    cache.close();
    assert.equal(clock.pendingTimers(), 0);
    assert.equal(provider.last().request.signal?.aborted, true);
    provider.last().reject(new Error("aborted"));
    await flush();
    assert.deepEqual(settled, [registry.host]);
    await assert.rejects(cache.get(registry, creds, "v1"), /closed/);
  });
});
