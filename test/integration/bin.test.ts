/**
 * The built entry (dist/main.js, from src/bin.ts) on the wrong Node.js: a real older Node (the machine's
 * system Node 20; CI runs on the same machine kind) exits 2 with one line naming the needed and the found
 * version, before the bundle (dist/eatr.js) loads. On the right Node (24, from the `node` dev
 * dependency) the same file runs eatr, also with the V8 flags the image's ENTRYPOINT passes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { describe, it } from "node:test";
import { satisfiesNodeRange } from "../../src/node-version.ts";
import { MAIN_JS } from "./support/harness.ts";

const PACKAGE = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  engines: { node: string };
};
const REQUIRED = PACKAGE.engines.node;

/** Node binaries on this machine that do not satisfy engines.node (EATR_TEST_OLD_NODE first, if set). */
function oldNodes(): { path: string; version: string }[] {
  const candidates = [
    process.env.EATR_TEST_OLD_NODE,
    "/usr/bin/node",
    "/usr/local/bin/node",
    ...(process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "node")),
  ].filter((p): p is string => p !== undefined && p !== "" && existsSync(p));
  const seen = new Set<string>();
  const found: { path: string; version: string }[] = [];
  for (const candidate of candidates) {
    const path = realpathSync(candidate);
    if (seen.has(path)) continue;
    seen.add(path);
    const version = spawnSync(path, ["--version"], { encoding: "utf8" }).stdout.trim();
    if (/^v\d+\.\d+\.\d+/.test(version) && !satisfiesNodeRange(version, REQUIRED)) {
      found.push({ path, version });
    }
  }
  return found;
}

function run(node: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(node, args, { encoding: "utf8", timeout: 30_000, env: { PATH: dirname(node) } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("dist/main.js checks the Node.js version before loading eatr", () => {
  it("on an older Node: exit 2, one line naming the needed and the found version, no bundle source", () => {
    const olds = oldNodes();
    assert.ok(
      olds.length > 0,
      `no Node.js outside ${REQUIRED} found (looked at /usr/bin/node, /usr/local/bin/node and PATH); ` +
        "the machine kind CI runs on has Node 20 at /usr/bin/node, or set EATR_TEST_OLD_NODE",
    );
    for (const old of olds) {
      for (const args of [["--help"], ["-port", "0"], []]) {
        const result = run(old.path, [MAIN_JS, ...args]);
        const where = `${old.path} (${old.version}) ${["dist/main.js", ...args].join(" ")}`;
        assert.equal(result.status, 2, `${where}: exit code\n${result.stderr}`);
        assert.equal(result.stdout, "", `${where}: nothing on stdout`);
        const lines = result.stderr.split("\n");
        assert.equal(lines.length, 2, `${where}: one line on stderr:\n${result.stderr}`);
        assert.equal(lines[1], "", `${where}: the line ends with a newline`);
        const line = lines[0] ?? "";
        assert.ok(line.startsWith("eatr: needs Node.js "), line);
        assert.ok(line.includes(REQUIRED), `${where}: names what package.json needs (${REQUIRED}): ${line}`);
        assert.ok(line.includes(old.version), `${where}: names the version found (${old.version}): ${line}`);
        assert.match(line, /container image/, "says how to get the right Node");
        assert.match(line, /npx -y node@24 /, "says how to get the right Node");
        // What the bundle printed when it crashed while loading: its minified source and a TypeError.
        assert.ok(line.length < 400, `${where}: a short line (${line.length} characters)`);
        assert.doesNotMatch(result.stderr, /TypeError|file:\/\/|\n\s+at |eatr\.js/, where);
      }
      console.log(`${old.path} ${old.version}: exit 2 with one line`);
    }
  });

  it("on Node 24: the same file runs eatr, also with the image's V8 flags", () => {
    const node = process.execPath;
    assert.ok(satisfiesNodeRange(process.versions.node, REQUIRED), `the tests run on ${REQUIRED}`);
    const version = run(node, [MAIN_JS, "--version"]);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^eatr \d+\.\d+\.\d+/);
    const help = run(node, [
      "--max-old-space-size-percentage=50",
      "--max-semi-space-size=4",
      MAIN_JS,
      "--help",
    ]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: eatr/m);
  });
});
