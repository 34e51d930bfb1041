/**
 * A local AWS STS endpoint for tests: HTTP on 127.0.0.1, speaking the AWS Query protocol (form-encoded
 * POST, XML answers) for AssumeRole and AssumeRoleWithWebIdentity, the way the AWS SDK's STS client calls it.
 *
 * It behaves like AWS where eatr depends on it:
 * - AssumeRole is authenticated with SigV4: the access key must be a caller added with addCaller() (or a
 *   temporary key this server issued, with its session token, not expired), and the signature is
 *   recomputed with @smithy/signature-v4 from the caller's secret. Unknown key -> 403
 *   InvalidClientTokenId; bad signature -> 403 SignatureDoesNotMatch; a caller the role does not trust, or a
 *   wrong/missing ExternalId -> 403 AccessDenied.
 * - AssumeRoleWithWebIdentity verifies the JWT: RS256 signature against the OIDC issuer's JWKS (fetched
 *   through `oidc.jwks()`, e.g. from a real kube-apiserver's /openid/v1/jwks), `iss`, `aud`, `exp`/`nbf`,
 *   and the role's allowed `sub`. Bad signature, unknown issuer or audience -> 400 InvalidIdentityToken;
 *   expired -> 400 ExpiredTokenException; a `sub` the role does not trust -> 403 AccessDenied.
 * - Issued temporary credentials are registered with the given EcrServer (session token and expiry), so
 *   the local ECR endpoint accepts them until they expire, for the role's account.
 *
 * Counters: calls(roleArn) counts requests naming that role, log() tells each request's outcome;
 * failNext(n, "throttle") answers the next n requests with 400 Throttling; setFailureMode("throttle" |
 * "server") answers every request with 400 Throttling / 500 InternalFailure until set back to null.
 */
import { type JsonWebKey, createHash, createPublicKey, randomBytes, randomUUID, verify } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SignatureV4 } from "@smithy/signature-v4";
import type { EcrServer } from "./ecr-server.ts";
import { parseAmzDate, Sha256 } from "./sigv4.ts";

export interface StsCaller {
  accessKeyId: string;
  secretAccessKey: string;
  /** The principal's account (12 digits). */
  accountId: string;
}

export interface StsRole {
  /** arn:aws:iam::<account>:role/<name>; the issued credentials act in that account. */
  arn: string;
  /** AssumeRole: access key ids of callers the trust policy allows (any issued by this server too). */
  trustedCallers?: string[];
  /** AssumeRole: when set, the request must carry exactly this ExternalId. */
  externalId?: string;
  /** AssumeRoleWithWebIdentity: the `sub` the trust policy allows, e.g. system:serviceaccount:ns:sa. */
  webIdentitySub?: string;
  /** AssumeRoleWithWebIdentity: the audience the trust policy wants (default sts.amazonaws.com). */
  audience?: string;
}

export interface OidcIssuer {
  /** The `iss` claim tokens must carry, exactly. */
  issuer: string;
  /** The issuer's JWKS ({"keys": [...]}); called again when a token names an unknown key id. */
  jwks(): Promise<{ keys: (JsonWebKey & { kid?: string })[] }>;
}

export type StsFailure =
  /** 400 Throttling "Rate exceeded" */
  | "throttle"
  /** 500 InternalFailure */
  | "server";

export interface StsCall {
  at: number;
  action: string | undefined;
  roleArn: string | undefined;
  /** AWS error code, or "ok". */
  outcome: string;
  status: number;
}

export interface IssuedCredentials {
  roleArn: string;
  accessKeyId: string;
  expiresAtMs: number;
  /** The issued secret key and session token (tests look for them where they must never appear). */
  secretAccessKey: string;
  sessionToken: string;
  action: "AssumeRole" | "AssumeRoleWithWebIdentity";
  /** The JWT's sub, for web identity. */
  subject?: string;
  /** sha256 of the web identity token (first 16 hex digits): which token was exchanged. */
  tokenId?: string;
}

export interface StsServerOptions {
  /** Temporary credentials are added there, so ECR accepts them. */
  ecr: EcrServer;
  callers?: StsCaller[];
  roles?: StsRole[];
  oidc?: OidcIssuer;
  /** Lifetime of issued credentials when the request names no DurationSeconds (default 1 h). */
  lifetimeMs?: number;
  now?: () => number;
}

const NS = "https://sts.amazonaws.com/doc/2011-06-15/";
const MAX_BODY = 64 * 1024;

interface StsError {
  status: number;
  code: string;
  message: string;
}

const fail = (status: number, code: string, message: string): StsError => ({ status, code, message });

export class StsServer {
  readonly endpoint: string;
  private readonly server: Server;
  private readonly o: Required<Omit<StsServerOptions, "oidc" | "callers" | "roles">> &
    Pick<StsServerOptions, "oidc">;
  private readonly callers = new Map<string, StsCaller & { sessionToken?: string; expiresAtMs?: number }>();
  private readonly roles = new Map<string, StsRole>();
  private jwks: { keys: (JsonWebKey & { kid?: string })[] } | undefined;
  private failures: StsFailure[] = [];
  private failureMode: StsFailure | null = null;
  private callLog: StsCall[] = [];
  private readonly issuedList: IssuedCredentials[] = [];

  /** Use startStsServer(). */
  constructor(server: Server, options: StsServerOptions) {
    this.server = server;
    this.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.o = { lifetimeMs: 3_600_000, now: Date.now, ...options };
    for (const c of options.callers ?? []) this.addCaller(c);
    for (const r of options.roles ?? []) this.addRole(r);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent)
          this.sendError(res, fail(500, "InternalFailure", `test server bug: ${String(err)}`));
      });
    });
  }

  addCaller(caller: StsCaller): void {
    this.callers.set(caller.accessKeyId, { ...caller });
  }

  /** Adds or replaces a role (its trust policy included). */
  addRole(role: StsRole): void {
    accountOf(role.arn);
    this.roles.set(role.arn, { ...role });
  }

  /** The next n requests fail with `kind` before anything is checked. */
  failNext(n: number, kind: StsFailure): void {
    for (let i = 0; i < n; i++) this.failures.push(kind);
  }

  /** Every request fails with `kind` (after any failNext queue) until set back to null. */
  setFailureMode(kind: StsFailure | null): void {
    this.failureMode = kind;
  }

  /** Requests naming this role (any outcome), or every request. */
  calls(roleArn?: string): number {
    return this.callLog.filter((c) => roleArn === undefined || c.roleArn === roleArn).length;
  }

  log(): readonly StsCall[] {
    return [...this.callLog];
  }

  /** Credentials issued, oldest first. */
  issued(): readonly IssuedCredentials[] {
    return [...this.issuedList];
  }

  resetCounts(): void {
    this.callLog = [];
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const form = new URLSearchParams(body.toString("utf8"));
    const call: StsCall = {
      at: this.o.now(),
      action: form.get("Action") ?? undefined,
      roleArn: form.get("RoleArn") ?? undefined,
      outcome: "pending",
      status: 0,
    };
    this.callLog.push(call);
    const answer = async (): Promise<StsError | { xml: string; issued: IssuedCredentials }> => {
      const failure = this.failures.shift() ?? this.failureMode;
      if (failure === "throttle") return fail(400, "Throttling", "Rate exceeded");
      if (failure === "server") return fail(500, "InternalFailure", "injected STS failure");
      if (req.method !== "POST") return fail(400, "InvalidAction", "STS wants POST");
      if (form.get("Version") !== "2011-06-15") return fail(400, "InvalidParameterValue", "bad Version");
      switch (call.action) {
        case "AssumeRole":
          return this.assumeRole(req, body, form);
        case "AssumeRoleWithWebIdentity":
          return this.assumeRoleWithWebIdentity(form);
        default:
          return fail(
            400,
            "InvalidAction",
            `Could not find operation ${call.action ?? ""} for version 2011-06-15`,
          );
      }
    };
    const out = await answer();
    if ("code" in out) {
      call.outcome = out.code;
      call.status = out.status;
      this.sendError(res, out);
      return;
    }
    call.outcome = "ok";
    call.status = 200;
    this.issuedList.push(out.issued);
    res.writeHead(200, { "content-type": "text/xml", "x-amzn-requestid": randomUUID() });
    res.end(out.xml);
  }

  private async assumeRole(
    req: IncomingMessage,
    body: Buffer,
    form: URLSearchParams,
  ): Promise<StsError | { xml: string; issued: IssuedCredentials }> {
    const auth = await this.authenticate(req, body);
    if ("code" in auth) return auth;
    const roleArn = form.get("RoleArn") ?? "";
    const sessionName = form.get("RoleSessionName") ?? "";
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName))
      return fail(
        400,
        "ValidationError",
        "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint",
      );
    const role = this.roles.get(roleArn);
    const principal = `arn:aws:iam::${auth.accountId}:user/${auth.accessKeyId}`;
    const denied = fail(
      403,
      "AccessDenied",
      `User: ${principal} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
    );
    if (!role) return denied;
    const trusted = role.trustedCallers?.includes(auth.accessKeyId) === true || auth.temporary;
    if (!trusted) return denied;
    if (role.externalId !== undefined && form.get("ExternalId") !== role.externalId) return denied;
    return this.issue("AssumeRole", role, sessionName, form);
  }

  private async assumeRoleWithWebIdentity(
    form: URLSearchParams,
  ): Promise<StsError | { xml: string; issued: IssuedCredentials }> {
    const roleArn = form.get("RoleArn") ?? "";
    const sessionName = form.get("RoleSessionName") ?? "";
    const token = form.get("WebIdentityToken") ?? "";
    const oidc = this.o.oidc;
    const invalid = (why: string): StsError => fail(400, "InvalidIdentityToken", why);
    if (!oidc) return invalid("No OpenIDConnect provider found in your account");
    const parts = token.split(".");
    if (parts.length !== 3) return invalid("The web identity token that was passed is not a JWT");
    const [h, p, sig] = parts as [string, string, string];
    let header: { alg?: string; kid?: string };
    let claims: { iss?: string; sub?: string; aud?: string | string[]; exp?: number; nbf?: number };
    try {
      header = JSON.parse(Buffer.from(h, "base64url").toString("utf8")) as typeof header;
      claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as typeof claims;
    } catch {
      return invalid("The web identity token that was passed could not be decoded");
    }
    if (header.alg !== "RS256") return invalid(`Unsupported token signing algorithm ${header.alg ?? ""}`);
    let jwk = (await this.keys(false)).find((k) => k.kid === header.kid);
    jwk ??= (await this.keys(true)).find((k) => k.kid === header.kid);
    if (!jwk) return invalid("The web identity token's signing key is not in the provider's JWKS");
    const key = createPublicKey({ key: jwk, format: "jwk" });
    if (!verify("RSA-SHA256", Buffer.from(`${h}.${p}`), key, Buffer.from(sig, "base64url")))
      return invalid("The web identity token's signature could not be verified");
    if (claims.iss !== oidc.issuer)
      return invalid(`No OpenIDConnect provider found in your account for ${claims.iss ?? ""}`);
    const role = this.roles.get(roleArn);
    const audience = role?.audience ?? "sts.amazonaws.com";
    const auds = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!auds.includes(audience)) return invalid("Incorrect token audience");
    const nowS = this.o.now() / 1000;
    if (claims.exp === undefined || nowS >= claims.exp)
      return fail(
        400,
        "ExpiredTokenException",
        `Token expired: current date/time ${new Date(this.o.now()).toISOString()} must be before the expiration date/time ${claims.exp === undefined ? "(none)" : new Date(claims.exp * 1000).toISOString()}`,
      );
    if (claims.nbf !== undefined && nowS < claims.nbf - 300) return invalid("Token is not yet valid");
    if (role?.webIdentitySub === undefined || claims.sub !== role.webIdentitySub)
      return fail(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity");
    const tokenId = createHash("sha256").update(token).digest("hex").slice(0, 16);
    return this.issue("AssumeRoleWithWebIdentity", role, sessionName, form, { subject: claims.sub, tokenId });
  }

  private async keys(refresh: boolean): Promise<(JsonWebKey & { kid?: string })[]> {
    if (refresh || !this.jwks) this.jwks = await this.o.oidc?.jwks();
    return this.jwks?.keys ?? [];
  }

  private issue(
    action: "AssumeRole" | "AssumeRoleWithWebIdentity",
    role: StsRole,
    sessionName: string,
    form: URLSearchParams,
    web?: { subject: string; tokenId: string },
  ): { xml: string; issued: IssuedCredentials } {
    const subject = web?.subject;
    const duration = form.get("DurationSeconds");
    const lifetimeMs = duration === null ? this.o.lifetimeMs : Number(duration) * 1000;
    const expiresAtMs = this.o.now() + lifetimeMs;
    const accessKeyId = `ASIA${randomBytes(8).toString("hex").toUpperCase()}`;
    const secretAccessKey = randomBytes(20).toString("base64");
    const sessionToken = randomBytes(48).toString("base64");
    const accountId = accountOf(role.arn);
    this.o.ecr.addKey({ accessKeyId, secretAccessKey, sessionToken, accountId, expiresAtMs });
    this.callers.set(accessKeyId, { accessKeyId, secretAccessKey, accountId, sessionToken, expiresAtMs });
    const roleName = role.arn.slice(role.arn.indexOf(":role/") + 6);
    const result = `${action}Result`;
    const xml =
      `<${action}Response xmlns="${NS}"><${result}>` +
      (subject === undefined
        ? ""
        : `<SubjectFromWebIdentityToken>${esc(subject)}</SubjectFromWebIdentityToken>`) +
      `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${secretAccessKey}</SecretAccessKey>` +
      `<SessionToken>${sessionToken}</SessionToken><Expiration>${new Date(expiresAtMs).toISOString()}</Expiration></Credentials>` +
      `<AssumedRoleUser><Arn>arn:aws:sts::${accountId}:assumed-role/${esc(roleName)}/${esc(sessionName)}</Arn>` +
      `<AssumedRoleId>AROA${accountId}:${esc(sessionName)}</AssumedRoleId></AssumedRoleUser>` +
      `</${result}><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`;
    return {
      xml,
      issued: {
        roleArn: role.arn,
        accessKeyId,
        expiresAtMs,
        secretAccessKey,
        sessionToken,
        action,
        ...web,
      },
    };
  }

  /** SigV4 of an AssumeRole request, recomputed with @smithy/signature-v4 from the caller's secret. */
  private async authenticate(
    req: IncomingMessage,
    body: Buffer,
  ): Promise<StsError | { accessKeyId: string; accountId: string; temporary: boolean }> {
    const authorization = req.headers.authorization ?? "";
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
        authorization,
      );
    if (!m) return fail(400, "MissingAuthenticationToken", "Request is missing Authentication Token");
    const [, accessKeyId = "", , region = "", service = "", signedHeaders = "", signature = ""] = m;
    const caller = this.callers.get(accessKeyId);
    const sessionToken = req.headers["x-amz-security-token"];
    if (!caller || caller.sessionToken !== sessionToken)
      return fail(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
    if (caller.expiresAtMs !== undefined && this.o.now() >= caller.expiresAtMs)
      return fail(400, "ExpiredToken", "The security token included in the request is expired");
    if (service !== "sts")
      return fail(403, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sts'.");
    const amzDate = String(req.headers["x-amz-date"] ?? "");
    const signingDate = parseAmzDate(amzDate);
    if (signingDate === undefined) return fail(400, "IncompleteSignature", "X-Amz-Date is missing");
    const names = signedHeaders.split(";");
    const headers: Record<string, string> = {};
    for (const name of names) {
      const v = req.headers[name];
      headers[name] = Array.isArray(v) ? v.join(",") : (v ?? "");
    }
    const url = new URL(req.url ?? "/", "http://x");
    const signer = new SignatureV4({
      credentials: {
        accessKeyId,
        secretAccessKey: caller.secretAccessKey,
        ...(caller.sessionToken === undefined ? {} : { sessionToken: caller.sessionToken }),
      },
      region,
      service,
      sha256: Sha256,
      applyChecksum: false,
    });
    const signed = await signer.sign(
      {
        method: req.method ?? "POST",
        protocol: "http:",
        hostname: headers.host ?? "",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        body: body.toString("utf8"),
      },
      { signingDate: new Date(signingDate), signableHeaders: new Set(names), unsignableHeaders: new Set() },
    );
    const expected = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization ?? "")?.[1];
    if (expected !== signature)
      return fail(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
      );
    if (Math.abs(this.o.now() - signingDate) > 5 * 60_000)
      return fail(400, "SignatureDoesNotMatch", "Signature expired");
    return { accessKeyId, accountId: caller.accountId, temporary: caller.sessionToken !== undefined };
  }

  private sendError(res: ServerResponse, err: StsError): void {
    const type = err.status >= 500 ? "Receiver" : "Sender";
    res.writeHead(err.status, { "content-type": "text/xml" });
    res.end(
      `<ErrorResponse xmlns="${NS}"><Error><Type>${type}</Type><Code>${err.code}</Code>` +
        `<Message>${esc(err.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    );
  }
}

export async function startStsServer(options: StsServerOptions): Promise<StsServer> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      resolve();
    });
  });
  return new StsServer(server, options);
}

function accountOf(roleArn: string): string {
  const m = /^arn:aws[a-z-]*:iam::(\d{12}):role\/.+$/.exec(roleArn);
  if (!m?.[1]) throw new Error(`not a role ARN: ${roleArn}`);
  return m[1];
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error("request body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
