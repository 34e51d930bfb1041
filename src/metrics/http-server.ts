import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { prometheusContentType } from "prom-client";

/** A health check: ok, plus a one-line reason shown in the response body. */
export interface Check {
  (): { ok: boolean; detail: string };
}

export interface HttpServerOptions {
  readonly port: number;
  readonly host?: string;
  /** The /metrics body in Prometheus text format, in chunks written as they come. */
  readonly metrics: () => Promise<Iterable<string>>;
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
      options.metrics().then(
        (chunks) => {
          res.writeHead(200, { "Content-Type": prometheusContentType });
          // One chunk at a time, waiting for the socket to drain: a scrape never holds the whole text.
          const it = chunks[Symbol.iterator]();
          const pump = (): void => {
            for (;;) {
              if (res.destroyed) return;
              const next = it.next();
              if (next.done === true) {
                res.end();
                return;
              }
              if (!res.write(next.value)) {
                res.once("drain", pump);
                return;
              }
            }
          };
          pump();
        },
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
