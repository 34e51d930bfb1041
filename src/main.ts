#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { getHeapStatistics } from "node:v8";
import { CoordinationV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ConfigError, loadConfig, redactedConfig, type Config } from "./config/index.ts";
import { loadKubeConfig, StartupError } from "./config/kube-config.ts";
import { realClock } from "./clock.ts";
import { Controller } from "./controller.ts";
import { installationId } from "./domain/pull-secret.ts";
import { CredentialSources } from "./ecr/credential-source.ts";
import { DEFAULT_ECR_TIMEOUT_MS, EcrTokenProvider } from "./ecr/token-provider.ts";
import { shareConnections } from "./kube/shared-connections.ts";
import { LeaderElector, LeaseLock, PrometheusLeaderElectionMetrics } from "./leader/index.ts";
import { createLogger, serializeError } from "./log.ts";
import { startHttpServer } from "./metrics/http-server.ts";
import { ControllerMetrics } from "./metrics/metrics.ts";
import { runStatus } from "./status/command.ts";

/** `eatr status …` reports on the cluster instead of running the controller (src/status). */
const STATUS_COMMAND = "status";

/** Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration or no cluster to talk to. */
const EXIT_CONFIG = 2;

function packageVersion(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const version = packageVersion();
  if (process.argv[2] === STATUS_COMMAND) {
    return runStatus({
      argv: process.argv.slice(3),
      env: process.env,
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
      version,
    });
  }
  let config: Config;
  let kubeConfig: KubeConfig;
  try {
    const loaded = loadConfig({ argv: process.argv.slice(2), env: process.env, version });
    if (loaded.kind !== "run") {
      process.stdout.write(`${loaded.text}\n`);
      return 0;
    }
    config = loaded.config;
    kubeConfig = shareConnections(loadKubeConfig(config.kubeconfig));
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StartupError) {
      process.stderr.write(`eatr: ${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }

  const logger = createLogger(config.logLevel);
  const metrics = new ControllerMetrics();
  const controller = new Controller({
    kubeConfig,
    tokenProvider: new EcrTokenProvider({
      endpoint: config.ecrEndpoint,
      publicEndpoint: config.ecrPublicEndpoint,
      credentials: new CredentialSources({
        clock: realClock,
        sts: {
          endpoint: config.stsEndpoint,
          timeoutMs: DEFAULT_ECR_TIMEOUT_MS,
          webIdentityTokenFile: config.webIdentityTokenFile,
        },
        observer: {
          stsRequest: (registry, result) => {
            metrics.stsRequests.inc({ registry, result });
          },
        },
      }),
    }),
    logger,
    metrics,
    hostNamespace: config.hostNamespace,
    credentialsSecretPrefix: config.awsCredentialsSecretPrefix,
    registries: config.registries,
    installation: installationId(config.leaderElectionNamespace, config.leaderElectionId),
    renewalIntervalMs: config.authTokenRenewalIntervalMs,
    tokenSafetyMarginMs: config.tokenSafetyMarginMs,
    resyncIntervalMs: config.informersResyncIntervalMs,
    workers: config.workers,
    kubeApiQps: config.kubeApiQps,
    kubeApiBurst: config.kubeApiBurst,
    ...(config.manageServiceAccounts ? { serviceAccounts: config.serviceAccounts } : {}),
    restrictToDeclaredRegistries: config.restrictToDeclaredRegistries,
  });
  logger.info(
    {
      config: redactedConfig(config),
      identity: controller.identity,
      version,
      server: kubeConfig.getCurrentCluster()?.server,
      memory: memoryFacts(),
    },
    "eatr starting",
  );

  const elector = config.leaderElect
    ? leaderElector(config, kubeConfig, controller, logger, metrics)
    : undefined;

  let http;
  try {
    http = await startHttpServer({
      port: config.port,
      metrics: () => metrics.render(),
      healthz: () => {
        const own = controller.health();
        const leader = elector?.healthCheck(HEALTHZ_LEADER_TOLERANCE_MS);
        return leader === undefined
          ? own
          : { ok: own.ok && leader.ok, detail: `${own.detail}; ${leader.detail}` };
      },
      // An unreachable API server or a missing lease namespace fails /readyz, never /healthz: a restart
      // fixes neither (README, "When the API server cannot be reached").
      readyz: () => {
        const own = controller.readiness();
        const leader = elector?.readiness();
        return leader === undefined
          ? own
          : { ok: own.ok && leader.ok, detail: `${own.detail}; ${leader.detail}` };
      },
    });
  } catch (err) {
    logger.error({ err, port: config.port }, "cannot serve /metrics: is the port in use? (set -port)");
    return 1;
  }
  logger.info({ port: http.port }, "serving /metrics, /healthz and /readyz");

  const stopping = new AbortController();
  let signalled: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled !== undefined) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    signalled = signal;
    stopping.abort();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  controller.startInformers();
  let code = 0;
  if (elector) {
    // Every replica keeps its caches warm; only the leader runs workers. Losing the lease halts writes at
    // once and exits non-zero so Kubernetes restarts the pod; SIGTERM stops workers, then releases it.
    const outcome = await elector.run(stopping.signal);
    if (outcome === "lost") code = 1;
  } else {
    await startWorkersWhenSynced(controller, stopping.signal, logger);
    if (!stopping.signal.aborted) {
      await new Promise<void>((resolve) => {
        stopping.signal.addEventListener(
          "abort",
          () => {
            resolve();
          },
          { once: true },
        );
      });
    }
  }

  logger.info({ signal: signalled, gracePeriodMs: config.shutdownGracePeriodMs }, "shutting down");
  await stopController(controller, config, logger);
  await http.close();
  logger.info({ exitCode: code }, "stopped");
  return code;
}

/** Waits for the caches, then starts the workers; returns early (without workers) when signal aborts. */
async function startWorkersWhenSynced(
  controller: Controller,
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  try {
    await controller.waitForSync(signal);
  } catch {
    return; // stopped before the caches synced
  }
  logger.info("informer caches synced; starting workers");
  controller.startWorkers();
}

/** Stops the controller, warning when in-flight reconciles outlive the grace period (a second call is a no-op). */
async function stopController(controller: Controller, config: Config, logger: Logger): Promise<void> {
  if (!(await controller.stop(config.shutdownGracePeriodMs)))
    logger.warn(
      { gracePeriodMs: config.shutdownGracePeriodMs },
      "in-flight reconciles did not finish within the shutdown grace period",
    );
}

/** /healthz fails when the leader has not renewed for longer than the lease duration plus this. */
const HEALTHZ_LEADER_TOLERANCE_MS = 10_000;

function leaderElector(
  config: Config,
  kubeConfig: KubeConfig,
  controller: Controller,
  logger: Logger,
  metrics: ControllerMetrics,
): LeaderElector {
  const lease = {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    name: config.leaderElectionId,
    namespace: config.leaderElectionNamespace,
  };
  return new LeaderElector({
    lock: new LeaseLock({
      api: kubeConfig.makeApiClient(CoordinationV1Api),
      namespace: config.leaderElectionNamespace,
      name: config.leaderElectionId,
    }),
    identity: controller.identity,
    name: config.leaderElectionId,
    leaseDurationMs: config.leaderElectionLeaseDurationMs,
    renewDeadlineMs: config.leaderElectionRenewDeadlineMs,
    retryPeriodMs: config.leaderElectionRetryPeriodMs,
    metrics: new PrometheusLeaderElectionMetrics({ registry: metrics.registry }),
    logger,
    onStartedLeading: async (leadership) => {
      controller.events.record(lease, "Normal", "LeaderElection", `${controller.identity} became leader`);
      await startWorkersWhenSynced(controller, leadership, logger);
    },
    onStoppedLeading: async (reason) => {
      if (reason === "lost") {
        controller.haltWrites("leadership lost");
        controller.events.record(
          lease,
          "Warning",
          "LeaderElection",
          `${controller.identity} lost the lease; exiting`,
        );
        return;
      }
      // Graceful stop: finish in-flight work before the lease is released to a peer.
      controller.events.record(lease, "Normal", "LeaderElection", `${controller.identity} stopped leading`);
      await stopController(controller, config, logger);
    },
    onNewLeader: (identity) => {
      logger.info({ leader: identity, lease: `${lease.namespace}/${lease.name}` }, "new leader observed");
    },
  });
}

/** After main returns, calls still waiting on an unreachable API server may delay the exit this long at most. */
const EXIT_LINGER_MS = 1_000;

main().then(
  (code) => {
    process.exitCode = code;
    // Everything is stopped, but a lost lease usually means the API server is unreachable: calls still in
    // flight there (an Event, a list) would keep the process up until their own timeouts (10 s and more),
    // while it no longer leads. Give them a moment (a reachable server answers at once), then exit.
    setTimeout(() => process.exit(), EXIT_LINGER_MS).unref();
  },
  (err: unknown) => {
    process.stderr.write(`eatr: fatal: ${JSON.stringify(serializeError(err))}\n`);
    process.exitCode = 1;
  },
);

/**
 * The memory the process may use (the container's limit, when there is one) and the heap V8 sized from it:
 * Node derives its heap limits from the cgroup limit, so the pod's resources.limits.memory is the knob.
 */
function memoryFacts(): { limitMiB: number | null; heapLimitMiB: number } {
  const limit = process.constrainedMemory();
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  return {
    // 0, or a huge number, when there is no limit.
    limitMiB: limit > 0 && limit < 2 ** 50 ? mib(limit) : null,
    heapLimitMiB: mib(getHeapStatistics().heap_size_limit),
  };
}
