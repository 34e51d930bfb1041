import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SecretWriter } from "../../../src/kube/secret-writer.ts";
import { WriteLimiter } from "../../../src/kube/write-limiter.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { flush, refusingRest } from "../../support/refusing-rest.ts";

describe("SecretWriter under a throttling API server", () => {
  it("SecretWriter retries a refused delete the same way and stops when halted", async () => {
    const clock = new FakeClock();
    const { rest, sent } = refusingRest(clock, 5);
    const halt = new AbortController();
    const counted: string[] = [];
    const writer = new SecretWriter({
      rest,
      limiter: new WriteLimiter({ qps: 10, burst: 10, clock }),
      fieldManager: "eatr/test",
      signal: halt.signal,
      observe: (op, result) => counted.push(`${op} ${result}`),
    });
    const done = writer.delete({
      metadata: { namespace: "team", name: "host", uid: "u", resourceVersion: "1" },
    });
    await flush();
    assert.equal(sent.length, 1);
    halt.abort(new Error("leadership lost"));
    await assert.rejects(done, /leadership lost/);
    clock.advance(60_000);
    await flush();
    assert.equal(sent.length, 1, "nothing sent after the halt");
    assert.deepEqual(counted, ["delete error"], "the refused write was sent once: counted once");
  });
});
