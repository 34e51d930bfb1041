import { createHash } from "node:crypto";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import type { Clock } from "../clock.ts";
import type { AwsCredentials, CredentialSourceKind, CredentialSourceSpec } from "./credentials.ts";
import type { RegistryHost } from "./registry-host.ts";
import { CredentialSourceError, sdkProvider, stsOperation, type StsOptions } from "./sts.ts";

/** AWS credentials to sign one ECR call with. Never log this object. */
export interface AwsIdentity {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** Turns a registry's credentials into the identity its ECR call is signed with. */
export interface CredentialResolver {
  resolve(registry: RegistryHost, credentials: AwsCredentials, signal?: AbortSignal): Promise<AwsIdentity>;
}

/** Classifies an STS error for the result label of eatr_sts_requests_total. */
export function stsResult(err: unknown): "throttled" | "invalid_credentials" | "error" {
  const name = err instanceof StsError ? err.code : err instanceof Error ? err.name : "";
  if (
    ["Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"].includes(name)
  )
    return "throttled";
  if (
    [
      "InvalidClientTokenId",
      "SignatureDoesNotMatch",
      "AccessDenied",
      "AccessDeniedException",
      "InvalidIdentityToken",
      "InvalidIdentityTokenException",
      "IDPRejectedClaim",
      "IDPRejectedClaimException",
      "ExpiredTokenException",
      "ExpiredToken",
      "RegionDisabledException",
    ].includes(name)
  )
    return "invalid_credentials";
  return "error";
}

/**
 * STS refused or failed a registry's credential call. The message names the registry, the source, the
 * operation and AWS's error code; `code` is that code (AccessDenied, InvalidIdentityToken…).
 */
export class StsError extends Error {
  override readonly name = "StsError";
  readonly code: string;
  readonly registry: string;
  readonly source: CredentialSourceKind;

  constructor(registry: string, source: CredentialSourceKind, operation: string, cause: unknown) {
    const code = cause instanceof Error ? cause.name : "Error";
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`STS ${operation} for registry ${registry} (source ${source}) failed: ${code}: ${detail}`, {
      cause,
    });
    this.code = code;
    this.registry = registry;
    this.source = source;
  }
}

/** What CredentialSources reports; callbacks must not throw. */
export interface CredentialSourcesObserver {
  /** One STS call ended (eatr_sts_requests_total). */
  stsRequest?(registry: string, result: "success" | ReturnType<typeof stsResult>): void;
}

export interface CredentialSourcesOptions {
  readonly clock: Clock;
  readonly sts: StsOptions;
  readonly observer?: CredentialSourcesObserver;
  /** Temporary credentials are renewed when less than this remains (default 5 min, at most half their life). */
  readonly refreshMarginMs?: number;
  /** Builds a source's SDK provider (tests inject fakes); default sdkProvider. */
  readonly build?: typeof sdkProvider;
}

interface Entry {
  readonly fingerprint: string;
  readonly provider: AwsCredentialIdentityProvider;
  identity: AwsIdentity | undefined;
  obtainedAtMs: number;
  inflight: Promise<AwsIdentity> | undefined;
}

/** Default lead before expiry at which temporary credentials are renewed. */
export const DEFAULT_REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * Resolves each registry's credentials. `keys` are used as they are. Other sources are resolved through the
 * AWS SDK and cached per registry until shortly before they expire, with one call in flight per registry:
 * a registry costs one STS call per credential lifetime, however many ECR calls it makes. A failed renewal
 * still serves credentials that have not expired. Changing a registry's source or keys starts afresh.
 */
export class CredentialSources implements CredentialResolver {
  private readonly entries = new Map<string, Entry>();
  private readonly o: Required<Omit<CredentialSourcesOptions, "observer">> &
    Pick<CredentialSourcesOptions, "observer">;

  constructor(options: CredentialSourcesOptions) {
    this.o = { refreshMarginMs: DEFAULT_REFRESH_MARGIN_MS, build: sdkProvider, ...options };
    if (!(this.o.refreshMarginMs >= 0)) throw new Error("CredentialSources: refreshMarginMs must be >= 0");
    if (!(this.o.sts.timeoutMs > 0)) throw new Error("CredentialSources: sts.timeoutMs must be > 0");
  }

  async resolve(registry: RegistryHost, credentials: AwsCredentials): Promise<AwsIdentity> {
    const spec = credentials.source;
    if (spec === undefined) {
      const { accessKeyId, secretAccessKey, sessionToken } = credentials;
      if (accessKeyId === undefined || secretAccessKey === undefined)
        throw new CredentialSourceError(`registry ${registry.host} (source keys) has no access key`);
      return { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) };
    }
    const fingerprint = fingerprintOf(credentials);
    let entry = this.entries.get(registry.host);
    if (entry?.fingerprint !== fingerprint) {
      entry = {
        fingerprint,
        provider: this.o.build(registry, credentials, spec, this.o.sts),
        identity: undefined,
        obtainedAtMs: 0,
        inflight: undefined,
      };
      this.entries.set(registry.host, entry);
    }
    const now = this.o.clock.now();
    if (entry.identity && now < this.renewAt(entry)) return entry.identity;
    if (entry.inflight) return entry.inflight;
    const call = this.call(registry, spec, entry);
    const current = entry;
    current.inflight = call;
    const settled = (): void => {
      if (current.inflight === call) current.inflight = undefined;
    };
    void call.then(settled, settled);
    return call;
  }

  /** Forgets a registry's cached credentials. */
  forget(registryHost: string): void {
    this.entries.delete(registryHost);
  }

  private renewAt(entry: Entry): number {
    const expiration = entry.identity?.expiration?.getTime();
    if (expiration === undefined) return Number.POSITIVE_INFINITY;
    const margin = Math.min(this.o.refreshMarginMs, (expiration - entry.obtainedAtMs) / 2);
    return expiration - margin;
  }

  private async call(registry: RegistryHost, spec: CredentialSourceSpec, entry: Entry): Promise<AwsIdentity> {
    const kind = spec.kind;
    const operation = stsOperation(spec);
    try {
      const got = await entry.provider();
      const identity: AwsIdentity = {
        accessKeyId: got.accessKeyId,
        secretAccessKey: got.secretAccessKey,
        ...(got.sessionToken === undefined ? {} : { sessionToken: got.sessionToken }),
        ...(got.expiration === undefined ? {} : { expiration: got.expiration }),
      };
      if (operation !== undefined) this.o.observer?.stsRequest?.(registry.host, "success");
      entry.identity = identity;
      entry.obtainedAtMs = this.o.clock.now();
      return identity;
    } catch (err) {
      if (err instanceof CredentialSourceError) throw err;
      if (operation === undefined) {
        throw new CredentialSourceError(
          `registry ${registry.host} (source ${kind}): the AWS SDK's default credential chain found no credentials ` +
            `(${err instanceof Error ? err.message : String(err)})`,
          { cause: err },
        );
      }
      const failure = new StsError(registry.host, kind, operation, err);
      this.o.observer?.stsRequest?.(registry.host, stsResult(failure));
      // Credentials that have not expired still serve while their renewal fails.
      const stillValid = entry.identity?.expiration?.getTime();
      if (entry.identity && stillValid !== undefined && this.o.clock.now() < stillValid)
        return entry.identity;
      throw failure;
    }
  }
}

/** Identifies a registry's credentials in memory only (never logged): a change starts a new cache entry. */
function fingerprintOf(credentials: AwsCredentials): string {
  return createHash("sha256")
    .update(
      JSON.stringify([
        credentials.accessKeyId,
        credentials.secretAccessKey,
        credentials.sessionToken,
        credentials.source,
      ]),
    )
    .digest("hex");
}
