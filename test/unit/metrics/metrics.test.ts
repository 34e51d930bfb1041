import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KubeApiError } from "../../../src/kube/rest.ts";
import { WRITE_KINDS, WriteLimiter } from "../../../src/kube/write-limiter.ts";
import { ControllerMetrics } from "../../../src/metrics/metrics.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** The samples of one metric in the registry's text output, as "labels value" lines. */
async function samples(metrics: ControllerMetrics, name: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => line.slice(name.length).trim());
}

describe("ControllerMetrics", () => {
  it("exposes eatr_kube_api_throttled_total at 0 for every write operation before any 429", async () => {
    const metrics = new ControllerMetrics();
    assert.deepEqual(
      await samples(metrics, "eatr_kube_api_throttled_total"),
      WRITE_KINDS.map((operation) => `{operation="${operation}"} 0`),
    );
  });

  it("reads eatr_kube_api_write_rate from the write limiter at scrape time: qps, lower after a 429", async () => {
    const metrics = new ControllerMetrics();
    const clock = new FakeClock();
    const limiter = new WriteLimiter({
      qps: 40,
      burst: 40,
      clock,
      throttled: (operation) => {
        metrics.kubeApiThrottled.inc({ operation });
      },
    });
    metrics.observeWriteRate(() => limiter.rate);
    assert.deepEqual(await samples(metrics, "eatr_kube_api_write_rate"), ["40"]);

    const refused = new KubeApiError("POST", "/api/v1/namespaces/a/secrets", 429, "{}", "1");
    let calls = 0;
    const run = limiter.run("secret_create", () =>
      calls++ === 0 ? Promise.reject(refused) : Promise.resolve(),
    );
    await flush();
    assert.deepEqual(await samples(metrics, "eatr_kube_api_write_rate"), ["20"], "halved by the 429");
    assert.ok(
      (await samples(metrics, "eatr_kube_api_throttled_total")).includes(`{operation="secret_create"} 1`),
    );
    clock.advance(1_000);
    await run;
    clock.advance(2_000);
    assert.deepEqual(
      await samples(metrics, "eatr_kube_api_write_rate"),
      ["28"],
      "a tenth of qps back per second",
    );
  });
});
