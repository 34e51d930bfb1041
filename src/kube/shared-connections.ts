import { createHash } from "node:crypto";
import type { Cluster, KubeConfig } from "@kubernetes/client-node";

/** The TLS material client-node hands to createDispatcher (a subset of https.AgentOptions). */
interface AgentOptionsLike {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  passphrase?: unknown;
  rejectUnauthorized?: unknown;
  servername?: unknown;
}

type CreateDispatcher = (cluster: Cluster | null, options: AgentOptionsLike) => unknown;

/**
 * Makes every API call of this KubeConfig reuse one connection pool per cluster and TLS identity.
 *
 * client-node 2.x builds a new undici Agent, hence a new TCP + TLS connection, for every request (its
 * private createDispatcher). For a controller that writes thousands of secrets that handshake dominates
 * write throughput and memory. Agents are cached here by everything that shapes the connection (server,
 * proxy, TLS settings, CA, client certificate and key), so rotated certificate material still gets a
 * fresh Agent; bearer tokens travel in headers and are re-read by client-node as before. A test checks
 * that calls share a connection, so a client-node upgrade that changes this internal is noticed.
 */
export function shareConnections(kubeConfig: KubeConfig): KubeConfig {
  const target = kubeConfig as unknown as { createDispatcher?: CreateDispatcher };
  const original = target.createDispatcher;
  if (typeof original !== "function") {
    throw new Error(
      "@kubernetes/client-node no longer has KubeConfig.createDispatcher: revisit src/kube/shared-connections.ts",
    );
  }
  const cache = new Map<string, unknown>();
  target.createDispatcher = (cluster, options) => {
    const hash = createHash("sha256");
    for (const part of [
      cluster?.server,
      cluster?.proxyUrl,
      cluster?.skipTLSVerify,
      cluster?.tlsServerName,
      options.ca,
      options.cert,
      options.key,
      options.pfx,
      options.passphrase,
      options.rejectUnauthorized,
      options.servername,
    ]) {
      hash.update(part === undefined ? "\u0000" : Buffer.isBuffer(part) ? part : JSON.stringify(part));
      hash.update("\u0001");
    }
    const key = hash.digest("hex");
    if (!cache.has(key)) cache.set(key, original.call(kubeConfig, cluster, options));
    return cache.get(key);
  };
  return kubeConfig;
}
