/**
 * eatr started where it cannot work: with a kubeconfig pointing at a closed port, and with a leader election
 * Lease namespace that does not exist. In both cases it keeps retrying, /healthz stays 200 (a restart fixes
 * neither), /readyz is 503 and says why, and the log says so when it starts and then at growing intervals,
 * not once per retry (warning lines are counted over a window, against a generous bound). When the
 * cause goes away it recovers by itself and says so.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import type { EcrServer } from "../env/ecr-server.ts";
import {
  createNamespace,
  kube,
  kubeconfigPath,
  startController,
  startEcr,
  unique,
  uniqueHostNamespace,
  waitFor,
  type ControllerProcess,
} from "./support/harness.ts";

const INFORMERS = ["namespaces", "credentials", "managed-secrets"];
/** Log lines are counted from the start until this long after it. */
const WINDOW_MS = 35_000;

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** The admin kubeconfig with its server moved to https://127.0.0.1:<port>, written into dir. */
async function kubeconfigFor(port: number, dir: string): Promise<string> {
  const config = parse(await readFile(kubeconfigPath(), "utf8")) as {
    clusters?: { cluster?: { server?: string } }[];
  };
  for (const c of config.clusters ?? []) if (c.cluster) c.cluster.server = `https://127.0.0.1:${port}`;
  const path = join(dir, `kubeconfig-${port}.yaml`);
  await writeFile(path, stringify(config), { mode: 0o600 });
  return path;
}

/** Pipes 127.0.0.1:port to the test kube-apiserver: the API server "comes up" at that address. */
async function forward(port: number): Promise<Server> {
  const target = new URL(process.env.EATR_TEST_SERVER ?? assert.fail("EATR_TEST_SERVER is not set"));
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.once("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  server.on("close", () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return server;
}

async function get(controller: ControllerProcess, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${controller.port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** warn and error lines logged so far. */
function warnings(controller: ControllerProcess): Record<string, unknown>[] {
  return controller.logRecords().filter((r) => r.level === "warn" || r.level === "error");
}

async function untilWindowEnds(startedAt: number): Promise<void> {
  const left = startedAt + WINDOW_MS - Date.now();
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
}

describe("the API server is unreachable at startup", () => {
  const hostNs = uniqueHostNamespace();
  let dir: string;
  let port: number;
  let ecr: EcrServer;
  let controller: ControllerProcess;
  let startedAt: number;
  let apiServerUp: Server | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "eatr-unreachable-"));
    port = await closedPort();
    ecr = await startEcr();
    startedAt = Date.now();
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-config-file-path", await kubeconfigFor(port, dir)],
      skipReadyWait: true,
    });
  });

  after(async () => {
    controller.kill();
    await controller.exited;
    apiServerUp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps retrying; /readyz names the server and since when; the log says it without flooding", async () => {
    const server = `https://127.0.0.1:${port}`;
    const readyz = await waitFor(
      async () => {
        const r = await get(controller, "/readyz");
        return r.status === 503 && r.body.includes(`API server ${server} unreachable since `) ? r : undefined;
      },
      { message: `/readyz 503 naming ${server}` },
    );
    const since = Date.parse(/unreachable since (\S+) /.exec(readyz.body)?.[1] ?? "");
    assert.ok(since >= startedAt - 1_000 && since <= Date.now(), `since ${new Date(since).toISOString()}`);
    for (const informer of INFORMERS) assert.ok(readyz.body.includes(informer), readyz.body);
    assert.match(readyz.body, /ECONNREFUSED/);
    assert.equal(
      (await get(controller, "/healthz")).status,
      200,
      "a restart would not help: /healthz stays ok",
    );

    await untilWindowEnds(startedAt);
    for (const informer of INFORMERS) {
      assert.equal(await controller.metric("eatr_informer_healthy", { informer }), 0, informer);
      const errors = await controller.metric("eatr_informer_watch_errors_total", { informer });
      assert.ok(errors >= 4, `${informer} kept retrying (${errors} failures)`);
    }
    const lines = warnings(controller);
    process.stderr.write(`unreachable: ${lines.length} warning lines in ${WINDOW_MS} ms\n`);
    // Expected: each informer and leader election at 0 s and at 30 s, 8 in all. Before, every retry warned:
    // about 30 lines in 35 s.
    assert.ok(
      lines.length <= 14,
      `${lines.length} warning lines in ${WINDOW_MS} ms:\n${lines.map((l) => String(l.msg)).join("\n")}`,
    );
    for (const informer of INFORMERS) {
      const first = lines.find((l) => l.informer === informer);
      assert.ok(first, `${informer} warned`);
      assert.match(String(first.msg), new RegExp(`^${informer}: cannot reach the API server ${server} `));
      assert.equal(first.server, server);
    }
  });

  it("recovers when the API server comes up at that address, and says after how long", async () => {
    apiServerUp = await forward(port);
    // Informers retry within their 30 s backoff cap; leader election within its retry period.
    const ready = await waitFor(
      async () => {
        const r = await get(controller, "/readyz");
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 90_000, message: "/readyz 200 once the API server is up" },
    );
    assert.match(ready.body, /all informers synced/);
    const records = controller.logRecords();
    for (const informer of INFORMERS) {
      assert.ok(
        records.some(
          (r) => r.informer === informer && /^\S+: list\/watch works again after \d+ s/.test(String(r.msg)),
        ),
        `${informer} logged its recovery`,
      );
    }
    assert.ok(records.some((r) => String(r.msg).startsWith("leader election rounds work again after")));
  });
});

describe("the leader election Lease namespace does not exist", () => {
  const hostNs = uniqueHostNamespace();
  const leaseNs = unique("no-lease-ns");
  let ecr: EcrServer;
  let controller: ControllerProcess;
  let startedAt: number;

  before(async () => {
    ecr = await startEcr();
    startedAt = Date.now();
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-leader-election-namespace", leaseNs],
      skipReadyWait: true,
    });
  });

  after(async () => {
    await controller.stop();
  });

  it("says so with the fix, in /readyz and in the log, not once per retry", async () => {
    const problem = `namespace ${leaseNs} for lease ${leaseNs}/eatr does not exist`;
    const readyz = await waitFor(
      async () => {
        const r = await get(controller, "/readyz");
        return r.status === 503 && r.body.includes(problem) ? r : undefined;
      },
      { message: `/readyz 503 saying ${problem}` },
    );
    assert.match(readyz.body, /-leader-election-namespace/);
    assert.match(readyz.body, /all informers synced/, "the informers are fine: the Lease is the only reason");
    assert.equal(
      (await get(controller, "/healthz")).status,
      200,
      "a restart would not help: /healthz stays ok",
    );

    await untilWindowEnds(startedAt);
    const lines = warnings(controller);
    process.stderr.write(`lease namespace: ${lines.length} warning lines in ${WINDOW_MS} ms\n`);
    // Expected: at 0 s and at 30 s. Before, "creating lease: 404" was warned every retry period (~11 times).
    assert.ok(
      lines.length <= 4,
      `${lines.length} warning lines in ${WINDOW_MS} ms:\n${lines.map((l) => String(l.msg)).join("\n")}`,
    );
    const first = lines[0];
    assert.ok(first, "an error was logged");
    assert.equal(first.level, "error");
    assert.equal(first.namespace, leaseNs);
    assert.equal(
      first.msg,
      `cannot take part in leader election: ${problem}; create it (kubectl create namespace ${leaseNs}) or set -leader-election-namespace to an existing namespace`,
    );
  });

  it("takes part in leader election once the namespace exists", async () => {
    await createNamespace(kube().core, leaseNs);
    await waitFor(async () => (await get(controller, "/readyz")).status === 200, {
      message: "/readyz 200 once the Lease namespace exists",
    });
    // /readyz can turn 200 a moment before the log lines of that round are read from the process.
    await waitFor(
      () => {
        const all = controller.logRecords();
        return (
          all.some((r) => r.msg === "became leader") &&
          all.some((r) => String(r.msg).startsWith("leader election rounds work again after"))
        );
      },
      { message: "the 'became leader' and 'rounds work again' log lines" },
    );
  });
});
