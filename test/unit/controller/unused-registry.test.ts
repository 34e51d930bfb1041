import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import pino from "pino";
import { Controller } from "../../../src/controller.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import type { TokenProvider } from "../../../src/ecr/token-provider.ts";
import { ControllerMetrics } from "../../../src/metrics/metrics.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { sumMetric } from "../../support/prometheus-text.ts";

const HOUR = 3_600_000;

/**
 * The controller's wiring for a registry no namespace uses any more: when its token comes due, the token
 * is dropped instead of renewed and its expiry gauge disappears (the token-expiry alert would otherwise
 * fire for a registry nobody needs). No API server: the informers are never started, so the caches are
 * empty and no namespace uses the registry.
 */
describe("Controller: a registry nobody uses", () => {
  it("is not renewed at refresh time and its expiry gauge is removed", async () => {
    const clock = new FakeClock();
    let calls = 0;
    const provider: TokenProvider = {
      getAuthorizationToken: () => {
        calls++;
        return Promise.resolve({
          authorizationToken: Buffer.from("AWS:pw").toString("base64"),
          expiresAtMs: clock.now() + 12 * HOUR,
        });
      },
    };
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: "c", server: "https://127.0.0.1:1", skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const metrics = new ControllerMetrics();
    const controller = new Controller({
      kubeConfig,
      tokenProvider: provider,
      logger: pino({ level: "silent" }),
      metrics,
      hostNamespace: "ci-cd",
      credentialsSecretPrefix: "",
      installation: "ci-cd/eatr",
      renewalIntervalMs: 6 * HOUR,
      tokenSafetyMarginMs: HOUR,
      resyncIntervalMs: 0,
      workers: 1,
      kubeApiQps: 50,
      kubeApiBurst: 100,
      clock,
      identity: "test",
    });
    const registry = parseRegistryHost("123456789012.dkr.ecr.eu-west-1.amazonaws.com") ?? assert.fail();
    const credentials = { accessKeyId: "AKIA", secretAccessKey: "s", region: "eu-west-1" };
    // get() never waits for ECR: the first call starts the fetch, the next (once it settled) has the token.
    await assert.rejects(controller.tokens.get(registry, credentials, "v1"), { name: "TokenPendingError" });
    await new Promise<void>((resolve) => setImmediate(resolve));
    await controller.tokens.get(registry, credentials, "v1");
    const gauge = "eatr_registry_token_expiry_timestamp_seconds";
    const text = async () => [...(await metrics.render())].join("");
    assert.equal(
      sumMetric(await text(), gauge, { registry: registry.host }),
      (clock.now() + 12 * HOUR) / 1000,
    );

    clock.advance(7 * HOUR); // past the renewal interval (with its jitter)
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(controller.tokens.peek(registry.host), undefined, "the token was dropped");
    assert.doesNotMatch(await text(), new RegExp(`${gauge}\\{`), "no expiry series left");
    assert.equal(calls, 1, "and not renewed");
    await controller.stop(0);
  });
});
