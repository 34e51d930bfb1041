import { existsSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";

/** No cluster can be reached with what we were given: printed as one line, exit code 2. */
export class StartupError extends Error {}

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/**
 * Loads the kubeconfig file at `path` (-config-file-path, EATR_KUBECONFIG or KUBECONFIG), or the in-cluster
 * configuration when `path` is ""; throws StartupError, one line saying what to fix, when neither works.
 * The controller and `eatr status` both use it, so they find the same cluster.
 */
export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  if (path !== "") {
    if (!existsSync(path)) {
      throw new StartupError(
        `kubeconfig ${path} does not exist (set by -config-file-path, EATR_KUBECONFIG or KUBECONFIG)`,
      );
    }
    try {
      kc.loadFromFile(path);
    } catch (err) {
      throw new StartupError(
        `kubeconfig ${path} cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (!kc.getCurrentCluster())
      throw new StartupError(`kubeconfig ${path} has no current context with a cluster`);
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
