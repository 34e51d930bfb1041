/**
 * The soak's short profile in `npm test` (script test:soak): a fixed seed, about two minutes of combined
 * faults against three replicas of dist/main.js (or EATR_TEST_MAIN_JS) on a control plane of its own,
 * then the six invariants. The run is a child process (`node test/soak/run.ts --profile short`) that
 * starts and stops everything itself; its report is printed here. No timing is asserted beyond the
 * convergence bound the report prints.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";

const RUN = fileURLToPath(new URL("./run.ts", import.meta.url));

it("the short soak profile holds all six invariants", async (t) => {
  const out = mkdtempSync(join(tmpdir(), "eatr-soak-short-"));
  const child = spawn(process.execPath, [RUN, "--profile", "short", "--out", out], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  // A cancelled test (timeout, Ctrl-C) stops the soak, which stops everything it started.
  t.signal.addEventListener("abort", () => child.kill("SIGTERM"), { once: true });
  const stdout: string[] = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout.push(chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => process.stderr.write(chunk));
  const code = await new Promise<number>((resolve) => {
    child.once("exit", (c, signal) => {
      resolve(c ?? (signal === null ? 1 : 128));
    });
  });
  const report = stdout.join("");
  console.log(report);
  assert.equal(code, 0, `the soak failed (exit ${String(code)}); its report and history are in ${out}`);
  assert.match(report, /all six invariants hold/);
  rmSync(out, { recursive: true, force: true });
});
