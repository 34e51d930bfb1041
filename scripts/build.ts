/**
 * `npm run build`: type-checks (tsc, no output), bundles src/main.ts with its production dependencies into
 * one ES module, dist/eatr.js (with dist/eatr.js.map), and compiles the entry file src/bin.ts to
 * dist/main.js: `node dist/main.js` checks the Node.js version against package.json's engines.node, then
 * loads dist/eatr.js. The entry is compiled for Node 16 (so that an old Node can parse it and say what it
 * needs); the bundle for Node 24.
 *
 * Why a bundle: loading @kubernetes/client-node's ~900 generated modules one by one costs about 90 MiB of
 * resident memory before the controller does anything (module source text, code and loader state); the
 * bundle keeps only what eatr reaches, in one file, and the image needs no node_modules at all.
 * Stack traces name the bundle's positions; run with NODE_OPTIONS=--enable-source-maps to map them to src/.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { parseNodeRange } from "../src/node-version.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
/** The bundle, loaded by the entry (src/bin.ts imports "./eatr.js" after the version check). */
const BUNDLE = "eatr.js";
/** The entry: package.json "bin" and "start", the Dockerfile's ENTRYPOINT. */
const ENTRY = "main.js";

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines?: { node?: string } };
const engines = pkg.engines?.node;
if (engines === undefined) throw new Error('package.json has no "engines"."node": the entry checks it');
parseNodeRange(engines); // throws when the entry could not read it

execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
rmSync(`${root}/dist`, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ["src/main.ts"],
  outfile: `dist/${BUNDLE}`,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  sourcemap: "external",
  // Minified, with function and class names kept (stack traces and logs name them; the source map maps
  // lines). Minifying also drops comments, which keeps the file pure ASCII: V8 holds a module's source in
  // memory for as long as it runs, and one non-ASCII character doubles it (UTF-16).
  minify: true,
  keepNames: true,
  charset: "ascii",
  legalComments: "linked",
  // ws (reached through client-node, never used by eatr) tries these optional native add-ons.
  external: ["bufferutil", "utf-8-validate"],
  // CommonJS dependencies call require() for Node built-ins; an ES module has none of its own.
  banner: {
    js: 'import { createRequire as __eatrCreateRequire } from "node:module"; const require = __eatrCreateRequire(import.meta.url);',
  },
  metafile: true,
  logLevel: "warning",
});

// The entry: no dependency, nothing minified (a few lines), syntax every Node with ES modules parses.
await build({
  absWorkingDir: root,
  entryPoints: ["src/bin.ts"],
  outfile: `dist/${ENTRY}`,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node16",
  charset: "ascii",
  define: { EATR_NODE_ENGINES: JSON.stringify(engines) },
  logLevel: "warning",
});
const entry = readFileSync(join(root, "dist", ENTRY), "utf8");
if (!entry.includes(`import(new URL("./${BUNDLE}"`) || /^\s*import\s/m.test(entry)) {
  throw new Error(`dist/${ENTRY} must load ./${BUNDLE} by import() only, after the version check`);
}

for (const file of [BUNDLE, ENTRY]) {
  const nonAscii = readFileSync(join(root, "dist", file)).findIndex((byte) => byte > 0x7f);
  if (nonAscii !== -1) {
    throw new Error(
      `dist/${file} has a non-ASCII byte at offset ${String(nonAscii)}: V8 would hold it as UTF-16`,
    );
  }
}

// The bundle carries third-party code: ship each package's license with it.
const packages = new Set<string>();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m?.[1] !== undefined) packages.add(m[1]);
}
const notices: string[] = [];
for (const dir of [...packages].sort()) {
  const pkg = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as {
    name: string;
    version: string;
    license?: string;
  };
  const file = readdirSync(join(root, dir)).find((f) => /^(licen[sc]e|copying)/i.test(f));
  const text = file === undefined ? "" : readFileSync(join(root, dir, file), "utf8");
  notices.push(`${pkg.name}@${pkg.version} (${pkg.license ?? "see text"})\n\n${text.trim()}\n`);
}
writeFileSync(
  join(root, "dist", "THIRD_PARTY_LICENSES.txt"),
  `Packages bundled into dist/${BUNDLE}, with their licenses.\n\n${notices.join(`\n${"-".repeat(80)}\n\n`)}`,
);
