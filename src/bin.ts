#!/usr/bin/env node
/**
 * eatr's entry file, built to dist/main.js (`node dist/main.js`, the package's "bin", the image's
 * ENTRYPOINT). It checks the Node.js version before anything else loads: on an unsupported Node the
 * bundle (dist/eatr.js) would crash while loading its dependencies, with pages of minified source.
 * Instead this prints one line (needed, found, how to get it) and exits 2.
 *
 * Static imports are hoisted and evaluated first, so the bundle is loaded with a dynamic import() only
 * after the check. scripts/build.ts compiles this file (and node-version.ts, inlined) for old Node
 * versions, so that they can parse it, and replaces EATR_NODE_ENGINES with package.json's engines.node.
 */
import { nodeVersionProblem } from "./node-version.ts";

/** package.json "engines"."node", inlined by scripts/build.ts. */
declare const EATR_NODE_ENGINES: string;

const problem = nodeVersionProblem({
  required: EATR_NODE_ENGINES,
  found: process.versions.node,
  execPath: process.execPath,
  script: process.argv[1],
});
if (problem === undefined) {
  // A failure while loading the bundle surfaces as Node reports any uncaught error (exit code 1).
  void import(new URL("./eatr.js", import.meta.url).href);
} else {
  process.stderr.write(`${problem}\n`);
  process.exitCode = 2;
}
