import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { describeOptions } from "../../src/config/index.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("documents every option with its flag, environment variable and default", () => {
    for (const o of describeOptions()) {
      const row = readme.split("\n").find((l) => new RegExp(`^\\| \`-${o.flag}\` +\\|`).test(l));
      assert.ok(row, `README has a row for -${o.flag}`);
      assert.ok(row.includes(`\`${o.env}\``), `-${o.flag} row names ${o.env}`);
      const shown = o.default === "" ? '""' : o.default;
      assert.ok(row.includes(`\`${shown}\``), `-${o.flag} row shows default ${shown}`);
    }
  });

  it("shows the install and test commands CI runs", () => {
    assert.match(readme, /npm ci && npm test/);
    assert.match(readme, /npm ci && npm run demo/);
  });
});
