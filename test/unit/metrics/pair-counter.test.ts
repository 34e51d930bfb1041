import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ControllerMetrics } from "../../../src/metrics/metrics.ts";
import { PairCounter } from "../../../src/metrics/pair-counter.ts";
import { sumMetric } from "../../support/prometheus-text.ts";

describe("PairCounter", () => {
  it("counts per pair and renders the Prometheus text format in chunks", () => {
    const c = new PairCounter({ name: "x_total", help: "Help.", labelNames: ["namespace", "name"] });
    c.inc("a", "r1");
    c.inc("a", "r1");
    c.inc("b", "r1", 3);
    c.inc('we"ird\\', "n\nl");
    assert.equal(c.get("a", "r1"), 2);
    assert.equal(c.get("zz", "r1"), 0);
    assert.equal(c.size, 3);
    const chunks = [...c.chunks(2)];
    assert.equal(chunks.length, 2, "2 lines per chunk: HELP/TYPE + 2 series, then 1 series");
    assert.ok(chunks.every((ch) => ch.endsWith("\n")));
    const text = chunks.join("");
    assert.equal(
      text,
      [
        "# HELP x_total Help.",
        "# TYPE x_total counter",
        'x_total{namespace="a",name="r1"} 2',
        'x_total{namespace="b",name="r1"} 3',
        'x_total{namespace="we\\"ird\\\\",name="n\\nl"} 1',
        "",
      ].join("\n"),
    );
    assert.equal(sumMetric(text, "x_total", { name: "r1" }), 5);
  });

  it("is part of the controller's /metrics text, after the registry's metrics", async () => {
    const m = new ControllerMetrics();
    m.secretsCreated.inc("team-a", "123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    m.secretRenewals.inc();
    const text = [...(await m.render())].join("");
    assert.equal(
      sumMetric(text, "secrets_created_total", {
        namespace: "team-a",
        name: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
      }),
      1,
    );
    assert.equal(sumMetric(text, "secret_renewals_total"), 1);
    assert.match(
      text,
      /\n\n# HELP secrets_created_total /,
      "a blank line separates it from the registry's text",
    );
  });
});
