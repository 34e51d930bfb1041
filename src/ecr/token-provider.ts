import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
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
  override readonly name = "InvalidTokenResponseError";
}

export interface EcrTokenProviderOptions {
  /** Overrides the ECR API endpoint (VPC endpoints, proxies, tests). Empty = the SDK's regional endpoint. */
  readonly endpoint?: string;
  /** Bound on one call, including connection setup. */
  readonly timeoutMs?: number;
}

/** GetAuthorizationToken through the AWS SDK, with the static credentials of the credential secret. */
export class EcrTokenProvider implements TokenProvider {
  private readonly endpoint: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: EcrTokenProviderOptions = {}) {
    this.endpoint = options.endpoint === "" ? undefined : options.endpoint;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    if (!(this.timeoutMs > 0)) throw new Error("EcrTokenProvider: timeoutMs must be > 0");
  }

  async getAuthorizationToken(request: TokenRequest): Promise<AuthorizationToken> {
    const { registry, credentials } = request;
    const client = new ECRClient({
      region: credentials.region,
      ...(this.endpoint === undefined ? {} : { endpoint: this.endpoint }),
      useFipsEndpoint: registry.fips,
      useDualstackEndpoint: registry.dualStack,
      credentials: {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        ...(credentials.sessionToken === undefined ? {} : { sessionToken: credentials.sessionToken }),
      },
      // Retries are ours: per-registry backoff in the token cache keeps the call count honest.
      maxAttempts: 1,
    });
    try {
      const signals = [AbortSignal.timeout(this.timeoutMs)];
      if (request.signal) signals.push(request.signal);
      const out = await client.send(new GetAuthorizationTokenCommand({}), {
        abortSignal: AbortSignal.any(signals),
      });
      return validate(out.authorizationData?.[0], registry);
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
