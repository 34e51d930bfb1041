#!/usr/bin/env node
import { existsSync, readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { ConfigError, loadConfig, redactedConfig, type Config } from "./config/index.ts";
import { Controller } from "./controller.ts";
import { EcrTokenProvider } from "./ecr/token-provider.ts";
import { createLogger, serializeError } from "./log.ts";
import { startHttpServer } from "./metrics/http-server.ts";
import { ControllerMetrics } from "./metrics/metrics.ts";

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

/** No cluster can be reached with what we were given: printed as one line, exit code 2. */
class StartupError extends Error {}

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** Loads the kubeconfig file, or in-cluster config; throws StartupError when neither is available. */
function kubeConfigFor(config: Config): KubeConfig {
  const kc = new KubeConfig();
  if (config.kubeconfig !== "") {
    if (!existsSync(config.kubeconfig)) {
      throw new StartupError(
        `kubeconfig ${config.kubeconfig} does not exist (set by -config-file-path, EATR_KUBECONFIG or KUBECONFIG)`,
      );
    }
    try {
      kc.loadFromFile(config.kubeconfig);
    } catch (err) {
      throw new StartupError(
        `kubeconfig ${config.kubeconfig} cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (!kc.getCurrentCluster())
      throw new StartupError(`kubeconfig ${config.kubeconfig} has no current context with a cluster`);
    return kc;
  }
  if (process.env.KUBERNETES_SERVICE_HOST === undefined || !existsSync(SERVICE_ACCOUNT_TOKEN)) {
    throw new StartupError(
      "no cluster to talk to: no kubeconfig was given (-config-file-path, EATR_KUBECONFIG or KUBECONFIG) and this is not running inside a Kubernetes pod",
    );
  }
  kc.loadFromCluster();
  return kc;
}

async function main(): Promise<number> {
  let config: Config;
  let kubeConfig: KubeConfig;
  try {
    const loaded = loadConfig({ argv: process.argv.slice(2), env: process.env, version: packageVersion() });
    if (loaded.kind !== "run") {
      process.stdout.write(`${loaded.text}\n`);
      return 0;
    }
    config = loaded.config;
    kubeConfig = kubeConfigFor(config);
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
    tokenProvider: new EcrTokenProvider({ endpoint: config.ecrEndpoint }),
    logger,
    metrics,
    hostNamespace: config.hostNamespace,
    credentialsSecretPrefix: config.awsCredentialsSecretPrefix,
    renewalIntervalMs: config.authTokenRenewalIntervalMs,
    tokenSafetyMarginMs: config.tokenSafetyMarginMs,
    resyncIntervalMs: config.informersResyncIntervalMs,
    workers: config.workers,
    kubeApiQps: config.kubeApiQps,
    kubeApiBurst: config.kubeApiBurst,
  });
  logger.info(
    {
      config: redactedConfig(config),
      identity: controller.identity,
      version: packageVersion(),
      server: kubeConfig.getCurrentCluster()?.server,
    },
    "eatr starting",
  );

  let http;
  try {
    http = await startHttpServer({
      port: config.port,
      registry: metrics.registry,
      healthz: () => controller.health(),
      readyz: () => controller.readiness(),
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
  try {
    await controller.waitForSync(stopping.signal);
    logger.info("informer caches synced; starting workers");
    controller.startWorkers();
  } catch {
    // stopped before sync: fall through to shutdown
  }
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

  logger.info({ signal: signalled, gracePeriodMs: config.shutdownGracePeriodMs }, "shutting down");
  const drained = await controller.stop(config.shutdownGracePeriodMs);
  if (!drained)
    logger.warn(
      { gracePeriodMs: config.shutdownGracePeriodMs },
      "in-flight reconciles did not finish within the shutdown grace period",
    );
  await http.close();
  logger.info("stopped");
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`eatr: fatal: ${JSON.stringify(serializeError(err))}\n`);
    process.exitCode = 1;
  },
);
