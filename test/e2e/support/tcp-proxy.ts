/**
 * A small TCP proxy on 127.0.0.1 for e2e tests: every connection is piped, bytes untouched (TLS passes
 * through), to a target port. `cut()` partitions whoever talks through it: existing connections stop
 * forwarding in both directions (their upstream side is closed, the client side is left open and silent)
 * and new connections are accepted but never forwarded, so the client's calls hang until its own timeouts,
 * like a network partition (not a fast "connection refused"). `heal()` forwards new connections again.
 *
 * Proxies live in the test process: close() (or closeAllProxies(), run by the e2e files' `after`) destroys
 * every socket and the listener; they also go when the process exits.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** True once cut() was called. */
  readonly isCut: boolean;
  /** Partitions the client: no byte is forwarded any more, in either direction, on any connection. */
  cut(): void;
  /**
   * Ends the partition: new connections are forwarded again. Connections black-holed by cut() stay silent
   * (as after a real partition, the client notices them only by its own timeouts).
   */
  heal(): void;
  /** Connections accepted so far. */
  accepted(): number;
  /** Destroys every socket and stops listening. */
  close(): Promise<void>;
}

const proxies = new Set<TcpProxy>();

/** Starts a proxy from a free 127.0.0.1 port to target (host:port). */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  let accepted = 0;

  /** Reads and drops everything the client sends: the connection stays open but leads nowhere. */
  const blackHole = (client: Socket): void => {
    client.on("data", () => undefined);
    client.resume();
  };

  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // Resets and timeouts on either side are expected (peers die, tests cut): never crash the test.
    socket.on("error", () => undefined);
  };

  const pairs = new Set<{ client: Socket; upstream: Socket }>();

  const server: Server = createServer((client) => {
    accepted++;
    track(client);
    if (cut) {
      blackHole(client);
      return;
    }
    const upstream = connect({ host: target.host, port: target.port });
    track(upstream);
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      pairs.delete(pair);
      if (!cut) {
        client.destroy();
        upstream.destroy();
      }
    };
    client.once("close", end);
    upstream.once("close", end);
  });
  server.on("error", () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const proxy: TcpProxy = {
    port,
    get isCut() {
      return cut;
    },
    cut: () => {
      if (cut) return;
      cut = true;
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        upstream.destroy();
        blackHole(client);
      }
      pairs.clear();
    },
    heal: () => {
      cut = false;
    },
    accepted: () => accepted,
    close: async () => {
      proxies.delete(proxy);
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
  proxies.add(proxy);
  return proxy;
}

/** Closes every proxy still open. */
export async function closeAllProxies(): Promise<void> {
  await Promise.all([...proxies].map((p) => p.close()));
}
