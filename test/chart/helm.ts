/**
 * Helpers for the chart's integration tests: run helm, kubectl and promtool (the pinned helm and kubectl
 * are first on PATH under `npm run test:integration`), render the chart, and pick objects out of a render.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after } from "node:test";
import { parseAllDocuments } from "yaml";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CHART_DIR = join(REPO_ROOT, "charts", "eatr");
/** The test/chart folder (values files, promtool unit tests). */
export const CHART_TEST_DIR = fileURLToPath(new URL(".", import.meta.url));
/** Every option enabled (serviceMonitor, prometheusRule, credentials, config file, 3 replicas). */
export const ALL_VALUES = join(CHART_TEST_DIR, "values-all.yaml");
export const MONITORING_API_VERSIONS = [
  "monitoring.coreos.com/v1/ServiceMonitor",
  "monitoring.coreos.com/v1/PrometheusRule",
];

// Helm keeps its config, cache and data in a throwaway folder, never in the user's home.
const helmHome = mkdtempSync(join(tmpdir(), "eatr-helm-home-"));
after(() => {
  rmSync(helmHome, { recursive: true, force: true });
});

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
  /** The command line, for messages. */
  command: string;
}

/** Runs a command to completion (no shell); never throws for a non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): RunResult {
  const result = spawnSync(command, args, {
    input: options.input,
    env: options.env ?? process.env,
    cwd: options.cwd,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: options.timeoutMs ?? 120_000,
  });
  if (result.error) throw new Error(`${command}: ${result.error.message}`, { cause: result.error });
  return {
    status: result.status ?? 128,
    stdout: result.stdout,
    stderr: result.stderr,
    command: [command, ...args].join(" "),
  };
}

/** Throws with the command's output unless it exited 0; returns stdout. */
export function check(result: RunResult): string {
  if (result.status !== 0) {
    throw new Error(`${result.command} exited ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

export function helm(args: readonly string[], options: { input?: string } = {}): RunResult {
  return run("helm", args, {
    ...options,
    env: {
      ...process.env,
      HELM_CONFIG_HOME: join(helmHome, "config"),
      HELM_CACHE_HOME: join(helmHome, "cache"),
      HELM_DATA_HOME: join(helmHome, "data"),
    },
  });
}

export function kubectl(args: readonly string[], options: { input?: string } = {}): RunResult {
  return run("kubectl", args, options);
}

/** The kube-apiserver version (from npm run test:integration), for `helm template --kube-version`. */
export function kubeVersion(): string {
  const version = process.env.EATR_TEST_KUBE_VERSION;
  if (!version)
    throw new Error("EATR_TEST_KUBE_VERSION is not set: run this through npm run test:integration");
  return version;
}

export interface RenderOptions {
  release?: string;
  namespace: string;
  valuesFiles?: string[];
  /** --set arguments, e.g. ["replicaCount=3"]. */
  set?: string[];
  /** --api-versions (capabilities the render should assume). */
  apiVersions?: string[];
}

/** `helm template` arguments for these options (release name default "eatr"). */
export function templateArgs(options: RenderOptions): string[] {
  return [
    "template",
    options.release ?? "eatr",
    CHART_DIR,
    "--namespace",
    options.namespace,
    "--kube-version",
    kubeVersion(),
    ...(options.valuesFiles ?? []).flatMap((f) => ["--values", f]),
    ...(options.set ?? []).flatMap((s) => ["--set", s]),
    ...(options.apiVersions ?? []).flatMap((v) => ["--api-versions", v]),
  ];
}

/** A rendered Kubernetes object (loosely typed: tests pick fields out of it). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** Renders the chart and returns the manifest text and its objects; throws when helm fails. */
export function render(options: RenderOptions): { text: string; objects: K8sObject[] } {
  const text = check(helm(templateArgs(options)));
  return { text, objects: parseManifests(text) };
}

/** Parses a multi-document YAML manifest, skipping empty documents. */
export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === "object" && typeof o.kind === "string");
}

/** The only object of a kind (and name, when given); throws when there is not exactly one. */
export function only(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  }
  return found[0] as K8sObject;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

interface PodSpecLike {
  containers: { name: string; env?: EnvVar[]; args?: string[] }[];
  volumes?: { name: string; configMap?: { name: string } }[];
}

/** The pod template spec of a rendered Deployment. */
export function podSpec(deployment: K8sObject): PodSpecLike {
  const spec = deployment.spec as { template: { spec: PodSpecLike } };
  return spec.template.spec;
}

/** The environment of the Deployment's eatr container. */
export function containerEnv(deployment: K8sObject): EnvVar[] {
  const container = podSpec(deployment).containers.find((c) => c.name === "eatr");
  if (!container) throw new Error("no eatr container");
  return container.env ?? [];
}

/**
 * The environment the eatr container would see in namespace `namespace`: values as given, and
 * `fieldRef: metadata.namespace` resolved (the only downward API field the chart uses).
 */
export function resolvedEnv(deployment: K8sObject, namespace: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of containerEnv(deployment)) {
    if (e.value !== undefined) out[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") out[e.name] = namespace;
    else throw new Error(`env ${e.name}: cannot resolve ${JSON.stringify(e.valueFrom)}`);
  }
  return out;
}

/** The env var names `eatr --help` documents (every EATR_* name eatr reads). */
export function documentedEnvNames(helpText: string): Set<string> {
  return new Set([...helpText.matchAll(/\benv (EATR_[A-Z0-9_]+)/g)].map((m) => m[1] ?? ""));
}
