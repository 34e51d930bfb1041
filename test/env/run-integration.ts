/**
 * Integration test runner (npm run test:integration [-- <test files> | <node --test flags>]):
 * ensures the binaries (building them on first use, with progress), starts ONE real control plane
 * (etcd + kube-apiserver), runs the integration test files against it one file at a time, and stops
 * it on every exit path (normal end, SIGINT/SIGTERM/SIGHUP, uncaught error; a watchdog covers SIGKILL).
 * Exits with the test runner's exit code; fails when there are no test files.
 *
 * Arguments: *.ts paths choose the test files (default: every test/integration/*.test.ts); anything
 * else is passed to `node --test` (e.g. --test-name-pattern=RBAC).
 *
 * Environment given to the test files:
 *   KUBECONFIG                admin kubeconfig (client cert CN=admin, O=system:masters)
 *   EATR_TEST_KUBECONFIG      same as KUBECONFIG
 *   EATR_TEST_SERVER          https://127.0.0.1:<port> of kube-apiserver
 *   EATR_TEST_KUBE_VERSION    gitVersion reported by /version, e.g. v1.37.2
 *   EATR_TEST_ETCD_URL        http://127.0.0.1:<port> of etcd (its JSON gateway answers /v3/...)
 *   EATR_TEST_STATE_FILE      state.json of the control plane: connectControlPlane() reads it to
 *                             restartApiServer(), compactEtcd() and kubeconfigForToken() from a test
 *   EATR_TEST_DIR             the control plane's temp dir (certs, logs, kubeconfigs)
 *   EATR_TEST_BIN_DIR         folder holding kube-apiserver, etcd, kubectl and helm
 *   PATH                      EATR_TEST_BIN_DIR is put first, so kubectl/helm are the pinned ones
 *
 * Honoured from the caller: KUBEBUILDER_ASSETS, TEST_ASSET_KUBE_APISERVER, TEST_ASSET_ETCD,
 * TEST_ASSET_KUBECTL, TEST_ASSET_HELM, EATR_CACHE_DIR (see test/env/README.md).
 */
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBinaries, startControlPlane, type ControlPlane } from "./control-plane.ts";
import { installCleanupHandlers, own } from "./processes.ts";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const integrationDir = join(repoRoot, "test", "integration");

async function defaultTestFiles(): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(integrationDir, { recursive: true });
  } catch {
    return [];
  }
  return entries
    .filter((name) => name.endsWith(".test.ts"))
    .sort()
    .map((name) => relative(process.cwd(), join(integrationDir, name)));
}

function log(line: string): void {
  process.stderr.write(`test:integration: ${line}\n`);
}

async function runTests(files: string[], nodeArgs: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = ["--test", "--test-reporter=spec", "--test-concurrency=1", ...nodeArgs, ...files];
  log(`node ${args.join(" ")}`);
  const child = spawn(process.execPath, args, { stdio: "inherit", env });
  // If we are interrupted, the test processes go too (they share our terminal's process group for
  // Ctrl-C; a SIGTERM to us alone is forwarded here).
  const unown = own({
    pgids: () => [],
    paths: () => [],
    stop: () => {
      child.kill("SIGTERM");
      return Promise.resolve();
    },
  });
  try {
    return await new Promise<number>((resolveCode, reject) => {
      child.once("error", reject);
      child.once("exit", (code, signal) => {
        resolveCode(code ?? (signal ? 128 + 15 : 1));
      });
    });
  } finally {
    unown();
  }
}

async function main(argv: string[]): Promise<number> {
  installCleanupHandlers({ fatal: true });
  const explicitFiles = argv.filter((a) => !a.startsWith("-") && a.endsWith(".ts"));
  const nodeArgs = argv.filter((a) => !explicitFiles.includes(a));
  const files = explicitFiles.length > 0 ? explicitFiles : await defaultTestFiles();
  if (files.length === 0) {
    log(`no test files found (looked for ${relative(process.cwd(), integrationDir)}/**/*.test.ts)`);
    return 1;
  }
  log(`${files.length} test file(s): ${files.join(", ")}`);

  const started = performance.now();
  const binaries = await ensureBinaries({ log });
  let cp: ControlPlane | undefined;
  try {
    cp = await startControlPlane({ binaries, log });
    log(
      `kube-apiserver ${cp.version} at ${cp.server} (etcd ${cp.etcdUrl}), ready in ` +
        `${((performance.now() - started) / 1000).toFixed(1)}s; logs in ${cp.dir}`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: cp.kubeconfigPath,
      EATR_TEST_KUBECONFIG: cp.kubeconfigPath,
      EATR_TEST_SERVER: cp.server,
      EATR_TEST_KUBE_VERSION: cp.version,
      EATR_TEST_ETCD_URL: cp.etcdUrl,
      EATR_TEST_STATE_FILE: cp.stateFile,
      EATR_TEST_DIR: cp.dir,
      EATR_TEST_BIN_DIR: binaries.binDir,
      PATH: `${binaries.binDir}:${process.env.PATH ?? ""}`,
    };
    const code = await runTests(files, nodeArgs, env);
    log(`tests exited with code ${code}`);
    return code;
  } finally {
    if (cp) {
      const stopping = performance.now();
      await cp.stop();
      log(`control plane stopped in ${((performance.now() - stopping) / 1000).toFixed(1)}s`);
    }
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  log(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
}
