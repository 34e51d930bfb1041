/**
 * A plain-HTTP reverse proxy on 127.0.0.1 in front of the test kube-apiserver, playing API Priority and
 * Fairness under load: it answers the first `refuse` writes (POST, PUT, PATCH, DELETE) whose path matches
 * `paths` itself with HTTP 429, `Retry-After: <retryAfterSeconds>` and the Status body the API server sends,
 * and forwards everything else (authenticated upstream with the admin kubeconfig's client certificate).
 * It records every matching write: when it arrived and whether it was refused.
 *
 * eatr talks to it with `kubeconfig()`: http://127.0.0.1:<port>, no credentials.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { request, type RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { startProxyServer, writeProxyKubeconfig } from "./proxy-kubeconfig.ts";

export interface ProxiedWrite {
  readonly method: string;
  readonly path: string;
  /** performance.now() when the proxy received it. */
  readonly at: number;
  readonly refused: boolean;
}

export interface ThrottlingProxy {
  /** Matching writes received so far, in order. */
  writes(): readonly ProxiedWrite[];
  /** Writes a kubeconfig for this proxy into dir; returns its path. */
  kubeconfig(dir: string): Promise<string>;
  close(): Promise<void>;
}

export interface ThrottlingProxyOptions {
  /** Writes whose path (without the query) matches are counted and may be refused. */
  readonly paths: RegExp;
  /** How many of them are answered 429. */
  readonly refuse: number;
  readonly retryAfterSeconds: number;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "host"]);
const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export async function startThrottlingProxy(
  kubeconfigPath: string,
  options: ThrottlingProxyOptions,
): Promise<ThrottlingProxy> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error(`${kubeconfigPath} has no current cluster`);
  const upstream = new URL(server);
  const tls: RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const writes: ProxiedWrite[] = [];
  let refused = 0;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? "GET";
    const path = new URL(req.url ?? "/", "http://proxy").pathname;
    if (WRITES.has(method) && options.paths.test(path)) {
      const refuse = refused < options.refuse;
      writes.push({ method, path, at: performance.now(), refused: refuse });
      if (refuse) {
        refused++;
        req.resume();
        req.on("end", () => {
          res.writeHead(429, {
            "content-type": "application/json",
            "retry-after": String(options.retryAfterSeconds),
          });
          res.end(
            JSON.stringify({
              kind: "Status",
              apiVersion: "v1",
              status: "Failure",
              message: "Too many requests, please try again later.",
              reason: "TooManyRequests",
              details: { retryAfterSeconds: options.retryAfterSeconds },
              code: 429,
            }),
          );
        });
        return;
      }
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    const out = request(
      {
        ...tls,
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method,
        path: req.url,
        headers,
        agent: false,
      },
      (answer) => {
        const answerHeaders: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(answer.headers))
          if (v !== undefined && !HOP_BY_HOP.has(k)) answerHeaders[k] = v;
        res.writeHead(answer.statusCode ?? 502, answerHeaders);
        res.flushHeaders(); // a quiet watch has no body for a while
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

  const proxyServer = await startProxyServer(handle);
  const port = proxyServer.port;
  return {
    writes: () => writes,
    kubeconfig: (dir) => writeProxyKubeconfig(dir, "throttling-proxy", port),
    close: () => proxyServer.close(),
  };
}
