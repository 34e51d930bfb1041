import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1ServiceAccount } from "@kubernetes/client-node";
import { ServiceAccountWriter } from "../../../src/kube/service-account-writer.ts";
import { WriteLimiter } from "../../../src/kube/write-limiter.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { flush, refusingRest } from "../../support/refusing-rest.ts";

describe("ServiceAccountWriter under a throttling API server", () => {
  it("ServiceAccountWriter sends the same PUT again after Retry-After and counts one success", async () => {
    const clock = new FakeClock();
    const { rest, sent } = refusingRest(clock, 2);
    const throttled: string[] = [];
    const counted: string[] = [];
    const writer = new ServiceAccountWriter({
      rest,
      limiter: new WriteLimiter({ qps: 10, burst: 10, clock, throttled: (op) => throttled.push(op) }),
      fieldManager: "eatr/test",
      observe: (op, result) => counted.push(`${op} ${result}`),
    });
    const sa: V1ServiceAccount = { metadata: { namespace: "team", name: "builder", resourceVersion: "1" } };
    const done = writer.update(sa, "add");
    for (let i = 0; i < 2; i++) {
      await flush();
      clock.advance(1_000);
    }
    await done;
    assert.deepEqual(
      sent.map((s) => `${s.method} ${s.path} @${s.at}`),
      [0, 1_000, 2_000].map((t) => `PUT /api/v1/namespaces/team/serviceaccounts/builder @${t}`),
    );
    assert.deepEqual(throttled, ["service_account_update", "service_account_update"]);
    assert.deepEqual(counted, ["add success"], "one write, counted once with its final result");
  });
});
