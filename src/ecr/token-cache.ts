import { backoffDelay, validateBackoff } from "../backoff.ts";
import type { Clock, TimerHandle } from "../clock.ts";
import type { AwsCredentials } from "./credentials.ts";
import type { RegistryHost } from "./registry-host.ts";
import type { AuthorizationToken, TokenProvider } from "./token-provider.ts";

/** A token held by the cache, with the times that govern it (epoch ms). */
export interface CachedToken extends AuthorizationToken {
  readonly fetchedAtMs: number;
  /** When the cache refreshes it (and re-queues the registry's namespaces). */
  readonly refreshAtMs: number;
}

/** What the cache reports about its ECR calls, for metrics and logs. */
export interface TokenCacheObserver {
  fetched?(registry: string, token: CachedToken, renewal: boolean): void;
  failed?(registry: string, error: unknown, retryInMs: number): void;
}

export interface TokenCacheOptions {
  readonly provider: TokenProvider;
  readonly clock: Clock;
  /** A token is refreshed when its age reaches this (the seed's -auth-token-renewal-interval). */
  readonly renewalIntervalMs: number;
  /** …or when less than this remains before it expires, whichever comes first. */
  readonly safetyMarginMs: number;
  /** Floor between two calls for one registry, whatever expiresAt says (no hot loop on a past expiry). */
  readonly minRefreshIntervalMs?: number;
  /** Refresh times are brought forward by up to this fraction of the token's planned life. */
  readonly jitterFraction?: number;
  /** Per-registry failure backoff: base * 2^(failures-1), capped. */
  readonly failureBackoffBaseMs?: number;
  readonly failureBackoffMaxMs?: number;
  /** Called when a registry's token is due for refresh, or its failure backoff ended: re-queue its users. */
  readonly onRefreshDue: (registry: string) => void;
  readonly observer?: TokenCacheObserver;
  readonly random?: () => number;
}

interface Entry {
  credentialsVersion: string;
  token: CachedToken | undefined;
  inflight: Promise<CachedToken> | undefined;
  failures: number;
  lastError: unknown;
  retryAtMs: number;
  timer: TimerHandle | undefined;
}

/**
 * Caches one ECR token per registry. However many namespaces ask, a registry costs one ECR call per
 * refresh: concurrent callers share the in-flight call, failures back off per registry, and a token whose
 * refresh failed is still served while it has not expired.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly o: Required<Omit<TokenCacheOptions, "observer">> & { observer: TokenCacheObserver };
  private closed = false;

  constructor(options: TokenCacheOptions) {
    this.o = {
      minRefreshIntervalMs: 30_000,
      jitterFraction: 0.05,
      failureBackoffBaseMs: 1_000,
      failureBackoffMaxMs: 5 * 60_000,
      random: Math.random,
      observer: {},
      ...options,
    };
    const o = this.o;
    if (!(o.renewalIntervalMs > 0)) throw new Error("TokenCache: renewalIntervalMs must be > 0");
    if (!(o.safetyMarginMs >= 0)) throw new Error("TokenCache: safetyMarginMs must be >= 0");
    if (!(o.minRefreshIntervalMs > 0)) throw new Error("TokenCache: minRefreshIntervalMs must be > 0");
    if (!(o.jitterFraction >= 0 && o.jitterFraction < 1))
      throw new Error("TokenCache: jitterFraction must be in [0, 1)");
    validateBackoff("TokenCache failure backoff", {
      baseMs: o.failureBackoffBaseMs,
      maxMs: o.failureBackoffMaxMs,
    });
  }

  /**
   * Returns a usable token for the registry, calling ECR only when none is cached, the cached one is due
   * for refresh, or the credentials changed (credentialsVersion differs). Throws the ECR or credential
   * error when no unexpired token can be served.
   */
  async get(
    registry: RegistryHost,
    credentials: AwsCredentials,
    credentialsVersion: string,
  ): Promise<CachedToken> {
    if (this.closed) throw new Error("TokenCache is closed");
    let entry = this.entries.get(registry.host);
    if (entry && entry.credentialsVersion !== credentialsVersion) {
      this.invalidate(registry.host);
      entry = undefined;
    }
    if (!entry) {
      entry = {
        credentialsVersion,
        token: undefined,
        inflight: undefined,
        failures: 0,
        lastError: undefined,
        retryAtMs: 0,
        timer: undefined,
      };
      this.entries.set(registry.host, entry);
    }
    const now = this.o.clock.now();
    if (entry.token && now < entry.token.refreshAtMs) return entry.token;
    if (entry.inflight) return this.staleOr(entry, entry.inflight);
    if (entry.failures > 0 && now < entry.retryAtMs) {
      const stale = this.usable(entry.token, now);
      if (stale) return stale;
      throw entry.lastError;
    }
    entry.inflight = this.fetch(registry, credentials, entry);
    return this.staleOr(entry, entry.inflight);
  }

  /**
   * Seeds the cache with a token recorded earlier (e.g. in an existing pull secret) when the registry has
   * no entry yet and the token is not yet due for refresh. Returns true when it was taken.
   */
  prime(
    registryHost: string,
    token: AuthorizationToken & { fetchedAtMs: number },
    credentialsVersion: string,
  ): boolean {
    if (this.closed || this.entries.has(registryHost)) return false;
    const now = this.o.clock.now();
    const refreshAtMs = this.refreshAt(token.fetchedAtMs, token.expiresAtMs);
    if (token.fetchedAtMs > now || refreshAtMs <= now) return false;
    const cached: CachedToken = {
      authorizationToken: token.authorizationToken,
      expiresAtMs: token.expiresAtMs,
      fetchedAtMs: token.fetchedAtMs,
      refreshAtMs,
    };
    const entry: Entry = {
      credentialsVersion,
      token: cached,
      inflight: undefined,
      failures: 0,
      lastError: undefined,
      retryAtMs: 0,
      timer: undefined,
    };
    this.entries.set(registryHost, entry);
    this.schedule(registryHost, entry, refreshAtMs - now);
    return true;
  }

  /** The cached token, if any, without calling ECR. */
  peek(registryHost: string): CachedToken | undefined {
    return this.entries.get(registryHost)?.token;
  }

  /** Forgets a registry's token and backoff (its credentials changed or were deleted). */
  invalidate(registryHost: string): void {
    const entry = this.entries.get(registryHost);
    if (!entry) return;
    entry.timer?.cancel();
    this.entries.delete(registryHost);
  }

  /** Cancels every timer; later get() calls fail. */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) entry.timer?.cancel();
    this.entries.clear();
  }

  private async staleOr(entry: Entry, inflight: Promise<CachedToken>): Promise<CachedToken> {
    try {
      return await inflight;
    } catch (err) {
      const stale = this.usable(entry.token, this.o.clock.now());
      if (stale) return stale;
      throw err;
    }
  }

  private usable(token: CachedToken | undefined, now: number): CachedToken | undefined {
    if (!token) return undefined;
    const expiresAt = token.expiresAtMs ?? token.fetchedAtMs + this.o.renewalIntervalMs;
    return now < expiresAt ? token : undefined;
  }

  private async fetch(
    registry: RegistryHost,
    credentials: AwsCredentials,
    entry: Entry,
  ): Promise<CachedToken> {
    const renewal = entry.token !== undefined;
    try {
      const minted = await this.o.provider.getAuthorizationToken({ registry, credentials });
      const fetchedAtMs = this.o.clock.now();
      const token: CachedToken = {
        ...minted,
        fetchedAtMs,
        refreshAtMs: this.refreshAt(fetchedAtMs, minted.expiresAtMs),
      };
      if (this.entries.get(registry.host) === entry) {
        entry.token = token;
        entry.failures = 0;
        entry.lastError = undefined;
        this.schedule(registry.host, entry, token.refreshAtMs - fetchedAtMs);
      }
      this.o.observer.fetched?.(registry.host, token, renewal);
      return token;
    } catch (err) {
      const backoff = backoffDelay(
        { baseMs: this.o.failureBackoffBaseMs, maxMs: this.o.failureBackoffMaxMs },
        entry.failures,
      );
      if (this.entries.get(registry.host) === entry) {
        entry.failures++;
        entry.lastError = err;
        entry.retryAtMs = this.o.clock.now() + backoff;
        this.schedule(registry.host, entry, backoff);
      }
      this.o.observer.failed?.(registry.host, err, backoff);
      throw err;
    } finally {
      entry.inflight = undefined;
    }
  }

  /** Refresh time: the earlier of age = renewal interval and expiry - safety margin, jittered, floored. */
  private refreshAt(fetchedAtMs: number, expiresAtMs: number | undefined): number {
    let at = fetchedAtMs + this.o.renewalIntervalMs;
    if (expiresAtMs !== undefined) at = Math.min(at, expiresAtMs - this.o.safetyMarginMs);
    const life = at - fetchedAtMs;
    if (life > 0) at -= Math.floor(life * this.o.jitterFraction * this.o.random());
    return Math.max(at, fetchedAtMs + this.o.minRefreshIntervalMs);
  }

  private schedule(registryHost: string, entry: Entry, delayMs: number): void {
    entry.timer?.cancel();
    entry.timer = this.o.clock.setTimeout(() => {
      entry.timer = undefined;
      if (!this.closed && this.entries.get(registryHost) === entry) this.o.onRefreshDue(registryHost);
    }, delayMs);
  }
}

/** No usable token yet: a fetch is under way; the caller is told again when it settles. */
export class TokenPendingError extends Error {
  override readonly name = "TokenPendingError";
}
