/** Whether the built controller (dist/main.js, dist/eatr.js) reflects the sources: for the demo and bench. */
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * What `npm run build` reads: when any is newer than its output, the build is stale. package.json holds
 * engines.node, which the build writes into the entry file.
 */
const BUILD_INPUTS = [
  "src",
  "scripts/build.ts",
  "tsconfig.json",
  "tsconfig.build.json",
  "package.json",
  "package-lock.json",
];

/** The bundle the entry file loads, next to it (scripts/build.ts writes both). */
const BUNDLE = "eatr.js";

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/**
 * "missing" when the entry (dist/main.js) or the bundle beside it (dist/eatr.js) does not exist, "stale"
 * when a build input is newer than either, else "fresh".
 */
export function distFreshness(
  repoRoot: string,
  mainJs = join(repoRoot, "dist", "main.js"),
): "missing" | "stale" | "fresh" {
  let built: number;
  try {
    built = Math.min(statSync(mainJs).mtimeMs, statSync(join(dirname(mainJs), BUNDLE)).mtimeMs);
  } catch {
    return "missing";
  }
  const newestInput = Math.max(...BUILD_INPUTS.map((p) => newestMtime(join(repoRoot, p))));
  return built >= newestInput ? "fresh" : "stale";
}
