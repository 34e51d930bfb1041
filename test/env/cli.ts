/**
 * The test environment on the command line (npm run testenv -- <command>):
 *
 *   ensure [--no-helm]  build (or find) kube-apiserver, etcd, kubectl and helm; print where they are
 *   bin                 print the folder holding kube-apiserver, etcd, kubectl and helm (ensures first)
 *   start               start etcd + kube-apiserver detached; prints `export KUBECONFIG=…`
 *                       (eval "$(npm run -s testenv -- start)" sets it in your shell)
 *   status              print the running control plane started by `start` from this checkout, if any
 *   stop                stop the control plane started by `start` from this checkout, remove its temp dirs
 *
 * `start`, `status` and `stop` keep their state per checkout (defaultStateFile()): another checkout's
 * `stop`, or its cleanup of a dead control plane, never touches this one's.
 *
 * Progress and diagnostics go to stderr; stdout carries only what is meant to be captured.
 * Environment: see test/env/README.md (KUBEBUILDER_ASSETS, TEST_ASSET_*, EATR_CACHE_DIR).
 */
import { existsSync } from "node:fs";
import { mkdir, rm, symlink } from "node:fs/promises";
import { dirname } from "node:path";
import {
  binaryVersion,
  cacheDir,
  connectControlPlane,
  defaultStateFile,
  ensureBinaries,
  ETCD_VERSION,
  HELM_VERSION,
  KUBERNETES_VERSION,
  readControlPlaneState,
  startControlPlane,
  type ControlPlaneState,
} from "./control-plane.ts";
import { groupAlive, installCleanupHandlers } from "./processes.ts";

function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)}s`;
}

function usage(): never {
  err("usage: npm run testenv -- ensure [--no-helm] | bin | start | status | stop");
  process.exit(2);
}

/** The state of the control plane started by `start`, or undefined (cleaning up a stale one). */
async function runningState(): Promise<ControlPlaneState | undefined> {
  const file = defaultStateFile();
  if (!existsSync(file)) {
    await rm(file, { force: true }); // a dangling symlink: its temp dir is gone
    return undefined;
  }
  const state = readControlPlaneState(file);
  if (groupAlive(state.apiServer.pid) || groupAlive(state.etcd.pid)) return state;
  err(`testenv: the control plane recorded in ${file} is no longer running; cleaning up`);
  await connectControlPlane(file).stop();
  await rm(file, { force: true });
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  installCleanupHandlers({ fatal: true });
  const [command, ...rest] = argv;
  switch (command) {
    case "ensure":
    case "bin": {
      const started = performance.now();
      const wantHelm = !rest.includes("--no-helm");
      const binaries = await ensureBinaries({ helm: wantHelm });
      const version = await binaryVersion(binaries.kubeApiServer);
      if (command === "bin") {
        process.stdout.write(`${binaries.binDir}\n`);
        err(`kube-apiserver ${version}`);
        return 0;
      }
      err(
        `testenv: binaries ready in ${seconds(started)} (source: ${binaries.source}, cache: ${cacheDir()})`,
      );
      err(
        `  pinned: kubernetes ${KUBERNETES_VERSION}, etcd ${ETCD_VERSION}, helm ${HELM_VERSION}` +
          (binaries.source === "env"
            ? " (kube-apiserver and etcd taken from KUBEBUILDER_ASSETS/TEST_ASSET_*)"
            : ""),
      );
      process.stdout.write(
        [
          `kube-apiserver ${version}  ${binaries.kubeApiServer}`,
          `etcd            ${binaries.etcd}`,
          `kubectl         ${binaries.kubectl ?? "(none)"}`,
          `helm            ${binaries.helm ?? "(none)"}`,
          `bin dir         ${binaries.binDir}`,
          "",
        ].join("\n"),
      );
      return 0;
    }
    case "start": {
      const existing = await runningState();
      if (existing) {
        err(`testenv: a control plane is already running at ${existing.server} (${existing.dir})`);
        err("testenv: run `npm run testenv -- stop` first; its settings are:");
        process.stdout.write(`export KUBECONFIG=${existing.kubeconfigPath}\n`);
        return 1;
      }
      const started = performance.now();
      const binaries = await ensureBinaries();
      const cp = await startControlPlane({ binaries });
      const state = await cp.detach();
      const file = defaultStateFile();
      await mkdir(dirname(file), { recursive: true });
      await rm(file, { force: true });
      await symlink(cp.stateFile, file);
      err(
        `testenv: kube-apiserver ${cp.version} at ${cp.server} (etcd ${cp.etcdUrl}) ready in ${seconds(started)}`,
      );
      err(`testenv: pids kube-apiserver ${state.apiServer.pid}, etcd ${state.etcd.pid}; state ${file}`);
      err(`testenv: logs in ${cp.dir}; stop with: npm run testenv -- stop`);
      process.stdout.write(
        `export KUBECONFIG=${cp.kubeconfigPath}\nexport PATH=${binaries.binDir}:$PATH\n# kube-apiserver ${cp.version} at ${cp.server}\n`,
      );
      return 0;
    }
    case "status": {
      const state = await runningState();
      if (!state) {
        err("testenv: no control plane started by `testenv start` is running");
        return 1;
      }
      process.stdout.write(
        `kube-apiserver ${state.version} at ${state.server} (pid ${state.apiServer.pid})\n` +
          `etcd at ${state.etcdUrl} (pid ${state.etcd.pid})\nexport KUBECONFIG=${state.kubeconfigPath}\n`,
      );
      return 0;
    }
    case "stop": {
      const file = defaultStateFile();
      if (!existsSync(file)) {
        await rm(file, { force: true });
        err("testenv: no control plane started by `testenv start` is running");
        return 0;
      }
      const started = performance.now();
      const cp = connectControlPlane(file);
      const server = cp.server;
      await cp.stop();
      await rm(file, { force: true });
      err(`testenv: stopped the control plane at ${server} in ${seconds(started)}`);
      return 0;
    }
    default:
      return usage();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  err(`testenv: error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
