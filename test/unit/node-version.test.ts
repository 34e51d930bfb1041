import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { nodeVersionProblem, parseNodeRange, satisfiesNodeRange } from "../../src/node-version.ts";

describe("satisfiesNodeRange", () => {
  it("reads npm's comparator sets, carets, tildes, x-ranges and alternatives", () => {
    const table: [range: string, yes: string[], no: string[]][] = [
      [">=24.21.0 <25", ["24.21.0", "v24.21.0", "24.99.3"], ["24.20.9", "25.0.0", "20.20.2", "26.1.0"]],
      [">= 24.21.0  < 25", ["24.21.0"], ["25.0.0"]],
      ["^24.21.0", ["24.21.0", "24.30.1"], ["24.20.0", "25.0.0"]],
      ["^0.3.1", ["0.3.1", "0.3.9"], ["0.4.0", "0.3.0"]],
      ["~24.21", ["24.21.0", "24.21.7"], ["24.22.0", "24.20.9"]],
      ["~24.21.3", ["24.21.3"], ["24.21.2", "24.22.0"]],
      ["24.x", ["24.0.0", "24.99.0"], ["23.9.9", "25.0.0"]],
      ["24", ["24.0.0", "24.5.1"], ["25.0.0"]],
      ["=24.21.0", ["24.21.0"], ["24.21.1"]],
      [">24", ["25.0.0"], ["24.99.99"]],
      ["<=24.21", ["24.21.9"], ["24.22.0"]],
      [">22.1.0", ["22.1.1"], ["22.1.0"]],
      ["^22.12 || ^24.21", ["22.12.0", "24.21.0"], ["23.0.0", "22.11.0", "25.0.0"]],
      ["*", ["1.0.0", "24.0.0"], []],
      ["", ["20.0.0"], []],
    ];
    for (const [range, yes, no] of table) {
      for (const v of yes) assert.ok(satisfiesNodeRange(v, range), `${v} is in "${range}"`);
      for (const v of no) assert.ok(!satisfiesNodeRange(v, range), `${v} is not in "${range}"`);
    }
  });

  it("counts a pre-release as its release and rejects what is not a version", () => {
    assert.ok(satisfiesNodeRange("25.0.0-pre", ">=25"));
    assert.ok(!satisfiesNodeRange("25.0.0-pre", "<25"));
    assert.ok(!satisfiesNodeRange("nightly", ">=1"));
  });

  it("refuses ranges it cannot read, naming the part", () => {
    assert.throws(
      () => parseNodeRange(">=24.21.0 <25 lts"),
      /engines.node ">=24.21.0 <25 lts": cannot read "lts"/,
    );
    assert.throws(() => parseNodeRange("24.x.1"), /a number after a wildcard/);
    assert.throws(() => parseNodeRange("24.0.0 - 25.0.0"), /cannot read "-"/);
    assert.throws(() => parseNodeRange("^24 ||"), /empty alternative/);
  });

  it("reads this package's engines.node, which Node 24 satisfies and Node 20 does not", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      engines: { node: string };
    };
    assert.ok(
      satisfiesNodeRange(process.versions.node, pkg.engines.node),
      "the tests run on a supported Node",
    );
    assert.ok(!satisfiesNodeRange("20.20.2", pkg.engines.node));
  });
});

describe("nodeVersionProblem", () => {
  const check = {
    required: ">=24.21.0 <25",
    execPath: "/usr/bin/node",
    script: "/app/dist/main.js",
  };

  it("is undefined on a supported Node", () => {
    assert.equal(nodeVersionProblem({ ...check, found: "24.21.0" }), undefined);
  });

  it("names what is needed, what was found and how to get it, on one line", () => {
    const problem = nodeVersionProblem({ ...check, found: "20.20.2" });
    assert.equal(
      problem,
      'eatr: needs Node.js >=24.21.0 <25 (package.json "engines"), but this is Node.js v20.20.2 (/usr/bin/node). ' +
        "Run eatr's container image, or use a matching Node.js: `nvm install 24`, or `npx -y node@24 /app/dist/main.js`.",
    );
    assert.ok(!nodeVersionProblem({ ...check, found: "25.1.0" })?.includes("\n"));
  });

  it("suggests the newest alternative's major", () => {
    const problem = nodeVersionProblem({ ...check, required: "^22.12 || ^24.21", found: "20.1.0" });
    assert.match(problem ?? "", /`nvm install 24`, or `npx -y node@24 \/app\/dist\/main.js`/);
  });
});
