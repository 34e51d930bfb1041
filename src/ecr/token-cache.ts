import { backoffDelay, validateBackoff } from "../backoff.ts";
import type { Clock, TimerHandle } from "../clock.ts";
import type { AwsCredentials } from "./credentials.ts";
import type { RegistryHost } from "./registry-host.ts";
import { ExpiredTokenResponseError, type AuthorizationToken, type TokenProvider } from "./token-provider.ts";

/**
 * Floor between two successful ECR calls for one registry, whatever the options or expiresAt say, and the
 * smallest accepted -auth-token-renewal-interval. AWS throttles GetAuthorizationToken per account (about
 * 20 per second) and every renewal rewrites each namespace's pull secret.
 */
export const MIN_REFRESH_INTERVAL_MS = 20_000;

/** How long an ECR token lives; a safety margin must be shorter, or every token is due as soon as fetched. */
export const ECR_TOKEN_LIFETIME_MS = 12 * 3_600_000;

/** A token held by the cache, with the times that govern it (epoch ms). */
export interface CachedToken extends AuthorizationToken {
  readonly fetchedAtMs: number;
  /** When the cache refreshes it (and re-queues the registry's namespaces). */
  readonly refreshAtMs: number;
}

/**
 * No usable token for the registry yet, but an ECR call for it is in flight: retry once onSettled reports
 * it done. Not a failure.
 */
export class TokenPendingError extends Error {
  override readonly name = "TokenPendingError";
  readonly registry: string;

  constructor(registry: string) {
    super(`the ECR token for ${registry} is still being fetched`);
    this.registry = registry;
  }
}

/** What the cache reports about its ECR calls, for metrics and logs. Callbacks must not throw. */
export interface TokenCacheObserver {
  fetched?(registry: string, token: CachedToken, renewal: boolean): void;
  failed?(registry: string, error: unknown, retryInMs: number): void;
  /**
   * ECR gave a token that lives no longer than the safety margin (expiresAt - fetchedAt <= marginMs): it is
   * due for refresh as soon as it arrives, so it is refreshed every MIN_REFRESH_INTERVAL_MS. Reported once
   * per registry until a token of that registry lives longer than the margin again.
   */
  shortLived?(registry: string, lifetimeMs: number, marginMs: number): void;
  /**
   * The cache took a token recorded earlier (prime(): a restart or a failover found it in a pull secret):
   * no ECR call was made, but the token's expiry and fetch time are known again.
   */
  primed?(registry: string, token: CachedToken): void;
}

export interface TokenCacheOptions {
  readonly provider: TokenProvider;
  readonly clock: Clock;
  /** A token is refreshed when its age reaches this (the seed's -auth-token-renewal-interval). */
  readonly renewalIntervalMs: number;
  /** …or when less than this remains before it expires, whichever comes first. */
  readonly safetyMarginMs: number;
  /**
   * Floor between two successful calls for one registry, whatever expiresAt and the renewal interval say
   * (default MIN_REFRESH_INTERVAL_MS).
   */
  readonly minRefreshIntervalMs?: number;
  /** Refresh times are brought forward by up to this fraction of the token's planned life. */
  readonly jitterFraction?: number;
  /** Per-registry failure backoff: base * 2^(failures-1), capped. */
  readonly failureBackoffBaseMs?: number;
  readonly failureBackoffMaxMs?: number;
  /** Called when a registry's token is due for refresh, or its failure backoff ended: re-queue its users. */
  readonly onRefreshDue: (registry: string) => void;
  /**
   * Called once each time an ECR call settles (success or failure) for a registry the cache still holds:
   * re-queue its users, whose get() threw TokenPendingError or served the token now replaced.
   */
  readonly onSettled?: (registry: string) => void;
  readonly observer?: TokenCacheObserver;
  readonly random?: () => number;
}

interface Entry {
  credentialsVersion: string;
  token: CachedToken | undefined;
  inflight: boolean;
  failures: number;
  lastError: unknown;
  retryAtMs: number;
  timer: TimerHandle | undefined;
  /** Aborts the entry's ECR call when the entry is dropped (credentials changed, cache closed). */
  readonly abort: AbortController;
}

type Options = Required<Omit<TokenCacheOptions, "observer" | "onSettled">> &
  Pick<TokenCacheOptions, "onSettled"> & { observer: TokenCacheObserver };

/**
 * Caches one ECR token per registry. However many namespaces ask, a registry costs one ECR call per
 * refresh: one call at a time per registry, failures back off per registry, and a token whose refresh
 * failed is still served while it has not expired. get() never waits for ECR: calls run in the
 * background and onSettled reports their end, so a slow registry holds up no caller.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  /** Registries whose last token was reported short-lived. */
  private readonly shortLived = new Set<string>();
  private readonly o: Options;
  private closed = false;

  constructor(options: TokenCacheOptions) {
    this.o = {
      minRefreshIntervalMs: MIN_REFRESH_INTERVAL_MS,
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
   * Returns a usable token for the registry at once, never waiting for ECR. A token due for refresh (or
   * none, or one minted with other credentials) starts an ECR call in the background unless one is in
   * flight or the registry is backing off after a failure; a due token that has not expired is served
   * meanwhile. Without a usable token it rejects with TokenPendingError while a call is in flight, else
   * with the last ECR error.
   */
  get(registry: RegistryHost, credentials: AwsCredentials, credentialsVersion: string): Promise<CachedToken> {
    // A throw in the executor rejects the promise: callers see one promise either way, settled at once.
    return new Promise((resolve) => {
      resolve(this.lookup(registry, credentials, credentialsVersion));
    });
  }

  private lookup(
    registry: RegistryHost,
    credentials: AwsCredentials,
    credentialsVersion: string,
  ): CachedToken {
    if (this.closed) throw new Error("TokenCache is closed");
    let entry = this.entries.get(registry.host);
    if (entry && entry.credentialsVersion !== credentialsVersion) {
      this.invalidate(registry.host);
      entry = undefined;
    }
    if (!entry) {
      entry = newEntry(credentialsVersion, undefined);
      this.entries.set(registry.host, entry);
    }
    const now = this.o.clock.now();
    const usable = this.usable(entry.token, now);
    if (usable && now < usable.refreshAtMs) return usable;
    const backingOff = entry.failures > 0 && now < entry.retryAtMs;
    // Only reachable with a token that expired before the floor allowed its refresh (a very short-lived one).
    const floored = entry.token !== undefined && now < entry.token.fetchedAtMs + this.o.minRefreshIntervalMs;
    if (!entry.inflight && !backingOff && !floored) this.start(registry, credentials, entry);
    if (usable) return usable;
    if (entry.inflight) throw new TokenPendingError(registry.host);
    if (backingOff) throw entry.lastError;
    const { token } = entry;
    throw new Error(
      `the ECR token for ${registry.host} expired at ${iso(token?.expiresAtMs)}; ECR is called again at ` +
        `${iso((token?.fetchedAtMs ?? now) + this.o.minRefreshIntervalMs)} (at most once every ` +
        `${this.o.minRefreshIntervalMs / 1000} s per registry)`,
    );
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
    if (token.fetchedAtMs > now || refreshAtMs <= now || !this.usable({ ...token, refreshAtMs }, now)) {
      return false;
    }
    const entry = newEntry(credentialsVersion, {
      authorizationToken: token.authorizationToken,
      expiresAtMs: token.expiresAtMs,
      fetchedAtMs: token.fetchedAtMs,
      refreshAtMs,
    });
    this.entries.set(registryHost, entry);
    this.schedule(registryHost, entry, refreshAtMs - now);
    if (entry.token !== undefined) this.o.observer.primed?.(registryHost, entry.token);
    return true;
  }

  /** The cached token, if any, without calling ECR. */
  peek(registryHost: string): CachedToken | undefined {
    return this.entries.get(registryHost)?.token;
  }

  /**
   * While the registry has no usable token and ECR may not be called yet (a failure backoff, or an expired
   * token under the refresh floor): how many ms until it may. Undefined otherwise (a token, a call in
   * flight, or nothing holding the next call back).
   */
  unavailableForMs(registryHost: string): number | undefined {
    const entry = this.entries.get(registryHost);
    if (!entry || this.closed || entry.inflight) return undefined;
    const now = this.o.clock.now();
    if (this.usable(entry.token, now)) return undefined;
    const until = Math.max(
      entry.failures > 0 ? entry.retryAtMs : 0,
      entry.token === undefined ? 0 : entry.token.fetchedAtMs + this.o.minRefreshIntervalMs,
    );
    return until > now ? until - now : undefined;
  }

  /** Forgets a registry's token and backoff (its credentials changed or were deleted); aborts its call. */
  invalidate(registryHost: string): void {
    const entry = this.entries.get(registryHost);
    if (!entry) return;
    this.drop(entry);
    this.entries.delete(registryHost);
  }

  /** Cancels every timer and ECR call; later get() calls fail. */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) this.drop(entry);
    this.entries.clear();
  }

  private drop(entry: Entry): void {
    entry.timer?.cancel();
    entry.timer = undefined;
    entry.abort.abort();
  }

  private usable(token: CachedToken | undefined, now: number): CachedToken | undefined {
    if (!token) return undefined;
    const expiresAt = token.expiresAtMs ?? token.fetchedAtMs + this.o.renewalIntervalMs;
    return now < expiresAt ? token : undefined;
  }

  private start(registry: RegistryHost, credentials: AwsCredentials, entry: Entry): void {
    entry.inflight = true;
    void this.fetch(registry, credentials, entry);
  }

  /** One ECR call; never rejects. Its outcome lands in the entry only while the entry is current. */
  private async fetch(registry: RegistryHost, credentials: AwsCredentials, entry: Entry): Promise<void> {
    const renewal = entry.token !== undefined;
    let minted: AuthorizationToken | undefined;
    let error: unknown;
    try {
      minted = await this.o.provider.getAuthorizationToken({
        registry,
        credentials,
        signal: entry.abort.signal,
      });
    } catch (err) {
      error = err;
    }
    entry.inflight = false;
    // Dropped (credentials changed, cache closed): nothing to record, nobody to tell.
    if (entry.abort.signal.aborted) return;
    const host = registry.host;
    const now = this.o.clock.now();
    if (minted?.expiresAtMs !== undefined && minted.expiresAtMs <= now) {
      error = new ExpiredTokenResponseError(
        `ECR returned a token for ${host} that had already expired: expiresAt ${iso(minted.expiresAtMs)}, ` +
          `received ${iso(now)}; it is not used`,
      );
      minted = undefined;
    }
    if (minted) {
      const token: CachedToken = {
        ...minted,
        fetchedAtMs: now,
        refreshAtMs: this.refreshAt(now, minted.expiresAtMs),
      };
      entry.token = token;
      entry.failures = 0;
      entry.lastError = undefined;
      entry.retryAtMs = 0;
      this.schedule(host, entry, token.refreshAtMs - now);
      this.o.observer.fetched?.(host, token, renewal);
      this.noteLifetime(host, token);
    } else {
      const backoff = backoffDelay(
        { baseMs: this.o.failureBackoffBaseMs, maxMs: this.o.failureBackoffMaxMs },
        entry.failures,
      );
      entry.failures++;
      entry.lastError = error;
      entry.retryAtMs = now + backoff;
      this.schedule(host, entry, backoff);
      this.o.observer.failed?.(host, error, backoff);
    }
    this.o.onSettled?.(host);
  }

  /** Reports a token living no longer than the safety margin, once until that changes. */
  private noteLifetime(registryHost: string, token: CachedToken): void {
    if (token.expiresAtMs === undefined) return;
    const lifetimeMs = token.expiresAtMs - token.fetchedAtMs;
    if (lifetimeMs > this.o.safetyMarginMs) {
      this.shortLived.delete(registryHost);
    } else if (!this.shortLived.has(registryHost)) {
      this.shortLived.add(registryHost);
      this.o.observer.shortLived?.(registryHost, lifetimeMs, this.o.safetyMarginMs);
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

function newEntry(credentialsVersion: string, token: CachedToken | undefined): Entry {
  return {
    credentialsVersion,
    token,
    inflight: false,
    failures: 0,
    lastError: undefined,
    retryAtMs: 0,
    timer: undefined,
    abort: new AbortController(),
  };
}

function iso(ms: number | undefined): string {
  return ms === undefined ? "(no expiry)" : new Date(ms).toISOString();
}
