/**
 * Experiment, not a fix: preloaded into the controller (`npm run bench -- --node-arg=--import=./bench/experiments/reuse-dispatcher.ts`)
 * it makes @kubernetes/client-node 2.0.1 reuse one undici Agent per cluster and TLS material instead of
 * building a new one (so a new TLS connection) for every API request, to measure what that costs.
 */
import { createHash } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { Agent } from "undici";

interface AgentOptionsLike {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  passphrase?: unknown;
  rejectUnauthorized?: unknown;
  servername?: unknown;
}
type Options = (cluster: unknown, o: AgentOptionsLike) => { type: string; connect?: object };
type CreateDispatcher = (
  cluster: { name?: string; server?: string; proxyUrl?: string } | null,
  o: AgentOptionsLike,
) => unknown;

const proto = KubeConfig.prototype as unknown as {
  createDispatcher: CreateDispatcher;
  createDispatcherOptions: Options;
};
/** EATR_BENCH_ALLOW_H2=0: HTTP/1.1 only (undici 8 negotiates HTTP/2 by default). */
const allowH2 = process.env.EATR_BENCH_ALLOW_H2 !== "0";
const original = proto.createDispatcher;
const cache = new Map<string, unknown>();
proto.createDispatcher = function (this: unknown, cluster, o) {
  const hash = createHash("sha256");
  for (const v of [
    cluster?.name,
    cluster?.server,
    cluster?.proxyUrl,
    o.ca,
    o.cert,
    o.key,
    o.pfx,
    o.passphrase,
    o.rejectUnauthorized,
    o.servername,
  ]) {
    hash.update(v === undefined ? "\u0000" : Buffer.isBuffer(v) ? v : JSON.stringify(v));
    hash.update("\u0001");
  }
  const key = hash.digest("hex");
  if (!cache.has(key)) {
    const opts = proto.createDispatcherOptions.call(this, cluster, o);
    cache.set(
      key,
      opts.type === "agent" && !allowH2
        ? new Agent({ connect: opts.connect ?? {}, allowH2: false })
        : original.call(this, cluster, o),
    );
  }
  return cache.get(key);
};
