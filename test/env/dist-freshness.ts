/** Whether the built controller (dist/main.js) reflects the sources: used by the demo and the bench. */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** What `npm run build` reads: when any is newer than dist/main.js, the build is stale. */
const BUILD_INPUTS = ["src", "scripts/build.ts", "tsconfig.json", "tsconfig.build.json", "package-lock.json"];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** "missing" when dist/main.js does not exist, "stale" when a build input is newer, else "fresh". */
export function distFreshness(
  repoRoot: string,
  mainJs = join(repoRoot, "dist", "main.js"),
): "missing" | "stale" | "fresh" {
  let built: number;
  try {
    built = statSync(mainJs).mtimeMs;
  } catch {
    return "missing";
  }
  const newestInput = Math.max(...BUILD_INPUTS.map((p) => newestMtime(join(repoRoot, p))));
  return built >= newestInput ? "fresh" : "stale";
}
