import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { shareConnections } from "../../../src/kube/shared-connections.ts";

/** A fake API server on loopback that answers every GET with an empty namespace list and counts connections. */
async function fakeApiServer() {
  let connections = 0;
  const server = createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(
      JSON.stringify({
        apiVersion: "v1",
        kind: "NamespaceList",
        metadata: { resourceVersion: "1" },
        items: [],
      }),
    );
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

function kubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

const CALLS = 20;

async function connectionsFor(kc: KubeConfig, count: () => number): Promise<number> {
  const before = count();
  const core = kc.makeApiClient(CoreV1Api);
  for (let i = 0; i < CALLS; i++) await core.listNamespace();
  return count() - before;
}

describe("shareConnections", () => {
  it("makes API calls share pooled connections (client-node alone opens one per call)", async () => {
    const server = await fakeApiServer();
    try {
      const plain = await connectionsFor(kubeConfig(server.url), server.connections);
      const shared = await connectionsFor(shareConnections(kubeConfig(server.url)), server.connections);
      // undici may open a second socket while the first is being released; it never opens one per call.
      assert.ok(shared <= 2, `${CALLS} calls over ${shared} connections`);
      assert.equal(plain, CALLS, "without it, client-node opens a connection per call");
    } finally {
      await server.close();
    }
  });
});
