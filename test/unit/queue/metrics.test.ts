import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { register as globalRegistry, Registry } from "prom-client";
import { DelayingQueue } from "../../../src/queue/delaying-queue.ts";
import { PrometheusWorkqueueMetrics } from "../../../src/queue/metrics.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { resolvedNow, sample } from "./helpers.ts";

const labels = { name: "eatr", controller: "eatr" };

function setup(): { clock: FakeClock; registry: Registry; queue: DelayingQueue } {
  const clock = new FakeClock();
  const registry = new Registry();
  const queue = new DelayingQueue({
    name: "eatr",
    clock,
    metrics: new PrometheusWorkqueueMetrics({ registry }),
  });
  return { clock, registry, queue };
}

describe("PrometheusWorkqueueMetrics", () => {
  it("starts every series at zero with labels name and controller", async () => {
    const { registry } = setup();
    assert.equal(await sample(registry, "workqueue_depth", labels), 0);
    assert.equal(await sample(registry, "workqueue_adds_total", labels), 0);
    assert.equal(await sample(registry, "workqueue_retries_total", labels), 0);
    assert.equal(await sample(registry, "workqueue_queue_duration_seconds_count", labels), 0);
    assert.equal(await sample(registry, "workqueue_work_duration_seconds_count", labels), 0);
    assert.equal(await sample(registry, "workqueue_unfinished_work_seconds", labels), 0);
    assert.equal(await sample(registry, "workqueue_longest_running_processor_seconds", labels), 0);
  });

  it("counts adds and depth, ignoring de-duplicated adds", async () => {
    const { registry, queue } = setup();
    queue.add("a");
    queue.add("a");
    queue.add("b");
    assert.equal(await sample(registry, "workqueue_adds_total", labels), 2);
    assert.equal(await sample(registry, "workqueue_depth", labels), 2);
    await resolvedNow(queue.get());
    assert.equal(await sample(registry, "workqueue_depth", labels), 1);
  });

  it("observes time in queue, time in work, and work still unfinished", async () => {
    const { clock, registry, queue } = setup();
    queue.add("a");
    queue.add("b");
    clock.advance(3);
    assert.equal(await resolvedNow(queue.get()), "a");
    assert.equal(await sample(registry, "workqueue_queue_duration_seconds_count", labels), 1);
    assert.equal(await sample(registry, "workqueue_queue_duration_seconds_sum", labels), 0.003);
    clock.advance(2);
    assert.equal(await resolvedNow(queue.get()), "b");
    clock.advance(4);
    // a has run 6 ms, b 4 ms.
    assert.equal(await sample(registry, "workqueue_unfinished_work_seconds", labels), 0.01);
    assert.equal(await sample(registry, "workqueue_longest_running_processor_seconds", labels), 0.006);
    queue.done("a");
    assert.equal(await sample(registry, "workqueue_work_duration_seconds_count", labels), 1);
    assert.equal(await sample(registry, "workqueue_work_duration_seconds_sum", labels), 0.006);
    assert.equal(await sample(registry, "workqueue_unfinished_work_seconds", labels), 0.004);
    queue.done("b");
    assert.equal(await sample(registry, "workqueue_unfinished_work_seconds", labels), 0);
  });

  it("counts every addAfter as a retry", async () => {
    const { registry, queue } = setup();
    queue.addAfter("a", 0);
    queue.addAfter("b", 100);
    queue.add("c");
    assert.equal(await sample(registry, "workqueue_retries_total", labels), 2);
  });

  it("uses controller-runtime's help texts and buckets", async () => {
    const { registry } = setup();
    const text = await registry.getSingleMetricAsString("workqueue_queue_duration_seconds");
    assert.match(
      text,
      /# HELP workqueue_queue_duration_seconds How long in seconds an item stays in workqueue/,
    );
    const bounds = [...text.matchAll(/le="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(bounds.length, 13);
    assert.equal(bounds[0], "1e-8");
    assert.equal(bounds[11], "1000");
    assert.equal(bounds[12], "+Inf");
    const depth = await registry.getSingleMetricAsString("workqueue_depth");
    assert.match(depth, /# HELP workqueue_depth Current depth of workqueue\n/);
    assert.match(depth, /workqueue_depth\{name="eatr",controller="eatr"\} 0/);
  });

  it("registers on the injected registry only", async () => {
    setup();
    assert.equal(globalRegistry.getSingleMetric("workqueue_depth"), undefined);
    assert.equal((await globalRegistry.getMetricsAsJSON()).length, 0);
  });

  it("refuses a second queue with the same name and a second provider on one registry", () => {
    const registry = new Registry();
    const metrics = new PrometheusWorkqueueMetrics({ registry });
    const clock = new FakeClock();
    metrics.forQueue("a", clock);
    assert.throws(() => metrics.forQueue("a", clock), /already reports metrics/);
    assert.throws(() => new PrometheusWorkqueueMetrics({ registry }), /already been registered/);
  });

  it("requires a prom-client registry", () => {
    assert.throws(() => new PrometheusWorkqueueMetrics({ registry: {} as Registry }), TypeError);
  });
});
