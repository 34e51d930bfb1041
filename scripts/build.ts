/**
 * `npm run build`: type-checks (tsc, no output) and bundles src/main.ts with its production dependencies into
 * one ES module, dist/main.js (with dist/main.js.map).
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

const root = fileURLToPath(new URL("..", import.meta.url));

execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
rmSync(`${root}/dist`, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ["src/main.ts"],
  outfile: "dist/main.js",
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

const bundle = readFileSync(join(root, "dist", "main.js"));
const nonAscii = bundle.findIndex((byte) => byte > 0x7f);
if (nonAscii !== -1) {
  throw new Error(
    `dist/main.js has a non-ASCII byte at offset ${String(nonAscii)}: V8 would hold it as UTF-16`,
  );
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
  `Packages bundled into dist/main.js, with their licenses.\n\n${notices.join(`\n${"-".repeat(80)}\n\n`)}`,
);
