import { realClock } from "../clock.ts";
import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { CredentialSources, type AwsIdentity, type CredentialResolver } from "./credential-source.ts";
import type { AwsCredentials } from "./credentials.ts";
import { ECR_PUBLIC_REGION, tokenApiName, type RegistryHost } from "./registry-host.ts";

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

/**
 * Mints ECR authorization tokens: ECR's for private registries, ECR Public's for public.ecr.aws. One method
 * so tests and other backends can stand in.
 */
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
  /**
   * Overrides the ECR API endpoint of private registries (VPC endpoints, proxies, tests). Empty = the
   * SDK's regional endpoint. Never used for public.ecr.aws: ECR Public is another service.
   */
  readonly endpoint?: string;
  /** Overrides the ECR Public API endpoint (public.ecr.aws; proxies, tests). Empty = the SDK's us-east-1 one. */
  readonly publicEndpoint?: string;
  /** Bound on one call, including connection setup (default DEFAULT_ECR_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /**
   * Turns a registry's credentials into the identity the call is signed with (assumed roles, web
   * identity, the SDK chain). Default: CredentialSources on the SDK's regional STS endpoints, without a
   * web identity token file. Its failures (StsError…) fail the call.
   */
  readonly credentials?: CredentialResolver;
}

/** What eatr sets on an ECR or ECR Public SDK client (both accept it). */
export interface EcrClientConfig {
  readonly region: string;
  readonly endpoint?: string;
  readonly useFipsEndpoint?: boolean;
  readonly useDualstackEndpoint?: boolean;
  readonly credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  readonly maxAttempts: number;
  readonly requestHandler: {
    connectionTimeout: number;
    requestTimeout: number;
    throwOnRequestTimeout: boolean;
  };
}

/**
 * The SDK client configuration for one call for a registry. Without a custom endpoint the SDK resolves the
 * regional API endpoint from the host's region and its FIPS and dual-stack flags. With one, the endpoint
 * decides (a FIPS or dual-stack VPC endpoint is just a URL) and the SDK refuses those flags, so they are
 * left out; requests are signed for the host's region either way (us-east-1 for ECR Public, whatever the
 * credentials say). `endpoint` is the one for the registry's kind. The HTTP handler's connection and
 * request timeouts are the call's own bound, and the SDK makes one attempt (the token cache owns retries).
 */
export function ecrClientConfig(
  request: Pick<TokenRequest, "registry" | "credentials">,
  options: {
    readonly endpoint?: string | undefined;
    readonly timeoutMs: number;
    /** What the call is signed with; default the credentials' static keys. */
    readonly identity?: AwsIdentity;
  },
): EcrClientConfig {
  const { registry, credentials } = request;
  const endpoint = options.endpoint === "" ? undefined : options.endpoint;
  const identity = options.identity ?? credentials;
  return {
    region: registry.kind === "public" ? ECR_PUBLIC_REGION : credentials.region,
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
 * (the credential secret's static keys by default): ECR's in the registry's region for a private registry,
 * ECR Public's in us-east-1 for public.ecr.aws. The source is resolved first, so its STS call is part of
 * the fetch: an STS failure is a failed fetch.
 */
export class EcrTokenProvider implements TokenProvider {
  private readonly endpoint: string | undefined;
  private readonly publicEndpoint: string | undefined;
  private readonly timeoutMs: number;
  private readonly credentials: CredentialResolver;

  constructor(options: EcrTokenProviderOptions = {}) {
    this.endpoint = options.endpoint === "" ? undefined : options.endpoint;
    this.publicEndpoint = options.publicEndpoint === "" ? undefined : options.publicEndpoint;
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
    const config = ecrClientConfig(request, {
      endpoint: registry.kind === "public" ? this.publicEndpoint : this.endpoint,
      timeoutMs: this.timeoutMs,
      identity,
    });
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      const signals = [timeout];
      if (request.signal) signals.push(request.signal);
      return validate(await send(registry, config, AbortSignal.any(signals)), registry);
    } catch (err) {
      const timedOut = err instanceof Error && err.name === "TimeoutError";
      if ((timeout.aborted && request.signal?.aborted !== true) || timedOut) {
        throw new EcrTimeoutError(
          `${tokenApiName(registry.host)} GetAuthorizationToken for ${registry.host} did not answer within ${this.timeoutMs} ms`,
          { cause: err },
        );
      }
      throw err;
    }
  }
}

let ecrPublicModule: Promise<typeof import("@aws-sdk/client-ecr-public")> | undefined;

/** The ECR Public SDK, loaded on first use: an installation without public.ecr.aws never loads it. */
function ecrPublicSdk(): Promise<typeof import("@aws-sdk/client-ecr-public")> {
  return (ecrPublicModule ??= import("@aws-sdk/client-ecr-public"));
}

interface TokenData {
  authorizationToken?: string | undefined;
  expiresAt?: Date | undefined;
}

/**
 * One GetAuthorizationToken call with a client made for it. ECR answers a list (one entry per registry id
 * asked; eatr asks none, so one); ECR Public answers a single object.
 */
async function send(
  registry: RegistryHost,
  config: EcrClientConfig,
  abortSignal: AbortSignal,
): Promise<TokenData | undefined> {
  if (registry.kind === "public") {
    const { ECRPUBLICClient, GetAuthorizationTokenCommand: GetPublicAuthorizationTokenCommand } =
      await ecrPublicSdk();
    const client = new ECRPUBLICClient(config);
    try {
      const out = await client.send(new GetPublicAuthorizationTokenCommand({}), { abortSignal });
      return out.authorizationData;
    } finally {
      client.destroy();
    }
  }
  const client = new ECRClient(config);
  try {
    const out = await client.send(new GetAuthorizationTokenCommand({}), { abortSignal });
    return out.authorizationData?.[0];
  } finally {
    client.destroy();
  }
}

function validate(data: TokenData | undefined, registry: RegistryHost): AuthorizationToken {
  const api = tokenApiName(registry.host);
  if (data === undefined) {
    throw new InvalidTokenResponseError(`${api} returned no authorizationData for ${registry.host}`);
  }
  const token = data.authorizationToken;
  if (token === undefined || token === "") {
    throw new InvalidTokenResponseError(`${api} returned an empty authorizationToken for ${registry.host}`);
  }
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0 || colon === decoded.length - 1) {
    throw new InvalidTokenResponseError(
      `${api} returned an authorizationToken for ${registry.host} that is not base64 "user:password"`,
    );
  }
  const expiresAtMs = data.expiresAt?.getTime();
  return {
    authorizationToken: token,
    expiresAtMs: expiresAtMs === undefined || Number.isNaN(expiresAtMs) ? undefined : expiresAtMs,
  };
}
