import type { V1ObjectReference } from "@kubernetes/client-node";
import type { Counter, Gauge } from "prom-client";
import type { EventType } from "../kube/event-recorder.ts";
import { StsError, stsResult } from "./credential-source.ts";
import { tokenApiName } from "./registry-host.ts";
import { CredentialSourceError } from "./sts.ts";
import type { CachedToken, TokenCacheObserver } from "./token-cache.ts";

/** Classifies an ECR or ECR Public error for the result label of eatr_ecr_token_requests_total. */
export function ecrResult(err: unknown): "throttled" | "invalid_credentials" | "error" {
  const name = err instanceof Error ? err.name : "";
  if (name === "ThrottlingException" || name === "TooManyRequestsException") return "throttled";
  if (
    [
      "UnrecognizedClientException",
      "InvalidSignatureException",
      "InvalidClientTokenId",
      "AccessDeniedException",
      "ExpiredTokenException",
      "SignatureDoesNotMatch",
    ].includes(name)
  ) {
    return "invalid_credentials";
  }
  return "error";
}

export interface TokenReporterOptions {
  readonly metrics: {
    readonly ecrTokenRequests: Counter<"registry" | "result">;
    readonly tokenExpiry: Gauge<"registry">;
    readonly tokenFetched: Gauge<"registry">;
    readonly secretRenewals: Counter;
  };
  readonly logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  readonly events: { record(obj: V1ObjectReference, type: EventType, reason: string, message: string): void };
  /** The registry's credential secret, for Events about its ECR calls; undefined when there is none. */
  readonly credentialSecret: (registry: string) => V1ObjectReference | undefined;
}

/**
 * What the token cache's ECR calls tell the outside: metrics for every call, a log line per fetch or
 * failure (each failure is one backoff step), and a Warning Event on the credential secret whose message
 * stays the same across retries, so the recorder aggregates it into one Event with a count.
 */
export class TokenReporter implements TokenCacheObserver {
  private readonly o: TokenReporterOptions;

  constructor(options: TokenReporterOptions) {
    this.o = options;
  }

  fetched(registry: string, token: CachedToken, renewal: boolean): void {
    const { metrics, logger } = this.o;
    metrics.ecrTokenRequests.inc({ registry, result: "success" });
    if (token.expiresAtMs !== undefined) metrics.tokenExpiry.set({ registry }, token.expiresAtMs / 1000);
    metrics.tokenFetched.set({ registry }, token.fetchedAtMs / 1000);
    if (renewal) metrics.secretRenewals.inc();
    logger.info(
      {
        registry,
        renewal,
        expiresAt: token.expiresAtMs === undefined ? null : new Date(token.expiresAtMs).toISOString(),
        refreshAt: new Date(token.refreshAtMs).toISOString(),
      },
      "ECR token fetched",
    );
  }

  /** A token found in a pull secret at startup: its expiry and fetch time are exported, no call is counted. */
  primed(registry: string, token: CachedToken): void {
    const { metrics } = this.o;
    if (token.expiresAtMs !== undefined) metrics.tokenExpiry.set({ registry }, token.expiresAtMs / 1000);
    metrics.tokenFetched.set({ registry }, token.fetchedAtMs / 1000);
  }

  failed(registry: string, err: unknown, retryInMs: number): void {
    // The registry's credential source failed before ECR was called (counted as an STS request there).
    const sourceFailed = err instanceof StsError || err instanceof CredentialSourceError;
    const result = sourceFailed ? stsResult(err) : ecrResult(err);
    if (!sourceFailed) this.o.metrics.ecrTokenRequests.inc({ registry, result });
    this.o.logger.warn(
      { registry, err, result, retryInMs },
      sourceFailed
        ? "AWS credentials for the registry could not be obtained; existing pull secrets kept"
        : `${tokenApiName(registry)} GetAuthorizationToken failed; existing pull secrets kept`,
    );
    const cred = this.o.credentialSecret(registry);
    if (!cred) return;
    const name = err instanceof StsError ? err.code : err instanceof Error ? err.name : "Error";
    const message = err instanceof Error ? err.message : String(err);
    const what = sourceFailed
      ? `Getting AWS credentials for ${registry} failed (${name}: ${message})`
      : `${tokenApiName(registry)} GetAuthorizationToken for ${registry} failed (${name}: ${message})`;
    this.o.events.record(
      cred,
      "Warning",
      "TokenRequestFailed",
      `${what}; eatr retries with backoff (1 s doubling to 5 min). Existing pull secrets are kept until they expire.`,
    );
  }

  /** The registry's tokens live no longer than the safety margin: each is refreshed at the floor. */
  shortLived(registry: string, lifetimeMs: number, marginMs: number): void {
    this.o.logger.warn(
      { registry, tokenLifetimeMs: lifetimeMs, safetyMarginMs: marginMs },
      "ECR tokens of this registry live no longer than -token-safety-margin: each is refreshed as soon as the 20 s floor allows, and every pull secret of the registry rewritten each time; lower -token-safety-margin",
    );
  }

  /** No namespace uses the registry any more: its expiry is no longer reported. */
  forgotten(registry: string): void {
    this.o.metrics.tokenExpiry.remove({ registry });
    this.o.metrics.tokenFetched.remove({ registry });
    this.o.logger.info(
      { registry },
      "no namespace uses this registry any more; its token is no longer renewed",
    );
  }
}
