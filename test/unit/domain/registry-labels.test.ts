import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nearMissLabels, requestedRegistries } from "../../../src/domain/registry-labels.ts";

const HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const ns = (labels: Record<string, string>) => ({ metadata: { name: "team-a", labels } });

describe("registry labels", () => {
  it("only the exact value true opts in", () => {
    assert.deepEqual(
      requestedRegistries(ns({ [HOST]: "true" })).map((r) => r.host),
      [HOST],
    );
    for (const value of ["True", "TRUE", "yes", "1", "on", "false", ""])
      assert.deepEqual(requestedRegistries(ns({ [HOST]: value })), [], value);
  });

  it("names the registry labels that look like an opt-in but are not", () => {
    assert.deepEqual(nearMissLabels(ns({ [HOST]: "True", "app.kubernetes.io/name": "yes", other: "1" })), [
      { key: HOST, value: "True" },
    ]);
    for (const value of ["TRUE", "yes", "Y", "1", "on", " true "])
      assert.equal(nearMissLabels(ns({ [HOST]: value })).length, 1, value);
    for (const value of ["true", "false", "no", "0", ""])
      assert.deepEqual(nearMissLabels(ns({ [HOST]: value })), [], value);
  });
});

describe("registry labels: ECR Public", () => {
  it("public.ecr.aws=true asks for ECR Public beside private registries", () => {
    assert.deepEqual(
      requestedRegistries(ns({ [HOST]: "true", "public.ecr.aws": "true" })).map((r) => [r.host, r.kind]),
      [
        [HOST, "private"],
        ["public.ecr.aws", "public"],
      ],
    );
    assert.deepEqual(nearMissLabels(ns({ "public.ecr.aws": "yes" })), [
      { key: "public.ecr.aws", value: "yes" },
    ]);
    assert.deepEqual(requestedRegistries(ns({ "public.ecr.aws.evil.com": "true" })), []);
  });
});
