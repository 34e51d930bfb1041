import assert from "node:assert/strict";
import { dirname } from "node:path";
import { describe, it } from "node:test";
import { cacheDir, defaultStateFile } from "../../env/control-plane.ts";

describe("defaultStateFile (the state of `testenv start`)", () => {
  it("is one file per checkout, in the shared cache, named after the checkout", () => {
    const a = defaultStateFile("/work/checkout-a");
    const b = defaultStateFile("/work/checkout-b");
    const elsewhere = defaultStateFile("/ci/builds/checkout-a");
    assert.notEqual(a, b);
    assert.notEqual(a, elsewhere, "same folder name, another path");
    assert.equal(defaultStateFile("/work/checkout-a/"), a, "the same checkout, however written");
    assert.equal(defaultStateFile("/work/x/../checkout-a"), a);
    assert.equal(dirname(a), `${cacheDir()}/testenv-state`);
    assert.match(a, /\/checkout-a-[0-9a-f]{12}\.json$/);
  });

  it("defaults to this checkout", () => {
    assert.equal(defaultStateFile(), defaultStateFile(new URL("../../..", import.meta.url).pathname));
  });
});
