/**
 * The built command line (dist/main.js) without a cluster: --help works anywhere, and with no kubeconfig
 * outside a pod it exits 2 with a one-line message instead of a stack trace.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { MAIN_JS } from "./support/harness.ts";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs dist/main.js with `args` in an environment with no kubeconfig and no in-cluster variables. */
function runWithoutCluster(args: string[]): Promise<Run> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => name !== "KUBECONFIG" && !name.startsWith("EATR_") && !name.startsWith("KUBERNETES_"),
    ),
  );
  const child = spawn(process.execPath, [MAIN_JS, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

void describe("eatr command line without a cluster", () => {
  void it("--help exits 0 and lists the original flags", async () => {
    const run = await runWithoutCluster(["--help"]);
    assert.equal(run.code, 0, run.stderr);
    for (const flag of ["-auth-token-renewal-interval", "-host-namespace", "-config-file-path", "-port"]) {
      assert.ok(run.stdout.includes(flag), `help mentions ${flag}`);
    }
  });

  void it("with no kubeconfig and not in a pod: exit 2 and one line on stderr", async () => {
    const run = await runWithoutCluster(["-port", "0"]);
    assert.equal(run.code, 2, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0] ?? "", /^eatr: .*kubeconfig/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
  });
});
