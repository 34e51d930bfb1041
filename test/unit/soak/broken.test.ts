/**
 * The soak's deliberately broken builds (test/soak/broken/*.patch) must still apply to the source as it is:
 * a patch left behind by a change of the code it breaks would make `npm run soak -- --broken <name>` fail
 * before it proves anything (two of them did, after the metadata-only verdict change).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { BROKEN } from "../../soak/broken.ts";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const DIR = join(ROOT, "test", "soak", "broken");

void describe("soak broken builds", () => {
  void it("has one patch per broken build, and no other", () => {
    const patches = readdirSync(DIR)
      .filter((f) => f.endsWith(".patch"))
      .map((f) => f.slice(0, -".patch".length))
      .sort();
    assert.deepEqual(patches, Object.keys(BROKEN).sort());
  });

  for (const name of Object.keys(BROKEN)) {
    void it(`${name}.patch applies to the current source and marks its change BROKEN`, () => {
      const patch = join(DIR, `${name}.patch`);
      // --check changes nothing; it fails (non-zero, with git's reason on stderr) when a hunk does not apply.
      execFileSync("git", ["apply", "--check", patch], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
      const text = execFileSync("git", ["apply", "--numstat", patch], { cwd: ROOT, encoding: "utf8" });
      assert.match(text, /\tsrc\//, "it patches the source");
      assert.match(readFileSync(patch, "utf8"), /^\+.*BROKEN \(soak self-test\)/m, "its change says so");
    });
  }
});
