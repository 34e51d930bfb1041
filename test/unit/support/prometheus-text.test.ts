import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseLabels, sumMetric } from "../../support/prometheus-text.ts";

const TEXT = `# HELP eatr_pull_secret_writes_total Pull secret API writes.
# TYPE eatr_pull_secret_writes_total counter
eatr_pull_secret_writes_total{operation="create",result="success"} 3
eatr_pull_secret_writes_total{operation="update",result="success"} 2
eatr_pull_secret_writes_total{operation="create",result="error"} 1
eatr_pull_secret_writes_total_extra 100
secret_renewals_total 4
`;

describe("Prometheus text helpers", () => {
  it("sums the samples whose labels match, and only that metric", () => {
    assert.equal(sumMetric(TEXT, "eatr_pull_secret_writes_total"), 6);
    assert.equal(sumMetric(TEXT, "eatr_pull_secret_writes_total", { result: "success" }), 5);
    assert.equal(
      sumMetric(TEXT, "eatr_pull_secret_writes_total", { operation: "create", result: "error" }),
      1,
    );
    assert.equal(sumMetric(TEXT, "secret_renewals_total"), 4);
    assert.equal(sumMetric(TEXT, "absent_total"), 0);
  });

  it("undoes label escapes", () => {
    assert.deepEqual(parseLabels('a="x\\"y",b="line\\nbreak",c="back\\\\slash"'), {
      a: 'x"y',
      b: "line\nbreak",
      c: "back\\slash",
    });
  });
});
