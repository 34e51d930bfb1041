import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry, Counter, Gauge } from "prom-client";
import { StsError } from "../../../src/ecr/credential-source.ts";
import { TokenReporter } from "../../../src/ecr/token-reporter.ts";

const R = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

function setup() {
  const registry = new Registry();
  const registers = [registry];
  const metrics = {
    ecrTokenRequests: new Counter({ name: "req", help: "h", labelNames: ["registry", "result"], registers }),
    tokenExpiry: new Gauge({ name: "exp", help: "h", labelNames: ["registry"], registers }),
    tokenFetched: new Gauge({ name: "fetched", help: "h", labelNames: ["registry"], registers }),
    secretRenewals: new Counter({ name: "ren", help: "h", registers }),
  };
  const events: string[] = [];
  const reporter = new TokenReporter({
    metrics,
    logger: { info: () => undefined, warn: () => undefined },
    events: { record: (_o, type, reason, message) => events.push(`${type} ${reason} ${message}`) },
    credentialSecret: () => ({ kind: "Secret", namespace: "ci-cd", name: `eatr-aws-credentials-${R}` }),
  });
  return { registry, events, reporter };
}

describe("TokenReporter", () => {
  it("exports the expiry and fetch time of a token primed from a pull secret, counting no ECR call", async () => {
    const { registry, reporter } = setup();
    reporter.primed(R, {
      authorizationToken: "dG9r",
      expiresAtMs: 7_200_000,
      fetchedAtMs: 3_600_000,
      refreshAtMs: 0,
    });
    const text = await registry.metrics();
    assert.match(text, new RegExp(`exp\\{registry="${R.replaceAll(".", "\\.")}"\\} 7200`));
    assert.match(text, new RegExp(`fetched\\{registry="${R.replaceAll(".", "\\.")}"\\} 3600`));
    assert.doesNotMatch(text, /^req\{/m, "no ECR call counted");
  });

  it("gives every failure of one cause the same Event message, so the recorder aggregates them", () => {
    const { events, reporter } = setup();
    const err = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    for (const retryInMs of [1_000, 2_000, 4_000, 300_000]) reporter.failed(R, err, retryInMs);
    assert.equal(new Set(events).size, 1, events.join("\n"));
    assert.match(
      events[0] ?? "",
      /^Warning TokenRequestFailed .*ThrottlingException: Rate exceeded.*backoff/,
    );
  });

  it("names ECR Public in the Event of a failed public.ecr.aws call, and counts it like any registry's", async () => {
    const { registry, events, reporter } = setup();
    const err = Object.assign(new Error("User is not authorized"), { name: "AccessDeniedException" });
    reporter.failed("public.ecr.aws", err, 1_000);
    assert.match(
      events[0] ?? "",
      /^Warning TokenRequestFailed ECR Public GetAuthorizationToken for public\.ecr\.aws failed \(AccessDeniedException: User is not authorized\); eatr retries/,
    );
    assert.match(
      await registry.metrics(),
      /req\{registry="public\.ecr\.aws",result="invalid_credentials"\} 1/,
    );
    reporter.failed(R, err, 1_000);
    assert.match(events[1] ?? "", /^Warning TokenRequestFailed ECR GetAuthorizationToken for 1234/);
  });

  it("counts calls by result, records when the token was fetched, and drops the expiry and fetch time of a forgotten registry", async () => {
    const { registry, reporter } = setup();
    reporter.fetched(
      R,
      { authorizationToken: "x", expiresAtMs: 2_000_000, fetchedAtMs: 1_500_000, refreshAtMs: 1 },
      true,
    );
    reporter.failed(R, Object.assign(new Error("no"), { name: "UnrecognizedClientException" }), 1_000);
    const text = await registry.metrics();
    assert.match(text, /req\{registry="[^"]+",result="success"\} 1/);
    assert.match(text, /req\{registry="[^"]+",result="invalid_credentials"\} 1/);
    assert.match(text, /exp\{registry="[^"]+"\} 2000/);
    assert.match(text, /fetched\{registry="[^"]+"\} 1500/);
    assert.match(text, /ren 1/);
    reporter.forgotten(R);
    assert.doesNotMatch(await registry.metrics(), /exp\{/);
    assert.doesNotMatch(await registry.metrics(), /fetched\{/);
  });

  it("reports an STS failure as a failed fetch naming the registry and source, not as an ECR call", async () => {
    const { registry, events, reporter } = setup();
    const cause = Object.assign(new Error("Not authorized to perform sts:AssumeRoleWithWebIdentity"), {
      name: "AccessDenied",
    });
    reporter.failed(R, new StsError(R, "webIdentity", "AssumeRoleWithWebIdentity", cause), 1_000);
    assert.equal(events.length, 1);
    assert.match(
      events[0] ?? "",
      /^Warning TokenRequestFailed Getting AWS credentials for 123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com failed \(AccessDenied: STS AssumeRoleWithWebIdentity for registry 123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com \(source webIdentity\) failed: AccessDenied: Not authorized.*\); eatr retries with backoff/,
    );
    assert.doesNotMatch(await registry.metrics(), /req\{/, "no ECR call was made");
  });
});
