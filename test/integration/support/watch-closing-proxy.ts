/**
 * A plain-HTTP reverse proxy on 127.0.0.1 in front of the test kube-apiserver, playing a proxy or load
 * balancer that cuts long-lived connections: every request is forwarded (authenticated upstream with the
 * admin kubeconfig's client certificate), but a watch is answered and closed as soon as the API server
 * answers it: the client sees 200, no event, and the connection closing. `passWatches()` lets watches
 * through from then on. The proxy counts requests, watches and connections.
 *
 * eatr talks to it with `kubeconfig()`: http://127.0.0.1:<port>, no credentials. Close it with close(); it
 * goes with the test process anyway.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { request, type RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { startProxyServer, writeProxyKubeconfig } from "./proxy-kubeconfig.ts";

export interface WatchClosingProxy {
  readonly port: number;
  /** Requests received (lists, watches, writes). */
  requests(): number;
  /** Watch requests received. */
  watches(): number;
  /** TCP connections accepted. */
  connections(): number;
  /** From now on, watches are forwarded like any other request. */
  passWatches(): void;
  /** Writes a kubeconfig for this proxy into dir; returns its path. */
  kubeconfig(dir: string): Promise<string>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "host"]);

/** Starts the proxy in front of the API server of the admin kubeconfig at kubeconfigPath. */
export async function startWatchClosingProxy(kubeconfigPath: string): Promise<WatchClosingProxy> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error(`${kubeconfigPath} has no current cluster`);
  const upstream = new URL(server);
  const tls: RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);

  let requests = 0;
  let watches = 0;
  let connections = 0;
  let closeWatches = true;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    requests++;
    const url = new URL(req.url ?? "/", "http://proxy");
    const watch = ["true", "1"].includes(url.searchParams.get("watch") ?? "");
    if (watch) watches++;
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    }
    const out = request(
      {
        ...tls,
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent: false,
      },
      (answer) => {
        const answerHeaders: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(answer.headers)) {
          if (v !== undefined && !HOP_BY_HOP.has(k)) answerHeaders[k] = v;
        }
        res.writeHead(answer.statusCode ?? 502, answerHeaders);
        if (watch && closeWatches) {
          // Answered, then cut: no event reaches the client.
          answer.destroy();
          out.destroy();
          res.end(() => req.socket.destroy());
          return;
        }
        // Headers at once, as the API server sends them: a quiet watch has no body for a while.
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    out.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on("close", () => out.destroy());
    req.pipe(out);
  };

  const proxyServer = await startProxyServer(handle, () => {
    connections++;
  });
  const port = proxyServer.port;

  return {
    port,
    requests: () => requests,
    watches: () => watches,
    connections: () => connections,
    passWatches: () => {
      closeWatches = false;
    },
    kubeconfig: (dir) => writeProxyKubeconfig(dir, "watch-closing-proxy", port),
    close: () => proxyServer.close(),
  };
}
