/**
 * `npm run testenv -- start | status | stop` from two checkouts that share one cache (a CI run beside a
 * test run): each checkout keeps its own state file, so each sees, stops and cleans up only the control
 * plane it started. The checkouts are two copies of test/env (with this repository's node_modules), run
 * with the real CLI and the cached binaries; the control planes are real etcd + kube-apiserver pairs.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { cp, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  cacheDir,
  connectControlPlane,
  defaultStateFile,
  type ControlPlaneState,
} from "../env/control-plane.ts";
import { groupAlive, signalGroup } from "../env/processes.ts";
import { REPO_ROOT } from "../chart/helm.ts";
import { waitFor } from "./support/harness.ts";

interface Cli {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a developer's shell: the shared cache, nothing from the integration runner. */
function shellEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("EATR_TEST_") && k !== "KUBECONFIG" && !/^npm_/i.test(k)) env[k] = v;
  }
  return { ...env, EATR_CACHE_DIR: cacheDir() };
}

/** A second checkout: test/env and package.json copied into `dir`, node_modules linked. */
async function makeCheckout(dir: string): Promise<string> {
  await cp(join(REPO_ROOT, "test", "env"), join(dir, "test", "env"), { recursive: true });
  await writeFile(join(dir, "package.json"), readFileSync(join(REPO_ROOT, "package.json")));
  await symlink(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

function testenv(checkout: string, command: string): Cli {
  const result = spawnSync(process.execPath, [join(checkout, "test", "env", "cli.ts"), command], {
    cwd: checkout,
    env: shellEnv(),
    encoding: "utf8",
    timeout: 300_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The control plane recorded in a checkout's state file, or undefined when there is none. */
function recorded(checkout: string): ControlPlaneState | undefined {
  const file = defaultStateFile(checkout);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(realpathSync(file), "utf8")) as ControlPlaneState;
}

function running(state: ControlPlaneState): boolean {
  return groupAlive(state.apiServer.pid) || groupAlive(state.etcd.pid);
}

function serves(state: ControlPlaneState): boolean {
  const kubectl = spawnSync(
    join(state.binDir, "kubectl"),
    ["--kubeconfig", state.kubeconfigPath, "get", "namespace", "default", "-o", "name"],
    { encoding: "utf8", timeout: 30_000 },
  );
  return kubectl.status === 0 && kubectl.stdout.trim() === "namespace/default";
}

describe("testenv start/status/stop: state per checkout", () => {
  let work: string;
  let a: string;
  let b: string;
  /** Every control plane the checkouts started, to stop whatever a failed test leaves running. */
  const started: ControlPlaneState[] = [];
  const killAll = (): void => {
    for (const s of started) for (const pid of s.pgids) signalGroup(pid, "SIGKILL");
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "eatr-testenv-checkouts-"));
    a = await makeCheckout(join(work, "checkout-a"));
    b = await makeCheckout(join(work, "checkout-b"));
    process.once("exit", killAll);
  });

  after(async () => {
    for (const checkout of [a, b]) {
      const file = defaultStateFile(checkout);
      if (existsSync(file)) await connectControlPlane(file).stop();
      await rm(file, { force: true });
    }
    killAll();
    process.removeListener("exit", killAll);
    await rm(work, { recursive: true, force: true });
  });

  it("two checkouts' state files differ, and the same checkout always gets the same one", () => {
    assert.notEqual(defaultStateFile(a), defaultStateFile(b));
    assert.equal(defaultStateFile(a), defaultStateFile(`${a}/`));
    assert.notEqual(defaultStateFile(a), defaultStateFile(REPO_ROOT), "not this checkout's either");
  });

  it("each checkout starts its own control plane; one's stop leaves the other's running", async () => {
    const startA = testenv(a, "start");
    assert.equal(startA.status, 0, startA.stderr);
    const stateA = recorded(a);
    assert.ok(stateA, `checkout a recorded its control plane in ${defaultStateFile(a)}`);
    started.push(stateA);
    assert.match(startA.stdout, new RegExp(`^export KUBECONFIG=${stateA.kubeconfigPath}$`, "m"));

    // Checkout b sees no control plane of its own, and starts one beside a's.
    const statusB = testenv(b, "status");
    assert.equal(statusB.status, 1, `b's status: ${statusB.stdout}${statusB.stderr}`);
    const startB = testenv(b, "start");
    assert.equal(startB.status, 0, `b's start: ${startB.stdout}${startB.stderr}`);
    const stateB = recorded(b);
    assert.ok(stateB, "checkout b recorded its control plane");
    started.push(stateB);
    assert.notEqual(stateB.server, stateA.server);
    assert.match(testenv(a, "status").stdout, new RegExp(`at ${stateA.server} `));
    assert.match(testenv(b, "status").stdout, new RegExp(`at ${stateB.server} `));

    // b's stop stops b's control plane only.
    const stopB = testenv(b, "stop");
    assert.equal(stopB.status, 0, stopB.stderr);
    assert.match(stopB.stderr, new RegExp(`stopped the control plane at ${stateB.server}`));
    assert.ok(!running(stateB), "b's control plane is stopped");
    assert.equal(recorded(b), undefined, "b's state file is gone");
    assert.ok(running(stateA), "a's control plane still runs");
    assert.ok(serves(stateA), "a's API server still answers");
    // A second stop from b (nothing of its own left) still leaves a alone.
    assert.equal(testenv(b, "stop").status, 0);
    assert.ok(running(stateA), "a's control plane still runs after b's second stop");
    assert.equal(testenv(a, "status").status, 0, "a's status still finds it");

    const stopA = testenv(a, "stop");
    assert.equal(stopA.status, 0, stopA.stderr);
    await waitFor(() => !running(stateA), { message: "a's control plane to stop" });
    assert.equal(recorded(a), undefined, "a's state file is gone");
  });
});
