/**
 * A local Amazon ECR endpoint for tests: HTTP on 127.0.0.1, speaking the AWS JSON 1.1 protocol for
 * GetAuthorizationToken (X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken), and
 * ECR Public's GetAuthorizationToken on the same port (X-Amz-Target:
 * SpencerFrontendService.GetAuthorizationToken; the target tells which API a request addresses).
 *
 * Every request is authenticated like AWS does it: the SigV4 Authorization header is parsed, the access key
 * must be one added with addKey() (and carry its session token, if it has one; a key with expiresAtMs is
 * refused with ExpiredTokenException from then on), the credential scope must
 * name the API's own service ("ecr", or "ecr-public" in region us-east-1, the only region ECR Public's
 * GetAuthorizationToken is served in), and the signature is recomputed here by hand from the canonical request (so it is
 * checked independently of the SDK's own signer). Errors are answered the way AWS JSON services answer them:
 * a status, `x-amzn-ErrorType` and a body `{"__type": ..., "message": ...}`.
 *
 * Tests reach it only through the client's normal `endpoint` option:
 *   const ecr = await startEcrServer({ keys: [{ accessKeyId, secretAccessKey, accountId }] });
 *   new ECRClient({ endpoint: ecr.endpoint, region: "eu-west-1", credentials: { accessKeyId, secretAccessKey } });
 *
 * Latency: setLatencyMs() delays every response, setKeyLatencyMs() only those to one access key (a registry
 * whose ECR calls hang while others answer).
 *
 * Regions: the credential scope's region must be one of an AWS partition (the region patterns of the AWS
 * SDK's partition table: commercial, China, GovCloud, ISO, ISO-B, ISO-E, ISO-F, EU sovereign cloud), and
 * the token's proxyEndpoint is in that partition's domain.
 *
 * ECR Public answers `{authorizationData: {authorizationToken, expiresAt}}`: one object, no proxyEndpoint
 * (ECR answers a list of {authorizationToken, expiresAt, proxyEndpoint}).
 *
 * Counters: calls(accessKeyId) counts every request whose Authorization header names that access key id,
 * whatever the outcome (unknown key, bad signature, injected failure, success): what AWS would meter and
 * throttle; calls(accessKeyId, service) only those addressed to one API. totalCalls() counts every request
 * received. log() tells each request's outcome, API and signing scope.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseAmzDate } from "./sigv4.ts";

export const GET_AUTHORIZATION_TOKEN_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
const TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921.";
/** ECR Public's GetAuthorizationToken (its Smithy service is SpencerFrontendService). */
export const GET_PUBLIC_AUTHORIZATION_TOKEN_TARGET = "SpencerFrontendService.GetAuthorizationToken";
const PUBLIC_TARGET_PREFIX = "SpencerFrontendService.";
/** The only region ECR Public's GetAuthorizationToken is served in (and so the only signing region). */
export const ECR_PUBLIC_REGION = "us-east-1";

/** The API a request addresses, named as its SigV4 signing service. */
export type EcrService = "ecr" | "ecr-public";

/** The API an X-Amz-Target addresses: ECR Public's targets, else ECR (unknown targets included). */
function serviceOfTarget(target: string | undefined): EcrService {
  return target?.startsWith(PUBLIC_TARGET_PREFIX) === true ? "ecr-public" : "ecr";
}
const JSON_11 = "application/x-amz-json-1.1";
const ALGORITHM = "AWS4-HMAC-SHA256";
const MAX_BODY = 1024 * 1024;
const DEFAULT_LIFETIME_MS = 12 * 60 * 60 * 1000;

export interface EcrKey {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, requests must carry exactly this X-Amz-Security-Token (temporary credentials). */
  sessionToken?: string;
  /** Temporary credentials: refused with ExpiredTokenException from this time (epoch ms, server clock) on. */
  expiresAtMs?: number;
  /** 12-digit AWS account id; the registry in proxyEndpoint (ECR), the caller's account (ECR Public). */
  accountId: string;
}

/** Failures that can be injected after a request authenticated successfully. */
export type EcrFailure =
  /** 400 ThrottlingException "Rate exceeded" */
  | "throttle"
  /** 500 ServerException */
  | "server"
  /** 400 AccessDeniedException (the principal lacks ecr:GetAuthorizationToken) */
  | "access-denied"
  /** the connection is destroyed without any response */
  | "disconnect";

export type EcrOutcome =
  /** not answered yet (waiting out the latency) */
  | "pending"
  | "ok"
  | EcrFailure
  | "missing-authentication"
  | "incomplete-signature"
  | "unrecognized-client"
  | "expired-token"
  | "invalid-signature"
  | "signature-expired"
  | "unknown-operation"
  | "bad-request";

export interface EcrCall {
  /** Server time (options.now) when the request arrived. */
  at: number;
  /** The access key id named in the Authorization header, if any. */
  accessKeyId: string | undefined;
  /** The region of the credential scope, if any. */
  region: string | undefined;
  /** The API the request addresses (by its X-Amz-Target). */
  service: EcrService;
  /** The service of the credential scope, if any (what the client signed for). */
  scopeService: string | undefined;
  target: string | undefined;
  outcome: EcrOutcome;
  /** HTTP status answered (0 while pending and for "disconnect"). */
  status: number;
}

export interface IssuedToken {
  /** The API that minted it: "ecr" (a private registry's token) or "ecr-public" (public.ecr.aws). */
  service: EcrService;
  accessKeyId: string;
  accountId: string;
  /** Registry id the token is for (accountId unless registryIds were requested; accountId for ECR Public). */
  registryId: string;
  region: string;
  /**
   * The registry password: unique per token, `ecr-<registryId>-<sha256(accessKeyId)[:8]>-<seq>-<random>`
   * (`ecr-public-…` for ECR Public).
   */
  password: string;
  /** base64("AWS:" + password), as returned in authorizationData. */
  authorizationToken: string;
  /** Expiry returned to the client; undefined when expiresAt was omitted. */
  expiresAt: Date | undefined;
  /** https://<registry host> for ECR; undefined for ECR Public (its answer has none). */
  proxyEndpoint: string | undefined;
  issuedAt: number;
  /** Server-wide sequence number, starting at 1. */
  seq: number;
}

export interface EcrServerOptions {
  keys?: EcrKey[];
  /** Lifetime of minted tokens (default 12 h). null omits expiresAt; a negative value returns a past one. */
  tokenLifetimeMs?: number | null;
  /** Delay before every response (default 0); setKeyLatencyMs overrides it for one key. */
  latencyMs?: number;
  /** Clock for expiresAt, the skew check and the Date header (default Date.now). */
  now?: () => number;
  /** Largest accepted distance between the signed time and now() (default 5 min; Infinity disables). */
  maxClockSkewMs?: number;
  /** When set, only these SigV4 scope regions are accepted for ECR (ECR Public accepts us-east-1 only). */
  regions?: string[];
  /**
   * Pads every password with random base64 characters to at least this length (default: no padding, short
   * passwords). Real ECR passwords are about 2,000 characters; the bench uses that size.
   */
  passwordLength?: number;
}

interface AwsError {
  status: number;
  type: string;
  message: string;
  outcome: EcrOutcome;
}

function awsError(status: number, type: string, message: string, outcome: EcrOutcome): AwsError {
  return { status, type, message, outcome };
}

const INVALID_TOKEN = "The security token included in the request is invalid.";
const SIGNATURE_MISMATCH =
  "The request signature we calculated does not match the signature you provided. " +
  "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** Canonical URI for non-S3 services: the normalised wire path, URI-encoded once more ("twice" in total). */
function canonicalPath(rawPath: string): string {
  const segments: string[] = [];
  for (const seg of rawPath.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") segments.pop();
    else segments.push(escapeUri(seg)); // the wire path is already encoded once
  }
  const trailing = segments.length > 0 && rawPath.endsWith("/") ? "/" : "";
  return `/${segments.join("/")}${trailing}`;
}

function canonicalQuery(rawQuery: string): string {
  if (rawQuery === "") return "";
  const pairs: [string, string][] = [];
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = safeDecode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? "" : safeDecode(part.slice(eq + 1));
    pairs.push([escapeUri(key), escapeUri(value)]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

/** All values of a header (case-insensitive) in arrival order, from rawHeaders. */
function headerValues(req: IncomingMessage, name: string): string[] {
  const out: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i];
    const v = raw[i + 1];
    if (k !== undefined && v !== undefined && k.toLowerCase() === name) out.push(v);
  }
  return out;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const values = headerValues(req, name);
  return values.length === 0 ? undefined : values.join(",");
}

function canonicalHeaderValue(values: string[]): string {
  return values.map((v) => v.replace(/\s+/g, " ").trim()).join(",");
}

function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

/**
 * AWS partitions: which regions they hold (the patterns of the AWS SDK's partition table, written out
 * here on their own rather than taken from eatr) and the domain of their registries.
 */
const PARTITIONS: readonly { readonly regions: RegExp; readonly domain: string }[] = [
  { regions: /^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$/, domain: "amazonaws.com" },
  { regions: /^cn-\w+-\d+$/, domain: "amazonaws.com.cn" },
  { regions: /^us-gov-\w+-\d+$/, domain: "amazonaws.com" },
  { regions: /^us-iso-\w+-\d+$/, domain: "c2s.ic.gov" },
  { regions: /^us-isob-\w+-\d+$/, domain: "sc2s.sgov.gov" },
  { regions: /^eu-isoe-\w+-\d+$/, domain: "cloud.adc-e.uk" },
  { regions: /^us-isof-\w+-\d+$/, domain: "csp.hci.ic.gov" },
  { regions: /^eusc-(de)-\w+-\d+$/, domain: "amazonaws.eu" },
];

/** The domain of the partition holding `region`, or undefined for a region of no partition. */
function partitionDomain(region: string): string | undefined {
  return PARTITIONS.find((p) => p.regions.test(region))?.domain;
}

function proxyHost(registryId: string, region: string): string {
  return `https://${registryId}.dkr.ecr.${region}.${partitionDomain(region) ?? "amazonaws.com"}`;
}

/** The access key id named by a SigV4 Authorization header, without validating anything else. */
function accessKeyIdOf(req: IncomingMessage): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(header(req, "authorization") ?? "")?.[1];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

export class EcrServer {
  /** e.g. "http://127.0.0.1:43121": the ECRClient `endpoint`. */
  readonly endpoint: string;
  readonly port: number;

  private readonly server: Server;
  private readonly keys = new Map<string, EcrKey>();
  private readonly now: () => number;
  private readonly maxClockSkewMs: number;
  private readonly regions: Set<string> | undefined;
  private readonly closing = new AbortController();
  private tokenLifetimeMs: number | null;
  private readonly passwordLength: number;
  private latencyMs: number;
  private readonly keyLatencyMs = new Map<string, number>();
  private failureQueue: EcrFailure[] = [];
  private failureMode: EcrFailure | null = null;
  private readonly callCounts = new Map<string, number>();
  /** Per API: `${service}\u0000${accessKeyId}` -> requests. */
  private readonly serviceCallCounts = new Map<string, number>();
  private total = 0;
  private callLog: EcrCall[] = [];
  private readonly issued: IssuedToken[] = [];
  private readonly lastByKey = new Map<string, IssuedToken>();
  private seq = 0;

  /** Use startEcrServer(). */
  constructor(server: Server, opts: EcrServerOptions) {
    this.server = server;
    const addr = server.address() as AddressInfo;
    this.port = addr.port;
    this.endpoint = `http://127.0.0.1:${addr.port}`;
    this.now = opts.now ?? Date.now;
    this.maxClockSkewMs = opts.maxClockSkewMs ?? 5 * 60 * 1000;
    this.regions = opts.regions ? new Set(opts.regions) : undefined;
    this.tokenLifetimeMs = opts.tokenLifetimeMs === undefined ? DEFAULT_LIFETIME_MS : opts.tokenLifetimeMs;
    this.passwordLength = opts.passwordLength ?? 0;
    this.latencyMs = opts.latencyMs ?? 0;
    for (const key of opts.keys ?? []) this.addKey(key);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          this.send(res, awsError(500, "ServerException", `test server bug: ${String(err)}`, "server"));
        }
      });
    });
  }

  // ---- controls ---------------------------------------------------------------------------------------

  addKey(key: EcrKey): void {
    if (!/^\d{12}$/.test(key.accountId)) throw new Error(`accountId must be 12 digits: ${key.accountId}`);
    this.keys.set(key.accessKeyId, { ...key });
  }

  /** Forgets an access key: its next request gets UnrecognizedClientException. */
  removeKey(accessKeyId: string): boolean {
    return this.keys.delete(accessKeyId);
  }

  /** Lifetime of tokens minted from now on; null omits expiresAt, a negative value gives a past expiresAt. */
  setTokenLifetimeMs(ms: number | null): void {
    this.tokenLifetimeMs = ms;
  }

  /** Delay before every response from now on (except to keys given their own by setKeyLatencyMs). */
  setLatencyMs(ms: number): void {
    this.latencyMs = ms;
  }

  /**
   * Delay before every response to requests signed with this access key, from now on; undefined goes back
   * to the server-wide latency. A delay longer than the client's timeout is an ECR that hangs for that key.
   */
  setKeyLatencyMs(accessKeyId: string, ms: number | undefined): void {
    if (ms === undefined) this.keyLatencyMs.delete(accessKeyId);
    else this.keyLatencyMs.set(accessKeyId, ms);
  }

  /**
   * The next n authenticated GetAuthorizationToken requests (ECR's or ECR Public's) fail with `kind`
   * (queued after earlier ones).
   */
  failNext(n: number, kind: EcrFailure): void {
    for (let i = 0; i < n; i++) this.failureQueue.push(kind);
  }

  /** Every authenticated request fails with `kind` until set back to null (after any failNext queue). */
  setFailureMode(kind: EcrFailure | null): void {
    this.failureMode = kind;
  }

  /** Injected failures still queued by failNext. */
  pendingFailures(): number {
    return this.failureQueue.length;
  }

  /**
   * Requests whose Authorization header named this access key id (any outcome), to either API or, with
   * `service`, to that one (by X-Amz-Target, whatever the request was signed for).
   */
  calls(accessKeyId: string, service?: EcrService): number {
    if (service === undefined) return this.callCounts.get(accessKeyId) ?? 0;
    return this.serviceCallCounts.get(`${service}\u0000${accessKeyId}`) ?? 0;
  }

  /** Every request received since start or resetCounts(). */
  totalCalls(): number {
    return this.total;
  }

  /** Requests per outcome, optionally for one access key and one API. */
  outcomes(accessKeyId?: string, service?: EcrService): Partial<Record<EcrOutcome, number>> {
    const out: Partial<Record<EcrOutcome, number>> = {};
    for (const c of this.callLog) {
      if (accessKeyId !== undefined && c.accessKeyId !== accessKeyId) continue;
      if (service !== undefined && c.service !== service) continue;
      out[c.outcome] = (out[c.outcome] ?? 0) + 1;
    }
    return out;
  }

  /** One record per request since start or resetCounts(), oldest first. */
  log(): readonly EcrCall[] {
    return [...this.callLog];
  }

  /** Zeroes calls(), totalCalls(), outcomes() and log(). Issued tokens are kept. */
  resetCounts(): void {
    this.callCounts.clear();
    this.serviceCallCounts.clear();
    this.total = 0;
    this.callLog = [];
  }

  /**
   * The last token minted for this access key (the first entry when several registryIds were asked), by
   * either API or, with `service`, by that one.
   */
  lastToken(accessKeyId: string, service?: EcrService): IssuedToken | undefined {
    if (service === undefined) return this.lastByKey.get(accessKeyId);
    return this.issued.findLast((t) => t.accessKeyId === accessKeyId && t.service === service);
  }

  /** Every token minted, oldest first. */
  tokens(): readonly IssuedToken[] {
    return [...this.issued];
  }

  /** The token with this registry password, e.g. to check what a pull secret holds. */
  findToken(password: string): IssuedToken | undefined {
    return this.issued.find((t) => t.password === password);
  }

  async close(): Promise<void> {
    this.closing.abort();
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    this.server.closeAllConnections();
    await closed;
  }

  // ---- request handling -------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = this.now();
    const body = await readBody(req);
    this.total++;
    const keyId = accessKeyIdOf(req);
    const target = header(req, "x-amz-target");
    const call: EcrCall = {
      at,
      // Named at once (checked after the latency), so a call that is still waiting shows whose it is.
      accessKeyId: keyId,
      region: undefined,
      service: serviceOfTarget(target),
      scopeService: undefined,
      target,
      outcome: "pending",
      status: 0,
    };
    this.callLog.push(call);

    await sleep(
      (keyId === undefined ? undefined : this.keyLatencyMs.get(keyId)) ?? this.latencyMs,
      this.closing.signal,
    );
    if (body === undefined) {
      this.reply(res, call, awsError(413, "SerializationException", "Request body too large", "bad-request"));
      return;
    }

    const auth = this.authenticate(req, body, call);
    if ("type" in auth) {
      this.reply(res, call, auth);
      return;
    }

    const known =
      call.service === "ecr-public" ? GET_PUBLIC_AUTHORIZATION_TOKEN_TARGET : GET_AUTHORIZATION_TOKEN_TARGET;
    if (call.target !== known) {
      const prefix = call.service === "ecr-public" ? PUBLIC_TARGET_PREFIX : TARGET_PREFIX;
      const message =
        call.target?.startsWith(prefix) === true
          ? `${call.target.slice(prefix.length)} is not implemented by the eatr test ECR server`
          : "";
      this.reply(res, call, awsError(400, "UnknownOperationException", message, "unknown-operation"));
      return;
    }
    const contentType = (header(req, "content-type") ?? "").split(";")[0]?.trim().toLowerCase();
    if (contentType !== JSON_11) {
      this.reply(
        res,
        call,
        awsError(
          400,
          "SerializationException",
          `Unsupported content type: ${contentType ?? ""}`,
          "bad-request",
        ),
      );
      return;
    }

    // ECR Public's GetAuthorizationToken takes no parameters (an empty object).
    const registryIds =
      call.service === "ecr-public" ? parsePublicInput(body) : parseRegistryIds(body, auth.key.accountId);
    if (!Array.isArray(registryIds)) {
      this.reply(res, call, registryIds);
      return;
    }

    const failure = this.failureQueue.shift() ?? this.failureMode;
    if (failure !== null) {
      this.inject(req, res, call, failure, auth.key);
      return;
    }

    if (call.service === "ecr-public") {
      const token = this.mint(auth.key, auth.key.accountId, auth.region, "ecr-public");
      this.lastByKey.set(auth.key.accessKeyId, token);
      const authorizationData: Record<string, string | number> = {
        authorizationToken: token.authorizationToken,
      };
      if (token.expiresAt) authorizationData["expiresAt"] = token.expiresAt.getTime() / 1000;
      call.status = 200;
      call.outcome = "ok";
      this.sendJson(res, 200, { authorizationData });
      return;
    }

    const minted = registryIds.map((registryId) => this.mint(auth.key, registryId, auth.region, "ecr"));
    if (minted[0]) this.lastByKey.set(auth.key.accessKeyId, minted[0]);
    const authorizationData = minted.map((token) => {
      const entry: Record<string, string | number> = {
        authorizationToken: token.authorizationToken,
        proxyEndpoint: token.proxyEndpoint ?? "",
      };
      if (token.expiresAt) entry["expiresAt"] = token.expiresAt.getTime() / 1000;
      return entry;
    });
    call.status = 200;
    call.outcome = "ok";
    this.sendJson(res, 200, { authorizationData });
  }

  private authenticate(
    req: IncomingMessage,
    body: Buffer,
    call: EcrCall,
  ): { key: EcrKey; region: string } | AwsError {
    const authorization = header(req, "authorization");
    if (authorization === undefined || authorization === "") {
      return awsError(
        400,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
        "missing-authentication",
      );
    }
    const incomplete = (message: string): AwsError =>
      awsError(400, "IncompleteSignatureException", message, "incomplete-signature");
    const spaceAt = authorization.indexOf(" ");
    const algorithm = spaceAt < 0 ? authorization : authorization.slice(0, spaceAt);
    if (algorithm !== ALGORITHM) {
      return incomplete(`Unsupported AWS 'algorithm': '${algorithm}'`);
    }
    const params = new Map<string, string>();
    for (const part of authorization.slice(spaceAt + 1).split(",")) {
      const eq = part.indexOf("=");
      if (eq > 0) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const credential = params.get("Credential");
    const signedHeadersParam = params.get("SignedHeaders");
    const signature = params.get("Signature");
    if (credential === undefined || signature === undefined || signedHeadersParam === undefined) {
      const name =
        credential === undefined ? "Credential" : signature === undefined ? "Signature" : "SignedHeaders";
      return incomplete(
        `Authorization header requires '${name}' parameter. Authorization=${authorization.replace(/Signature=[0-9a-f]+/, "Signature=...")}`,
      );
    }

    const scopeParts = credential.split("/");
    if (scopeParts.length !== 5) {
      return incomplete(
        `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'`,
      );
    }
    const [accessKeyId, scopeDate, region, service, terminator] = scopeParts as [
      string,
      string,
      string,
      string,
      string,
    ];
    call.accessKeyId = accessKeyId;
    call.region = region;
    call.scopeService = service;
    this.callCounts.set(accessKeyId, (this.callCounts.get(accessKeyId) ?? 0) + 1);
    const perService = `${call.service}\u0000${accessKeyId}`;
    this.serviceCallCounts.set(perService, (this.serviceCallCounts.get(perService) ?? 0) + 1);

    const amzDate = header(req, "x-amz-date");
    let signedAt: number | undefined;
    if (amzDate !== undefined) {
      signedAt = parseAmzDate(amzDate);
    } else {
      const date = header(req, "date");
      signedAt = date === undefined ? undefined : Date.parse(date);
      if (signedAt !== undefined && Number.isNaN(signedAt)) signedAt = undefined;
    }
    if (signedAt === undefined) {
      return incomplete(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
      );
    }

    const key = this.keys.get(accessKeyId);
    const sessionToken = header(req, "x-amz-security-token");
    if (key === undefined || (key.sessionToken ?? undefined) !== sessionToken) {
      return awsError(400, "UnrecognizedClientException", INVALID_TOKEN, "unrecognized-client");
    }
    if (key.expiresAtMs !== undefined && this.now() >= key.expiresAtMs) {
      return awsError(
        400,
        "ExpiredTokenException",
        "The security token included in the request is expired",
        "expired-token",
      );
    }

    const invalid = (message: string, outcome: EcrOutcome = "invalid-signature"): AwsError =>
      awsError(400, "InvalidSignatureException", message, outcome);
    const longDate = formatAmzDate(signedAt);
    if (scopeDate !== longDate.slice(0, 8)) {
      return invalid(
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${longDate.slice(0, 8)}', from '${amzDate ?? longDate}'.`,
      );
    }
    if (service !== call.service) {
      return invalid(`Credential should be scoped to correct service: '${call.service}'. `);
    }
    if (terminator !== "aws4_request") {
      return invalid(
        `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'. `,
      );
    }
    const validRegion =
      call.service === "ecr-public"
        ? region === ECR_PUBLIC_REGION
        : partitionDomain(region) !== undefined && (this.regions?.has(region) ?? true);
    if (!validRegion) {
      return invalid(`Credential should be scoped to a valid region. `);
    }

    const signedHeaders = signedHeadersParam.split(";");
    if (!signedHeaders.includes("host")) {
      return invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    }
    const bodyHash = sha256Hex(body);
    const declaredHash = header(req, "x-amz-content-sha256");
    if (declaredHash !== undefined && declaredHash !== "UNSIGNED-PAYLOAD" && declaredHash !== bodyHash) {
      return invalid("The provided 'x-amz-content-sha256' header does not match what was computed.");
    }

    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const canonicalRequest = [
      req.method ?? "POST",
      canonicalPath(q < 0 ? url : url.slice(0, q)),
      canonicalQuery(q < 0 ? "" : url.slice(q + 1)),
      ...signedHeaders.map((name) => `${name}:${canonicalHeaderValue(headerValues(req, name))}`),
      "",
      signedHeadersParam,
      declaredHash ?? bodyHash,
    ].join("\n");
    const scope = `${scopeDate}/${region}/${service}/${terminator}`;
    const stringToSign = [ALGORITHM, amzDate ?? longDate, scope, sha256Hex(canonicalRequest)].join("\n");
    let signingKey = hmac(`AWS4${key.secretAccessKey}`, scopeDate);
    for (const part of [region, service, terminator]) signingKey = hmac(signingKey, part);
    const expected = Buffer.from(createHmac("sha256", signingKey).update(stringToSign, "utf8").digest("hex"));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return invalid(SIGNATURE_MISMATCH);
    }

    const now = this.now();
    if (signedAt < now - this.maxClockSkewMs) {
      return invalid(
        `Signature expired: ${longDate} is now earlier than ${formatAmzDate(now - this.maxClockSkewMs)} (${formatAmzDate(now)} - ${Math.round(this.maxClockSkewMs / 60000)} min.)`,
        "signature-expired",
      );
    }
    if (signedAt > now + this.maxClockSkewMs) {
      return invalid(
        `Signature not yet current: ${longDate} is still later than ${formatAmzDate(now + this.maxClockSkewMs)} (${formatAmzDate(now)} + ${Math.round(this.maxClockSkewMs / 60000)} min.)`,
        "signature-expired",
      );
    }
    return { key, region };
  }

  private inject(
    req: IncomingMessage,
    res: ServerResponse,
    call: EcrCall,
    kind: EcrFailure,
    key: EcrKey,
  ): void {
    switch (kind) {
      case "throttle":
        this.reply(res, call, awsError(400, "ThrottlingException", "Rate exceeded", "throttle"));
        return;
      case "server":
        this.reply(
          res,
          call,
          awsError(500, "ServerException", "We encountered an internal error. Please try again.", "server"),
        );
        return;
      case "access-denied":
        this.reply(
          res,
          call,
          awsError(
            400,
            "AccessDeniedException",
            `User: arn:aws:iam::${key.accountId}:user/eatr-test is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action`,
            "access-denied",
          ),
        );
        return;
      case "disconnect":
        call.outcome = "disconnect";
        call.status = 0;
        req.socket.destroy();
        return;
    }
  }

  private mint(key: EcrKey, registryId: string, region: string, service: EcrService): IssuedToken {
    const seq = ++this.seq;
    const keyHash = sha256Hex(key.accessKeyId).slice(0, 8);
    const base = `${service}-${registryId}-${keyHash}-${String(seq).padStart(6, "0")}-${randomBytes(6).toString("hex")}`;
    const pad = Math.max(0, this.passwordLength - base.length);
    const password =
      pad === 0
        ? base
        : `${base}-${randomBytes(pad)
            .toString("base64url")
            .slice(0, pad - 1)}`;
    const issuedAt = this.now();
    const token: IssuedToken = {
      service,
      accessKeyId: key.accessKeyId,
      accountId: key.accountId,
      registryId,
      region,
      password,
      authorizationToken: Buffer.from(`AWS:${password}`, "utf8").toString("base64"),
      expiresAt: this.tokenLifetimeMs === null ? undefined : new Date(issuedAt + this.tokenLifetimeMs),
      proxyEndpoint: service === "ecr" ? proxyHost(registryId, region) : undefined,
      issuedAt,
      seq,
    };
    this.issued.push(token);
    return token;
  }

  private reply(res: ServerResponse, call: EcrCall, err: AwsError): void {
    call.status = err.status;
    call.outcome = err.outcome;
    this.send(res, err);
  }

  private send(res: ServerResponse, err: AwsError): void {
    this.sendJson(res, err.status, { __type: err.type, message: err.message }, err.type);
  }

  private sendJson(res: ServerResponse, status: number, payload: unknown, errorType?: string): void {
    if (res.destroyed) return;
    const text = JSON.stringify(payload);
    const headers: Record<string, string | number> = {
      "content-type": JSON_11,
      "content-length": Buffer.byteLength(text),
      "x-amzn-requestid": randomUUID(),
      date: new Date(this.now()).toUTCString(),
    };
    if (errorType !== undefined) headers["x-amzn-errortype"] = `${errorType}:`;
    res.writeHead(status, headers);
    res.end(text);
  }
}

function parseRegistryIds(body: Buffer, defaultId: string): string[] | AwsError {
  const bad = (message: string): AwsError =>
    awsError(400, "InvalidParameterException", message, "bad-request");
  let input: unknown;
  const text = body.toString("utf8");
  try {
    input = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    return awsError(
      400,
      "SerializationException",
      "Start of structure or map found where not expected.",
      "bad-request",
    );
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return awsError(400, "SerializationException", "Start of structure or map expected.", "bad-request");
  }
  const ids = (input as { registryIds?: unknown }).registryIds;
  if (ids === undefined || ids === null) return [defaultId];
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > 10) {
    return bad(
      "1 validation error detected: Value at 'registryIds' failed to satisfy constraint: Member must have length between 1 and 10",
    );
  }
  for (const id of ids) {
    if (typeof id !== "string" || !/^\d{12}$/.test(id)) {
      return bad(
        `1 validation error detected: Value '${String(id)}' at 'registryIds' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]{12}`,
      );
    }
  }
  return ids as string[];
}

/** ECR Public's GetAuthorizationToken input: a JSON object (its members are ignored). [] means accepted. */
function parsePublicInput(body: Buffer): [] | AwsError {
  const text = body.toString("utf8");
  let input: unknown;
  try {
    input = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    return awsError(
      400,
      "SerializationException",
      "Start of structure or map found where not expected.",
      "bad-request",
    );
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return awsError(400, "SerializationException", "Start of structure or map expected.", "bad-request");
  }
  return [];
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => {
      resolve(tooLarge ? undefined : Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

/** Starts a test ECR endpoint on 127.0.0.1 and a free port. */
export async function startEcrServer(opts: EcrServerOptions = {}): Promise<EcrServer> {
  const server = createServer({ keepAliveTimeout: 5000 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return new EcrServer(server, opts);
}
