import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import {
  ECRPUBLICClient,
  GetAuthorizationTokenCommand as GetPublicAuthorizationTokenCommand,
} from "@aws-sdk/client-ecr-public";
import { parseCredentials } from "../../../src/ecr/credentials.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import {
  DEFAULT_ECR_TIMEOUT_MS,
  EcrTokenProvider,
  ecrClientConfig,
} from "../../../src/ecr/token-provider.ts";
import { startEcrServer, type EcrKey, type EcrServer } from "../../env/ecr-server.ts";
import { registryHostForms } from "../../support/registry-host-forms.ts";

const KEY: EcrKey = {
  accessKeyId: "AKIAPROVIDERTEST0001",
  secretAccessKey: "provider/test+secret0123456789abcdefghij",
  accountId: "123456789012",
};
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** The credentials eatr reads from a registry's credential secret (with an aws_region, when given). */
function credentialsFor(host: string, awsRegion?: string) {
  const registry = parseRegistryHost(host) ?? assert.fail(host);
  const data: Record<string, string> = {
    aws_access_key_id: b64(KEY.accessKeyId),
    aws_secret_access_key: b64(KEY.secretAccessKey),
  };
  if (awsRegion !== undefined) data.aws_region = b64(awsRegion);
  return {
    registry,
    credentials: parseCredentials({ metadata: { name: `c-${host}`, namespace: "ci-cd" }, data }, registry),
  };
}

/** Where the SDK would send the call and for which region it signs it, without sending it. */
async function resolvedRequest(
  config: ReturnType<typeof ecrClientConfig>,
  api: "ecr" | "ecr-public" = "ecr",
) {
  const client = api === "ecr" ? new ECRClient(config) : new ECRPUBLICClient(config);
  let seen: { url: string; authorization: string } | undefined;
  client.middlewareStack.add(
    () => (args) => {
      const request = args.request as {
        protocol: string;
        hostname: string;
        path: string;
        headers: Record<string, string>;
      };
      seen = {
        url: `${request.protocol}//${request.hostname}${request.path}`,
        authorization: request.headers.authorization ?? "",
      };
      return Promise.reject(new Error("stop before sending"));
    },
    { step: "deserialize", name: "captureSignedRequest" },
  );
  await assert.rejects(
    client instanceof ECRClient
      ? client.send(new GetAuthorizationTokenCommand({}))
      : client.send(new GetPublicAuthorizationTokenCommand({})),
    /stop before sending/,
  );
  client.destroy();
  return seen ?? assert.fail("no request seen");
}

/** The ECR API host AWS documents for a region, with the FIPS and dual-stack variants. */
function apiHost(form: ReturnType<typeof registryHostForms>[number]): string {
  const dualStackDomain: Record<string, string> = {
    aws: "api.aws",
    "aws-us-gov": "api.aws",
    "aws-cn": "api.amazonwebservices.com.cn",
  };
  const domain = /\.dkr[.-]ecr(?:-fips)?\.[^.]+\.(.+)$/.exec(form.host)?.[1] ?? assert.fail(form.host);
  if (form.dualStack) {
    return `${form.fips ? "ecr-fips" : "ecr"}.${form.region}.${dualStackDomain[form.partition] ?? assert.fail(form.partition)}`;
  }
  return `${form.fips ? "api.ecr-fips" : "api.ecr"}.${form.region}.${domain}`;
}

describe("EcrTokenProvider", () => {
  let ecr: EcrServer;

  before(async () => {
    ecr = await startEcrServer({ keys: [KEY] });
  });

  after(async () => {
    await ecr.close();
  });

  describe("with a custom endpoint (a VPC endpoint, a proxy, the local ECR): every host form", () => {
    for (const form of registryHostForms()) {
      it(`${form.form} (${form.host}): a token, signed for ${form.region}`, async () => {
        ecr.resetCounts();
        const provider = new EcrTokenProvider({ endpoint: ecr.endpoint });
        const token = await provider.getAuthorizationToken(credentialsFor(form.host));
        assert.match(Buffer.from(token.authorizationToken, "base64").toString(), /^AWS:ecr-123456789012-/);
        assert.deepEqual(
          ecr.log().map((c) => [c.region, c.outcome]),
          [[form.region, "ok"]],
        );
      });
    }

    it("calls ECR in the registry's region even when aws_region names another", async () => {
      ecr.resetCounts();
      const provider = new EcrTokenProvider({ endpoint: ecr.endpoint });
      const request = credentialsFor("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "us-east-1");
      assert.equal(request.credentials.configuredRegion, "us-east-1");
      await provider.getAuthorizationToken(request);
      assert.deepEqual(
        ecr.log().map((c) => c.region),
        ["eu-west-1"],
      );
    });

    it("leaves the FIPS and dual-stack flags to the endpoint", () => {
      const { registry, credentials } = credentialsFor("123456789012.dkr-ecr-fips.us-gov-west-1.on.aws");
      const config = ecrClientConfig({ registry, credentials }, { endpoint: ecr.endpoint, timeoutMs: 1000 });
      assert.equal(config.endpoint, ecr.endpoint);
      assert.equal(config.useFipsEndpoint, undefined);
      assert.equal(config.useDualstackEndpoint, undefined);
      assert.equal(config.region, "us-gov-west-1");
    });
  });

  describe("without one: the SDK's regional endpoint for every host form", () => {
    for (const form of registryHostForms()) {
      it(`${form.form}: https://${apiHost(form)}/, signed for ${form.region}`, async () => {
        const seen = await resolvedRequest(
          ecrClientConfig(credentialsFor(form.host), { endpoint: "", timeoutMs: 1000 }),
        );
        assert.equal(seen.url, `https://${apiHost(form)}/`);
        assert.match(
          seen.authorization,
          new RegExp(`Credential=${KEY.accessKeyId}/\\d{8}/${form.region}/ecr/`),
        );
      });
    }
  });

  describe("ECR Public (public.ecr.aws)", () => {
    const DEAD = "http://127.0.0.1:9"; // nothing listens: a call sent there fails at once

    it("calls ECR Public's GetAuthorizationToken at -ecr-public-endpoint, signed for ecr-public in us-east-1", async () => {
      ecr.resetCounts();
      const provider = new EcrTokenProvider({ endpoint: DEAD, publicEndpoint: ecr.endpoint });
      const token = await provider.getAuthorizationToken(credentialsFor("public.ecr.aws"));
      const password = Buffer.from(token.authorizationToken, "base64").toString().replace(/^AWS:/, "");
      const minted = ecr.findToken(password) ?? assert.fail("minted by the endpoint");
      assert.equal(minted.service, "ecr-public");
      assert.equal(token.expiresAtMs, minted.expiresAt?.getTime(), "expiresAt of the one authorizationData");
      assert.deepEqual(
        ecr.log().map((c) => [c.service, c.scopeService, c.region, c.outcome]),
        [["ecr-public", "ecr-public", "us-east-1", "ok"]],
      );
    });

    it("calls it in us-east-1 whatever aws_region says", async () => {
      ecr.resetCounts();
      const provider = new EcrTokenProvider({ publicEndpoint: ecr.endpoint });
      const request = credentialsFor("public.ecr.aws", "eu-west-1");
      assert.equal(request.credentials.region, "us-east-1");
      assert.equal(request.credentials.configuredRegion, "eu-west-1");
      await provider.getAuthorizationToken(request);
      assert.deepEqual(
        ecr.log().map((c) => c.region),
        ["us-east-1"],
      );
    });

    it("never sends ECR Public's call to -ecr-endpoint, nor a private registry's to -ecr-public-endpoint", async () => {
      ecr.resetCounts();
      const publicOnDead = new EcrTokenProvider({
        endpoint: ecr.endpoint,
        publicEndpoint: DEAD,
        timeoutMs: 2000,
      });
      await assert.rejects(publicOnDead.getAuthorizationToken(credentialsFor("public.ecr.aws")));
      const privateOnDead = new EcrTokenProvider({
        endpoint: DEAD,
        publicEndpoint: ecr.endpoint,
        timeoutMs: 2000,
      });
      await assert.rejects(
        privateOnDead.getAuthorizationToken(credentialsFor("123456789012.dkr.ecr.eu-west-1.amazonaws.com")),
      );
      assert.equal(ecr.totalCalls(), 0);
      const privateOk = new EcrTokenProvider({ endpoint: ecr.endpoint, publicEndpoint: DEAD });
      await privateOk.getAuthorizationToken(credentialsFor("123456789012.dkr.ecr.eu-west-1.amazonaws.com"));
      assert.deepEqual(
        ecr.log().map((c) => [c.service, c.scopeService]),
        [["ecr", "ecr"]],
      );
    });

    it("without an endpoint: https://api.ecr-public.us-east-1.amazonaws.com/, signed for ecr-public in us-east-1", async () => {
      const seen = await resolvedRequest(
        ecrClientConfig(credentialsFor("public.ecr.aws", "eu-west-1"), { endpoint: "", timeoutMs: 1000 }),
        "ecr-public",
      );
      assert.equal(seen.url, "https://api.ecr-public.us-east-1.amazonaws.com/");
      assert.match(
        seen.authorization,
        new RegExp(`Credential=${KEY.accessKeyId}/\\d{8}/us-east-1/ecr-public/`),
      );
    });

    const answers: [string, unknown, RegExp][] = [
      ["no authorizationData", {}, /^ECR Public returned no authorizationData for public\.ecr\.aws$/],
      [
        "an empty token",
        { authorizationData: { authorizationToken: "" } },
        /^ECR Public returned an empty authorizationToken for public\.ecr\.aws$/,
      ],
      [
        "a token that is not user:password",
        { authorizationData: { authorizationToken: Buffer.from("nocolon").toString("base64") } },
        /^ECR Public returned an authorizationToken for public\.ecr\.aws that is not base64 "user:password"$/,
      ],
    ];
    for (const [what, body, message] of answers) {
      it(`refuses an answer with ${what}`, async () => {
        const fake = await answering(body);
        try {
          const provider = new EcrTokenProvider({ publicEndpoint: fake.endpoint });
          await assert.rejects(
            provider.getAuthorizationToken(credentialsFor("public.ecr.aws")),
            (err: unknown) => {
              assert.ok(err instanceof Error);
              assert.equal(err.name, "InvalidTokenResponseError");
              assert.match(err.message, message);
              return true;
            },
          );
        } finally {
          await fake.close();
        }
      });
    }
  });

  it("bounds a call by its own timeout (10 s by default), with a clear error", async () => {
    assert.equal(DEFAULT_ECR_TIMEOUT_MS, 10_000);
    const { registry, credentials } = credentialsFor("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    const config = ecrClientConfig({ registry, credentials }, { timeoutMs: DEFAULT_ECR_TIMEOUT_MS });
    assert.deepEqual(config.requestHandler, {
      connectionTimeout: DEFAULT_ECR_TIMEOUT_MS,
      requestTimeout: DEFAULT_ECR_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    });
    assert.equal(config.maxAttempts, 1);

    ecr.setKeyLatencyMs(KEY.accessKeyId, 60_000); // hangs (close() ends the wait)
    try {
      const provider = new EcrTokenProvider({ endpoint: ecr.endpoint, timeoutMs: 300 });
      const started = performance.now();
      await assert.rejects(provider.getAuthorizationToken({ registry, credentials }), (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal(err.name, "EcrTimeoutError");
        assert.equal(
          err.message,
          "ECR GetAuthorizationToken for 123456789012.dkr.ecr.eu-west-1.amazonaws.com did not answer within 300 ms",
        );
        return true;
      });
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 5_000, `gave up after ${Math.round(elapsed)} ms, not after the 60 s hang`);
    } finally {
      ecr.setKeyLatencyMs(KEY.accessKeyId, undefined);
    }
  });

  it("passes on an abort by the caller as it is", async () => {
    ecr.setKeyLatencyMs(KEY.accessKeyId, 60_000);
    try {
      const abort = new AbortController();
      const provider = new EcrTokenProvider({ endpoint: ecr.endpoint });
      const call = provider.getAuthorizationToken({
        ...credentialsFor("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
        signal: abort.signal,
      });
      abort.abort();
      await assert.rejects(call, (err: unknown) => err instanceof Error && err.name !== "EcrTimeoutError");
    } finally {
      ecr.setKeyLatencyMs(KEY.accessKeyId, undefined);
    }
  });
});

/** An HTTP endpoint answering every request 200 with `body` as AWS JSON 1.1 (an odd ECR Public). */
async function answering(body: unknown): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
