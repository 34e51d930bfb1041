import { createHash } from "node:crypto";
import type { Cluster, KubeConfig } from "@kubernetes/client-node";
import { Agent } from "undici";

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
/** What client-node's createDispatcherOptions decides: a direct connection ("agent"), a proxy, or none. */
type CreateDispatcherOptions = (
  cluster: Cluster | null,
  options: AgentOptionsLike,
) => { type: string; connect?: Agent.Options["connect"] };

/**
 * Makes every API call of this KubeConfig reuse one connection pool per cluster and TLS identity.
 *
 * client-node 2.x builds a new undici Agent, hence a new TCP + TLS connection, for every request (its
 * private createDispatcher). For a controller that writes thousands of secrets that handshake dominates
 * write throughput and memory. Agents are cached here by everything that shapes the connection (server,
 * proxy, TLS settings, CA, client certificate and key), so rotated certificate material still gets a
 * fresh Agent; bearer tokens travel in headers and are re-read by client-node as before. A test checks
 * that calls share a connection, so a client-node upgrade that changes this internal is noticed.
 *
 * Direct connections speak HTTP/1.1 (undici would negotiate HTTP/2): on a 2-core machine, Node's HTTP/2
 * client and the API server's HTTP/2 server cost so much CPU per small request that 30,000 secret writes
 * took 30.5 s over HTTP/2 against 25.0 s over HTTP/1.1 (docs/bench.md). Each watch then holds its own
 * connection, as in client-go with HTTP/2 disabled. Proxied and SOCKS connections keep client-node's setup.
 */
export function shareConnections(kubeConfig: KubeConfig): KubeConfig {
  const target = kubeConfig as unknown as {
    createDispatcher?: CreateDispatcher;
    createDispatcherOptions?: CreateDispatcherOptions;
  };
  const original = target.createDispatcher;
  const decide = target.createDispatcherOptions;
  if (typeof original !== "function" || typeof decide !== "function") {
    throw new Error(
      "@kubernetes/client-node no longer has KubeConfig.createDispatcher(Options): revisit src/kube/shared-connections.ts",
    );
  }
  const create = (cluster: Cluster | null, options: AgentOptionsLike): unknown => {
    const how = decide.call(kubeConfig, cluster, options);
    return how.type === "agent" && how.connect !== undefined
      ? new Agent({ connect: how.connect, allowH2: false })
      : original.call(kubeConfig, cluster, options);
  };
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
    if (!cache.has(key)) cache.set(key, create(cluster, options));
    return cache.get(key);
  };
  return kubeConfig;
}
