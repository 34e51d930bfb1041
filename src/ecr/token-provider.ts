import { realClock } from "../clock.ts";
import { ECRClient, GetAuthorizationTokenCommand, type ECRClientConfig } from "@aws-sdk/client-ecr";
import { CredentialSources, type AwsIdentity, type CredentialResolver } from "./credential-source.ts";
import type { AwsCredentials } from "./credentials.ts";
import type { RegistryHost } from "./registry-host.ts";

/** A docker credential minted by ECR. `authorizationToken` is base64("AWS:<password>"); never log it. */
export interface AuthorizationToken {
  readonly authorizationToken: string;
  /** Expiry as epoch milliseconds, when ECR said. */
  readonly expiresAtMs: number | undefined;
}

export interface TokenRequest {
  readonly registry: RegistryHost;
  readonly credentials: AwsCredentials;
  readonly signal?: AbortSignal;
}

/** Mints ECR authorization tokens. One method so tests and other backends can stand in. */
export interface TokenProvider {
  getAuthorizationToken(request: TokenRequest): Promise<AuthorizationToken>;
}

/** ECR answered, but with something we cannot use. */
export class InvalidTokenResponseError extends Error {
  override readonly name: string = "InvalidTokenResponseError";
}

/** ECR did not answer within the provider's timeout. */
export class EcrTimeoutError extends Error {
  override readonly name = "EcrTimeoutError";
}

/**
 * ECR answered with a token that had already expired when it arrived (e.g. moto's fixed 2015 expiresAt).
 * Writing it would only make pulls fail: the cache treats it as a failed call.
 */
export class ExpiredTokenResponseError extends InvalidTokenResponseError {
  override readonly name: string = "ExpiredTokenResponseError";
}

/** Default bound on one GetAuthorizationToken call, connection setup included. */
export const DEFAULT_ECR_TIMEOUT_MS = 10_000;

export interface EcrTokenProviderOptions {
  /** Overrides the ECR API endpoint (VPC endpoints, proxies, tests). Empty = the SDK's regional endpoint. */
  readonly endpoint?: string;
  /** Bound on one call, including connection setup (default DEFAULT_ECR_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /**
   * Turns a registry's credentials into the identity the call is signed with (assumed roles, web
   * identity, the SDK chain). Default: CredentialSources on the SDK's regional STS endpoints, without a
   * web identity token file. Its failures (StsError…) fail the call.
   */
  readonly credentials?: CredentialResolver;
}

/**
 * The SDK client configuration for one call for a registry. Without a custom endpoint the SDK resolves the
 * regional API endpoint from the host's region and its FIPS and dual-stack flags. With one, the endpoint
 * decides (a FIPS or dual-stack VPC endpoint is just a URL) and the SDK refuses those flags, so they are
 * left out; requests are signed for the host's region either way. The HTTP handler's connection and request
 * timeouts are the call's own bound, and the SDK makes one attempt (the token cache owns retries).
 */
export function ecrClientConfig(
  request: Pick<TokenRequest, "registry" | "credentials">,
  options: {
    readonly endpoint?: string | undefined;
    readonly timeoutMs: number;
    /** What the call is signed with; default the credentials' static keys. */
    readonly identity?: AwsIdentity;
  },
): ECRClientConfig {
  const { registry, credentials } = request;
  const endpoint = options.endpoint === "" ? undefined : options.endpoint;
  const identity = options.identity ?? credentials;
  return {
    region: credentials.region,
    ...(endpoint === undefined
      ? { useFipsEndpoint: registry.fips, useDualstackEndpoint: registry.dualStack }
      : { endpoint }),
    credentials: {
      accessKeyId: identity.accessKeyId ?? "",
      secretAccessKey: identity.secretAccessKey ?? "",
      ...(identity.sessionToken === undefined ? {} : { sessionToken: identity.sessionToken }),
    },
    // Retries are ours: per-registry backoff in the token cache keeps the call count honest.
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: options.timeoutMs,
      requestTimeout: options.timeoutMs,
      throwOnRequestTimeout: true,
    },
  };
}

/**
 * GetAuthorizationToken through the AWS SDK, signed with what the registry's credential source yields
 * (the credential secret's static keys by default). The source is resolved first, so its STS call is part
 * of the fetch: an STS failure is a failed fetch.
 */
export class EcrTokenProvider implements TokenProvider {
  private readonly endpoint: string | undefined;
  private readonly timeoutMs: number;
  private readonly credentials: CredentialResolver;

  constructor(options: EcrTokenProviderOptions = {}) {
    this.endpoint = options.endpoint === "" ? undefined : options.endpoint;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_ECR_TIMEOUT_MS;
    if (!(this.timeoutMs > 0)) throw new Error("EcrTokenProvider: timeoutMs must be > 0");
    this.credentials =
      options.credentials ??
      new CredentialSources({
        clock: realClock,
        sts: { timeoutMs: this.timeoutMs, webIdentityTokenFile: "" },
      });
  }

  async getAuthorizationToken(request: TokenRequest): Promise<AuthorizationToken> {
    const { registry } = request;
    const identity = await this.credentials.resolve(registry, request.credentials, request.signal);
    const client = new ECRClient(
      ecrClientConfig(request, { endpoint: this.endpoint, timeoutMs: this.timeoutMs, identity }),
    );
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      const signals = [timeout];
      if (request.signal) signals.push(request.signal);
      const out = await client.send(new GetAuthorizationTokenCommand({}), {
        abortSignal: AbortSignal.any(signals),
      });
      return validate(out.authorizationData?.[0], registry);
    } catch (err) {
      const timedOut = err instanceof Error && err.name === "TimeoutError";
      if ((timeout.aborted && request.signal?.aborted !== true) || timedOut) {
        throw new EcrTimeoutError(
          `ECR GetAuthorizationToken for ${registry.host} did not answer within ${this.timeoutMs} ms`,
          { cause: err },
        );
      }
      throw err;
    } finally {
      client.destroy();
    }
  }
}

function validate(
  data: { authorizationToken?: string | undefined; expiresAt?: Date | undefined } | undefined,
  registry: RegistryHost,
): AuthorizationToken {
  if (data === undefined) {
    throw new InvalidTokenResponseError(`ECR returned no authorizationData for ${registry.host}`);
  }
  const token = data.authorizationToken;
  if (token === undefined || token === "") {
    throw new InvalidTokenResponseError(`ECR returned an empty authorizationToken for ${registry.host}`);
  }
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0 || colon === decoded.length - 1) {
    throw new InvalidTokenResponseError(
      `ECR returned an authorizationToken for ${registry.host} that is not base64 "user:password"`,
    );
  }
  const expiresAtMs = data.expiresAt?.getTime();
  return {
    authorizationToken: token,
    expiresAtMs: expiresAtMs === undefined || Number.isNaN(expiresAtMs) ? undefined : expiresAtMs,
  };
}
