/**
 * Deliberately broken builds of eatr, to prove the checker can fail: each patch in test/soak/broken/ is
 * applied to a temporary copy of the source, which is built there (scripts/build.ts, the checkout's
 * node_modules linked in); the soak then runs that dist/main.js and must report the patch's invariant.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { InvariantId } from "./checker.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const BROKEN: Readonly<Record<string, { invariant: InvariantId; what: string }>> = {
  "keeps-writing": {
    invariant: "writers",
    what: "a leader that loses the lease keeps its workers writing (no haltWrites, no exit)",
  },
  "ignores-label-removal": {
    invariant: "convergence",
    what: "a namespace that no longer asks for a registry keeps eatr's secret (the delete verdict is dropped)",
  },
  "overwrites-foreign": {
    invariant: "foreign",
    what: "someone else's secret named like the registry is taken over (the conflict verdict is dropped)",
  },
};

/** Builds the broken variant `name` in a temporary directory; returns its dist/main.js. */
export function buildBroken(name: string, log: (line: string) => void): string {
  if (!(name in BROKEN))
    throw new Error(`unknown broken build "${name}": one of ${Object.keys(BROKEN).join(", ")}`);
  const dir = mkdtempSync(join(tmpdir(), `eatr-soak-broken-${name}-`));
  for (const f of ["src", "scripts", "package.json", "tsconfig.json", "tsconfig.build.json"])
    cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  const patch = join(ROOT, "test", "soak", "broken", `${name}.patch`);
  log(`soak: building ${name} in ${dir} (${BROKEN[name]?.what ?? ""})`);
  execFileSync("git", ["apply", patch], { cwd: dir, stdio: "inherit" });
  execFileSync(process.execPath, ["scripts/build.ts"], { cwd: dir, stdio: "inherit" });
  const mainJs = join(dir, "dist", "main.js");
  if (!existsSync(mainJs)) throw new Error(`the broken build left no ${mainJs}`);
  return mainJs;
}
