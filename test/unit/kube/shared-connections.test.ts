import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createSecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { RestClient } from "../../../src/kube/rest.ts";
import { shareConnections } from "../../../src/kube/shared-connections.ts";

/** A TLS server on loopback that speaks HTTP/2 and HTTP/1.1 (by ALPN) and records the version of each request. */
async function tlsApiServer() {
  const dir = mkdtempSync(join(tmpdir(), "eatr-tls-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
        .concat(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .concat(["-keyout", "key.pem", "-out", "cert.pem"]),
      { cwd: dir, stdio: "ignore" },
    );
    const versions: string[] = [];
    const server = createSecureServer(
      {
        allowHTTP1: true,
        key: readFileSync(join(dir, "key.pem")),
        cert: readFileSync(join(dir, "cert.pem")),
      },
      (req, res) => {
        versions.push(req.httpVersion);
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ kind: "NamespaceList", metadata: { resourceVersion: "1" }, items: [] }));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `https://127.0.0.1:${port}`,
      versions,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

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

  it("speaks HTTP/1.1 to a server that offers HTTP/2 (client-node alone negotiates HTTP/2)", async () => {
    const server = await tlsApiServer();
    try {
      await kubeConfig(server.url).makeApiClient(CoreV1Api).listNamespace();
      assert.deepEqual(server.versions.splice(0), ["2.0"], "without it, undici negotiates HTTP/2");
      const kc = shareConnections(kubeConfig(server.url));
      await kc.makeApiClient(CoreV1Api).listNamespace();
      await new RestClient(kc).get("/api/v1/namespaces");
      assert.deepEqual(server.versions, ["1.1", "1.1"]);
    } finally {
      await server.close();
    }
  });
});
