import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OwnWrites } from "../../../src/kube/own-writes.ts";

/** A write of a/r answered with resourceVersion rv (no event while it was in flight). */
function wrote(w: OwnWrites, rv: string | undefined, name = "a") {
  w.begin(name, "r");
  return w.end(name, "r", rv);
}

describe("OwnWrites", () => {
  it("recognises the echo of our last write once, and nothing else", () => {
    const w = new OwnWrites();
    assert.equal(wrote(w, "10"), false);
    assert.equal(w.isEcho("a", "r", "10"), true);
    assert.equal(w.isEcho("a", "r", "10"), false, "only once");
    wrote(w, "11");
    assert.equal(w.isEcho("a", "r", "12"), false, "someone else's later version");
    assert.equal(w.size, 0, "and our write is forgotten");
    assert.equal(w.isEcho("b", "r", "11"), false, "another secret");
    assert.equal(wrote(w, undefined), false, "a failed write with no event meanwhile: nothing to queue");
    assert.equal(w.size, 0);
  });

  it("holds events that arrive while the write is in flight, then decides", () => {
    const w = new OwnWrites();
    w.begin("a", "r");
    assert.equal(w.isEcho("a", "r", "20"), true, "held");
    assert.equal(w.end("a", "r", "20"), false, "it was the echo: nothing to queue");
    assert.equal(w.isEcho("a", "r", "20"), false, "and it is not expected again");

    w.begin("a", "r");
    w.isEcho("a", "r", "30");
    assert.equal(w.end("a", "r", "31"), true, "another version arrived meanwhile: queue");

    w.begin("a", "r");
    w.isEcho("a", "r", "40");
    assert.equal(w.end("a", "r", undefined), true, "the write failed and something changed: queue");
    assert.equal(w.size, 0);
  });

  it("stays bounded", () => {
    const w = new OwnWrites({ max: 2 });
    wrote(w, "1", "a");
    wrote(w, "2", "b");
    wrote(w, "3", "c");
    assert.ok(w.size <= 2);
    assert.equal(w.isEcho("c", "r", "3"), true);
  });
});
