import { writeFile } from "node:fs/promises";
import { createServer, type RequestListener } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";

/**
 * Writes a kubeconfig (mode 0600) that sends eatr to a plain-HTTP test proxy on 127.0.0.1:port, as an
 * anonymous user (the proxy adds the real credentials upstream). Returns its path.
 */
export async function writeProxyKubeconfig(dir: string, name: string, port: number): Promise<string> {
  const file = join(dir, `kubeconfig-${name}-${String(port)}.yaml`);
  await writeFile(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "  - name: proxy",
      // client-node refuses plain HTTP unless TLS verification is off (there is no TLS to verify).
      `    cluster: { server: "http://127.0.0.1:${String(port)}", insecure-skip-tls-verify: true }`,
      "users:",
      "  - name: anonymous",
      "    user: {}",
      "contexts:",
      "  - name: proxy",
      "    context: { cluster: proxy, user: anonymous }",
      "current-context: proxy",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return file;
}

/** A test proxy's HTTP server, listening on 127.0.0.1. */
export interface ProxyServer {
  readonly port: number;
  /** Destroys every open socket and stops the server. */
  close(): Promise<void>;
}

/**
 * Serves `handle` on a free port of 127.0.0.1, keeping every socket so that close() ends them all (a watch
 * held open would keep server.close() waiting). onConnection is told of each TCP connection accepted.
 */
export async function startProxyServer(
  handle: RequestListener,
  onConnection?: () => void,
): Promise<ProxyServer> {
  const sockets = new Set<Socket>();
  const server = createServer(handle);
  server.on("connection", (socket: Socket) => {
    onConnection?.();
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
