/**
 * One bench environment: its own control plane (etcd + kube-apiserver), a local ECR endpoint with R
 * registries, the host namespace with their credential secrets, and helpers to create namespaces, start
 * controllers and take before/after snapshots of what a scenario costs.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinaries, startControlPlane, type ControlPlane } from "../../test/env/control-plane.ts";
import { startEcrServer, type EcrServer } from "../../test/env/ecr-server.ts";
import { startStsServer, type StsServer } from "../../test/env/sts-server.ts";
import type { MemoryLimit } from "./memory-limit.ts";
import { parseLabels } from "../../test/support/prometheus-text.ts";
import { Controller, cpuSecondsOf } from "./controller.ts";
import { forEachLimit, Kube } from "./kube.ts";
import { SecretTracker, type Registry } from "./tracker.ts";

export const HOST_NAMESPACE = "ci-cd";
export const CREDENTIALS_PREFIX = "eatr-aws-credentials";
/** Length of the passwords the local ECR endpoint mints for the bench (a real ECR token's size). */
export const ECR_PASSWORD_LENGTH = 2000;

/** Labels the bench puts on what it creates (namespaces and ceiling secrets), never read by eatr. */
export const BENCH_LABEL = "bench.eatr.io/run";

const REGIONS = [
  "eu-west-1",
  "us-east-1",
  "ap-southeast-2",
  "eu-central-1",
  "us-west-2",
  "ap-northeast-1",
  "sa-east-1",
  "ca-central-1",
];

export function makeRegistries(count: number): Registry[] {
  return Array.from({ length: count }, (_, i) => {
    const accountId = String(100_000_000_000 + 111 * (i + 1));
    const region = REGIONS[i % REGIONS.length] ?? "eu-west-1";
    return {
      host: `${accountId}.dkr.ecr.${region}.amazonaws.com`,
      accountId,
      region,
      accessKeyId: `AKIABENCH${String(i).padStart(11, "0")}`,
      secretAccessKey: `bench-secret-key-${String(i)}-${"x".repeat(20)}`,
    };
  });
}

export function nsName(prefix: string, i: number): string {
  return `${prefix}-${String(i).padStart(5, "0")}`;
}

/** Counters read before and after a scenario. */
export interface Snapshot {
  at: number;
  ecrCalls: number;
  apiRequests: Map<string, number>;
  apiServerCpu: number;
  etcdCpu: number;
  benchCpu: number;
  /** Busy CPU time of the whole machine (/proc/stat), seconds. */
  machineCpu: number;
  /** CPU time of the extra processes given to snapshot() (the controller). */
  extraCpu: number;
  /** apiserver_request_duration_seconds sum and count for POST/PUT/PATCH secrets and namespaces. */
  writeDurationSum: number;
  writeDurationCount: number;
}

export interface Costs {
  ecrCalls: number;
  /** apiserver_request_total deltas, by verb and by "VERB resource". */
  apiRequestsByVerb: Record<string, number>;
  apiRequestsByVerbResource: Record<string, number>;
  apiServerCpuSeconds: number;
  etcdCpuSeconds: number;
  benchCpuSeconds: number;
  /** CPU used by everything else on the machine meanwhile (other engineers' work): noise indicator. */
  otherCpuSeconds: number;
  /** Mean server-side duration of the write requests (POST/PUT/PATCH) in the window, ms. */
  apiServerWriteLatencyMs: number;
}

export interface EnvOptions {
  registries: number;
  mainJs: string;
  logsDir: string;
  log: (line: string) => void;
  /** Environment of every controller on top of the bench's (the image's ENV). */
  controllerEnv?: Readonly<Record<string, string>>;
  /** Every controller runs in a memory cgroup of its own with this limit. */
  memoryLimit?: MemoryLimit | undefined;
  /**
   * When set, a local STS endpoint runs beside the ECR endpoint and each registry's credential secret
   * assumes a role of the registry's account (aws_role_arn, aws_role_duration_seconds) on top of its
   * static keys; controllers get -sts-endpoint.
   */
  sts?: { durationSeconds: number } | undefined;
  /**
   * Controllers run with -restrict-to-declared-registries and a config file (in logsDir) declaring every
   * registry (source keys: the credential secrets still hold the keys).
   */
  restricted?: boolean;
}

/** The role each registry's credential secret assumes when the env runs with an STS endpoint. */
export function benchRoleArn(r: Registry): string {
  return `arn:aws:iam::${r.accountId}:role/eatr-bench`;
}

export class Env {
  readonly registries: Registry[];
  readonly tracker: SecretTracker;
  private readonly controllers = new Set<Controller>();
  private controllerCount = 0;

  readonly cp: ControlPlane;
  readonly kube: Kube;
  readonly ecr: EcrServer;
  /** The local STS endpoint (only with EnvOptions.sts). */
  readonly sts: StsServer | undefined;
  private readonly o: EnvOptions;

  private constructor(
    cp: ControlPlane,
    kube: Kube,
    ecr: EcrServer,
    sts: StsServer | undefined,
    registries: Registry[],
    o: EnvOptions,
  ) {
    this.cp = cp;
    this.kube = kube;
    this.ecr = ecr;
    this.sts = sts;
    this.o = o;
    this.registries = registries;
    this.tracker = new SecretTracker(kube, ecr, registries);
  }

  /** Starts a control plane and an ECR endpoint; on failure stops whatever was started. */
  static async start(o: EnvOptions): Promise<Env> {
    mkdirSync(o.logsDir, { recursive: true });
    const binaries = await ensureBinaries({ helm: false, log: o.log });
    const cp = await startControlPlane({ binaries, log: o.log });
    let ecr: EcrServer | undefined;
    let sts: StsServer | undefined;
    let kube: Kube | undefined;
    try {
      const registries = makeRegistries(o.registries);
      ecr = await startEcrServer({
        keys: registries.map((r) => ({
          accessKeyId: r.accessKeyId,
          secretAccessKey: r.secretAccessKey,
          accountId: r.accountId,
        })),
        // Real ECR passwords are about 2,000 characters: pull secrets of real size (about 3.7 KiB of data).
        passwordLength: ECR_PASSWORD_LENGTH,
      });
      if (o.sts)
        sts = await startStsServer({
          ecr,
          callers: registries.map((r) => ({
            accessKeyId: r.accessKeyId,
            secretAccessKey: r.secretAccessKey,
            accountId: r.accountId,
          })),
          roles: registries.map((r) => ({ arn: benchRoleArn(r), trustedCallers: [r.accessKeyId] })),
        });
      kube = new Kube(cp);
      const env = new Env(cp, kube, ecr, sts, registries, o);
      await env.createHostNamespace();
      await env.tracker.start();
      return env;
    } catch (err) {
      kube?.close();
      await sts?.close();
      await ecr?.close();
      await cp.stop();
      throw err;
    }
  }

  private async createHostNamespace(): Promise<void> {
    await this.kube.json("POST", "/api/v1/namespaces", { metadata: { name: HOST_NAMESPACE } });
    const sts = this.o.sts;
    for (const r of this.registries) {
      await this.kube.json("POST", `/api/v1/namespaces/${HOST_NAMESPACE}/secrets`, {
        metadata: { name: `${CREDENTIALS_PREFIX}-${r.host}` },
        type: "Opaque",
        stringData: {
          aws_access_key_id: r.accessKeyId,
          aws_secret_access_key: r.secretAccessKey,
          ...(sts === undefined
            ? {}
            : { aws_role_arn: benchRoleArn(r), aws_role_duration_seconds: String(sts.durationSeconds) }),
        },
      });
    }
  }

  /** Labels asking for every registry. */
  registryLabels(): Record<string, string> {
    return Object.fromEntries(this.registries.map((r) => [r.host, "true"]));
  }

  /** Creates `count` namespaces `<prefix>-NNNNN` asking for every registry; returns their names. */
  async createNamespaces(prefix: string, count: number, concurrency: number): Promise<string[]> {
    const names = Array.from({ length: count }, (_, i) => nsName(prefix, i));
    const labels = { ...this.registryLabels(), [BENCH_LABEL]: prefix };
    await forEachLimit(names, concurrency, async (name) => {
      await this.kube.json("POST", "/api/v1/namespaces", { metadata: { name, labels } }, { allow: [409] });
    });
    return names;
  }

  private serviceAccount: Promise<{ kubeconfig: string; kube: Kube }> | undefined;

  /**
   * A ServiceAccount (`eatr-bench` in the host namespace, bound to cluster-admin) and a kubeconfig and client
   * with its token: the API server classifies its requests as a pod's (FlowSchema service-accounts, priority
   * level workload-low), where admin's client certificate (system:masters) is exempt from API Priority and
   * Fairness and can never be answered 429. Created once per environment.
   */
  serviceAccountClient(): Promise<{ kubeconfig: string; kube: Kube }> {
    this.serviceAccount ??= (async () => {
      const name = "eatr-bench";
      await this.kube.json(
        "POST",
        `/api/v1/namespaces/${HOST_NAMESPACE}/serviceaccounts`,
        { metadata: { name } },
        { allow: [409] },
      );
      await this.kube.json(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
          metadata: { name },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
          subjects: [{ kind: "ServiceAccount", name, namespace: HOST_NAMESPACE }],
        },
        { allow: [409] },
      );
      const answer = await this.kube.json<{ status?: { token?: string } }>(
        "POST",
        `/api/v1/namespaces/${HOST_NAMESPACE}/serviceaccounts/${name}/token`,
        { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 86_400 } },
      );
      const token = answer?.status?.token;
      if (token === undefined)
        throw new Error("TokenRequest for the bench's ServiceAccount returned no token");
      return {
        kubeconfig: await this.cp.kubeconfigForToken(token, name),
        kube: new Kube(this.cp, 64, token),
      };
    })();
    return this.serviceAccount;
  }

  startController(
    name: string,
    args: readonly string[],
    nodeArgs: readonly string[] = [],
    kubeconfig: string = this.cp.kubeconfigPath,
  ): Controller {
    this.controllerCount++;
    const controller = new Controller({
      mainJs: this.o.mainJs,
      kubeconfig,
      ecrEndpoint: this.ecr.endpoint,
      hostNamespace: HOST_NAMESPACE,
      args: [
        ...args,
        ...(this.sts === undefined ? [] : ["-sts-endpoint", this.sts.endpoint]),
        ...(this.o.restricted === true
          ? ["-config", this.restrictedConfig(), "-restrict-to-declared-registries"]
          : []),
      ],
      nodeArgs,
      ...(this.o.controllerEnv === undefined ? {} : { env: this.o.controllerEnv }),
      memoryLimit: this.o.memoryLimit,
      logFile: join(this.o.logsDir, `${String(this.controllerCount).padStart(2, "0")}-${name}.log`),
    });
    this.controllers.add(controller);
    void controller.exited.then(() => this.controllers.delete(controller));
    return controller;
  }

  /** The config file of --restricted controllers: every registry declared. Written once. */
  private restrictedConfig(): string {
    const file = join(this.o.logsDir, "restricted-config.json");
    const registries = this.registries.map((r) => ({ host: r.host, source: "keys" }));
    writeFileSync(file, JSON.stringify({ registries }));
    return file;
  }

  /** Counters now; `pids` are extra processes (the controller) whose CPU counts as ours. */
  async snapshot(pids: readonly number[] = []): Promise<Snapshot> {
    const text = await this.kube.metricsText();
    let writeDurationSum = 0;
    let writeDurationCount = 0;
    for (const line of text.split("\n")) {
      const sum = line.startsWith("apiserver_request_duration_seconds_sum{");
      if (!sum && !line.startsWith("apiserver_request_duration_seconds_count{")) continue;
      const close = line.lastIndexOf("}");
      const labels = parseLabels(line.slice(line.indexOf("{") + 1, close));
      if (!["POST", "PUT", "PATCH"].includes(labels.verb ?? "")) continue;
      if (labels.resource !== "secrets" && labels.resource !== "namespaces") continue;
      const value = Number(
        line
          .slice(close + 1)
          .trim()
          .split(" ")[0],
      );
      if (sum) writeDurationSum += value;
      else writeDurationCount += value;
    }
    const apiRequests = new Map<string, number>();
    for (const line of text.split("\n")) {
      if (!line.startsWith("apiserver_request_total{")) continue;
      const close = line.lastIndexOf("}");
      const labels = parseLabels(line.slice("apiserver_request_total{".length, close));
      if (!labels.resource) continue; // non-resource URLs (/metrics, /readyz, ...)
      const key = `${labels.verb ?? "?"} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ""}`;
      apiRequests.set(
        key,
        (apiRequests.get(key) ?? 0) +
          Number(
            line
              .slice(close + 1)
              .trim()
              .split(" ")[0],
          ),
      );
    }
    const usage = process.cpuUsage();
    return {
      at: performance.now(),
      ecrCalls: this.ecr.totalCalls(),
      apiRequests,
      apiServerCpu: cpuSecondsOf(this.kube.apiServerPid),
      etcdCpu: cpuSecondsOf(this.kube.etcdPid),
      benchCpu: (usage.user + usage.system) / 1e6,
      machineCpu: machineBusySeconds(),
      extraCpu: pids.reduce((acc, pid) => acc + cpuSecondsOf(pid), 0),
      writeDurationSum,
      writeDurationCount,
    };
  }

  static costs(a: Snapshot, b: Snapshot): Costs {
    const byVerb: Record<string, number> = {};
    const byVerbResource: Record<string, number> = {};
    for (const [key, after] of b.apiRequests) {
      const delta = after - (a.apiRequests.get(key) ?? 0);
      if (delta <= 0) continue;
      byVerbResource[key] = delta;
      const verb = key.split(" ")[0] ?? "?";
      byVerb[verb] = (byVerb[verb] ?? 0) + delta;
    }
    return {
      ecrCalls: b.ecrCalls - a.ecrCalls,
      apiRequestsByVerb: byVerb,
      apiRequestsByVerbResource: Object.fromEntries(
        Object.entries(byVerbResource).sort(([, x], [, y]) => y - x),
      ),
      apiServerCpuSeconds: round(b.apiServerCpu - a.apiServerCpu, 2),
      etcdCpuSeconds: round(b.etcdCpu - a.etcdCpu, 2),
      benchCpuSeconds: round(b.benchCpu - a.benchCpu, 2),
      otherCpuSeconds: round(
        b.machineCpu -
          a.machineCpu -
          (b.apiServerCpu - a.apiServerCpu) -
          (b.etcdCpu - a.etcdCpu) -
          (b.benchCpu - a.benchCpu) -
          (b.extraCpu - a.extraCpu),
        2,
      ),
      apiServerWriteLatencyMs:
        b.writeDurationCount > a.writeDurationCount
          ? round(
              (1000 * (b.writeDurationSum - a.writeDurationSum)) /
                (b.writeDurationCount - a.writeDurationCount),
              2,
            )
          : NaN,
    };
  }

  /** Stops every controller, the tracker, the ECR endpoint and the control plane. */
  async stop(): Promise<void> {
    for (const c of [...this.controllers]) await c.stop().catch(() => undefined);
    this.tracker.stop();
    this.kube.close();
    await this.sts?.close().catch(() => undefined);
    await this.ecr.close().catch(() => undefined);
    await this.cp.stop();
  }
}

/** Busy CPU seconds of the whole machine since boot: /proc/stat "cpu" minus idle and iowait. */
function machineBusySeconds(): number {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return busy / 100;
  } catch {
    return 0;
  }
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
