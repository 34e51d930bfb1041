import { writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { Socket } from "node:net";
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

/** Destroys every open socket of a test proxy and stops its server. */
export async function closeProxyServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}
