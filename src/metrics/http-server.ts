import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** A health check: ok, plus a one-line reason shown in the response body. */
export interface Check {
  (): { ok: boolean; detail: string };
}

export interface HttpServerOptions {
  readonly port: number;
  readonly host?: string;
  readonly registry: Registry;
  /** /healthz: the process and its informers are alive. */
  readonly healthz: Check;
  /** /readyz: every informer has synced. */
  readonly readyz: Check;
}

export interface RunningHttpServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves /metrics, /healthz and /readyz. Resolves once listening; rejects when the port cannot be bound. */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { "Content-Type": options.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(`metrics collection failed: ${String(err)}\n`),
      );
      return;
    }
    const check = path === "/healthz" ? options.healthz : path === "/readyz" ? options.readyz : undefined;
    if (!check) {
      res
        .writeHead(404, { "Content-Type": "text/plain" })
        .end("not found: try /metrics, /healthz or /readyz\n");
      return;
    }
    const { ok, detail } = check();
    res
      .writeHead(ok ? 200 : 503, { "Content-Type": "text/plain" })
      .end(`${ok ? "ok" : "not ok"}: ${detail}\n`);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
