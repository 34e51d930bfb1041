/**
 * The prometheus-operator CRDs (ServiceMonitor, PrometheusRule) for tests, taken from the operator's
 * published Go module (the same YAML its releases ship) and cached outside the repo:
 *
 *   const crds = await ensurePrometheusOperatorCrds();   // go mod download on first use, then cached
 *   kubectl apply --server-side -f crds.serviceMonitors -f crds.prometheusRules
 *
 * `EATR_PROMETHEUS_OPERATOR_CRDS` may point at a folder that already holds the two files (no Go needed).
 */
import { execFile } from "node:child_process";
import { access, copyFile, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { cacheDir } from "./control-plane.ts";

const execFileAsync = promisify(execFile);

/** The newest prometheus-operator the Go module proxy served here (checked 2026-11; v0.86+ answer 403). */
export const PROMETHEUS_OPERATOR_VERSION = "v0.85.0";
const MODULE = "github.com/prometheus-operator/prometheus-operator";
const CRD_DIR = "example/prometheus-operator-crd";
const FILES = {
  serviceMonitors: "monitoring.coreos.com_servicemonitors.yaml",
  prometheusRules: "monitoring.coreos.com_prometheusrules.yaml",
} as const;

export interface PrometheusOperatorCrds {
  /** Path of the ServiceMonitor CRD manifest. */
  serviceMonitors: string;
  /** Path of the PrometheusRule CRD manifest. */
  prometheusRules: string;
  version: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function paths(dir: string, version: string): PrometheusOperatorCrds {
  return {
    serviceMonitors: join(dir, FILES.serviceMonitors),
    prometheusRules: join(dir, FILES.prometheusRules),
    version,
  };
}

/**
 * Returns the paths of the ServiceMonitor and PrometheusRule CRD manifests: from
 * EATR_PROMETHEUS_OPERATOR_CRDS, from the cache (`<cache>/prometheus-operator-crds-<version>/`), or
 * downloaded with `go mod download` (seconds; the module zip lands in Go's module cache) and copied there.
 */
export async function ensurePrometheusOperatorCrds(
  version: string = PROMETHEUS_OPERATOR_VERSION,
): Promise<PrometheusOperatorCrds> {
  const explicit = process.env.EATR_PROMETHEUS_OPERATOR_CRDS;
  if (explicit) {
    const found = paths(explicit, "env");
    for (const file of [found.serviceMonitors, found.prometheusRules]) {
      if (!(await exists(file)))
        throw new Error(`EATR_PROMETHEUS_OPERATOR_CRDS=${explicit}: ${file} is missing`);
    }
    return found;
  }
  const dir = join(cacheDir(), `prometheus-operator-crds-${version}`);
  const cached = paths(dir, version);
  if (await exists(join(dir, ".complete"))) return cached;

  let moduleDir: string;
  try {
    const { stdout } = await execFileAsync("go", ["mod", "download", "-json", `${MODULE}@${version}`], {
      // Outside any module, so no go.mod is consulted or changed.
      cwd: cacheDir(),
      env: { ...process.env, GOFLAGS: "-mod=mod" },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 600_000,
    });
    const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
    if (info.Error || !info.Dir) throw new Error(info.Error ?? "no Dir in the output");
    moduleDir = info.Dir;
  } catch (err) {
    const e = err as { stdout?: string; message?: string };
    throw new Error(
      `go mod download ${MODULE}@${version} failed: ${e.stdout ?? ""}${e.message ?? String(err)} ` +
        "(needs Go and the module proxy, or EATR_PROMETHEUS_OPERATOR_CRDS pointing at the CRD files)",
      { cause: err },
    );
  }
  // Copy into a fresh folder, then rename it into place: racing test runs never see half a folder.
  await mkdir(cacheDir(), { recursive: true });
  const tmp = `${dir}.${process.pid}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  for (const file of Object.values(FILES)) await copyFile(join(moduleDir, CRD_DIR, file), join(tmp, file));
  await writeFile(join(tmp, ".complete"), `${MODULE}@${version}\n`);
  try {
    await rename(tmp, dir);
  } catch {
    await rm(tmp, { recursive: true, force: true }); // another run won the race
  }
  return cached;
}
