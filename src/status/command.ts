/**
 * `eatr status`: reads the cluster's own objects with the user's kubeconfig, prints the report and returns
 * the exit code (0 healthy, 1 problems, 2 usage, configuration or connection errors). It starts no
 * controller, takes part in no leader election and never calls AWS.
 */
import { ConfigError } from "../config/index.ts";
import { loadKubeConfig, StartupError } from "../config/kube-config.ts";
import { installationId } from "../domain/pull-secret.ts";
import { RestClient } from "../kube/rest.ts";
import { shareConnections } from "../kube/shared-connections.ts";
import { readCluster, StatusReadError } from "./cluster-reader.ts";
import { parseStatusArgs } from "./options.ts";
import { renderJson, renderTable } from "./render.ts";
import { summarize } from "./summary.ts";

/** Bad flags or configuration, no kubeconfig, or the API server could not be read. */
export const EXIT_USAGE = 2;

/** Each API call of status gives up after this long. */
const CALL_TIMEOUT_MS = 10_000;

export interface StatusCommandOptions {
  /** The arguments after `status`. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly version?: string;
  /** Defaults to Date.now. */
  readonly now?: () => number;
}

/** Runs `eatr status` and resolves with its exit code; never throws for bad input or an unreachable cluster. */
export async function runStatus(options: StatusCommandOptions): Promise<number> {
  let args;
  try {
    args = parseStatusArgs(options);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    options.stderr(`eatr status: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (args.kind !== "run") {
    options.stdout(args.text.endsWith("\n") ? args.text : `${args.text}\n`);
    return 0;
  }
  const { config, output } = args;
  let client: RestClient;
  try {
    client = new RestClient(shareConnections(loadKubeConfig(config.kubeconfig)), {
      timeoutMs: CALL_TIMEOUT_MS,
    });
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    options.stderr(`eatr status: ${err.message}\n`);
    return EXIT_USAGE;
  }
  const lease = { namespace: config.leaderElectionNamespace, name: config.leaderElectionId };
  let snapshot;
  try {
    snapshot = await readCluster({
      client,
      hostNamespace: config.hostNamespace,
      credentialsSecretPrefix: config.awsCredentialsSecretPrefix,
      registries: config.registries,
      restrictToDeclaredRegistries: config.restrictToDeclaredRegistries,
      lease: config.leaderElect ? lease : null,
    });
  } catch (err) {
    if (!(err instanceof StatusReadError)) throw err;
    options.stderr(`eatr status: cannot read the cluster at ${client.server}: ${err.message}\n`);
    return EXIT_USAGE;
  }
  const report = summarize(
    snapshot,
    {
      hostNamespace: config.hostNamespace,
      credentialsSecretPrefix: config.awsCredentialsSecretPrefix,
      tokenSafetyMarginMs: config.tokenSafetyMarginMs,
      registries: config.registries,
      restrictToDeclaredRegistries: config.restrictToDeclaredRegistries,
      installation: installationId(lease.namespace, lease.name),
    },
    (options.now ?? Date.now)(),
  );
  const leaseName = `${lease.namespace}/${lease.name}`;
  options.stdout(output === "json" ? renderJson(report, leaseName) : renderTable(report, leaseName));
  return report.exitCode;
}
