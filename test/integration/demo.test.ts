/**
 * `npm run demo -- --once` works end to end: it starts its own control plane, local ECR endpoint and
 * controller, prints the pull secrets of every demo namespace, exits 0 and leaves nothing running.
 * (It does not use the runner's control plane; it only needs the cached binaries the runner ensured.)
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { isAlive } from "../env/processes.ts";

const DEMO = fileURLToPath(new URL("../env/demo.ts", import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runDemo(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    // The demo stops everything it started on SIGTERM.
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe("npm run demo -- --once", () => {
  it(
    "prints every demo namespace's pull secret, exits 0 and stops everything",
    { timeout: 600_000 },
    async () => {
      const run = await runDemo(["--once", "--timeout=120"], 540_000);
      const output = `--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;
      assert.equal(run.code, 0, output);

      const lines = run.stdout.split("\n");
      assert.match(
        lines.find((l) => l.startsWith("NAMESPACE")) ?? "",
        /^NAMESPACE\s+SECRET\s+TOKEN EXPIRES$/,
        output,
      );
      const rows = lines.filter((l) => l.startsWith("demo-team-"));
      assert.deepEqual(
        rows.map((l) => l.split(/\s+/).slice(0, 2).join(" ")),
        [
          "demo-team-a 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
          "demo-team-b 210987654321.dkr.ecr.us-east-1.amazonaws.com",
          "demo-team-c 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
          "demo-team-c 210987654321.dkr.ecr.us-east-1.amazonaws.com",
        ],
        output,
      );
      for (const row of rows)
        assert.match(row, /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(in \d+\.\d h\)$/, output);
      assert.match(run.stdout, /^metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/m, output);

      // Nothing outlives it: not the controller, not kube-apiserver.
      const controllerPid = Number(/controller running \(pid (\d+)\)/.exec(run.stderr)?.[1]);
      assert.ok(controllerPid > 0, output);
      assert.equal(isAlive(controllerPid), false, `controller pid ${controllerPid} still runs`);
      const server = /kube-apiserver \S+ at (https:\/\/127\.0\.0\.1:\d+)/.exec(run.stderr)?.[1];
      assert.ok(server, output);
      await assert.rejects(fetch(`${server}/readyz`, { signal: AbortSignal.timeout(5_000) }));
    },
  );
});
