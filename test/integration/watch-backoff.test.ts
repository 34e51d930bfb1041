/**
 * Watches cut at once (a proxy or load balancer closing long-lived connections): eatr, talking to the real
 * kube-apiserver through a proxy that answers every watch and closes it straight away, backs off instead
 * of re-opening watches in a hot loop, counts the failures and says it is not ready; once watches pass
 * again it recovers. The request rate is measured at the proxy over a window, against a generous bound
 * (a hot loop makes hundreds of watches a second).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { EcrServer } from "../env/ecr-server.ts";
import {
  kubeconfigPath,
  startController,
  startEcr,
  uniqueHostNamespace,
  waitFor,
  type ControllerProcess,
} from "./support/harness.ts";
import { startWatchClosingProxy, type WatchClosingProxy } from "./support/watch-closing-proxy.ts";

const INFORMERS = ["namespaces", "credentials", "managed-secrets"];
/** How long the request rate is measured. */
const WINDOW_MS = 20_000;
/**
 * Watches allowed in the window, for three informers: with backoff (800 ms doubling to 30 s, jittered down
 * by at most half) each makes at most 7 in its first 25 s, so about 20 in all; a hot loop makes thousands.
 */
const MAX_WATCHES_IN_WINDOW = 60;

describe("watches closed at once by a proxy", () => {
  const hostNs = uniqueHostNamespace();
  let dir: string;
  let proxy: WatchClosingProxy;
  let ecr: EcrServer;
  let controller: ControllerProcess;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "eatr-watch-backoff-"));
    proxy = await startWatchClosingProxy(kubeconfigPath());
    ecr = await startEcr();
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-config-file-path", await proxy.kubeconfig(dir), "-leader-elect=false"],
      // Its watches fail from the start: it is not meant to become ready.
      skipReadyWait: true,
    });
  });

  after(async () => {
    controller.kill();
    await controller.exited;
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("backs off instead of re-opening watches in a hot loop, counts the failures and is not ready", async () => {
    // Lists pass: every informer syncs, then each watch it opens is answered and closed at once.
    await waitFor(async () => (await controller.metric("eatr_informer_synced")) === INFORMERS.length, {
      message: "every informer synced through the proxy",
    });
    const watchesBefore = proxy.watches();
    const connectionsBefore = proxy.connections();
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    const watches = proxy.watches() - watchesBefore;
    const connections = proxy.connections() - connectionsBefore;
    process.stderr.write(
      `watch-backoff: ${watches} watches, ${connections} connections in ${WINDOW_MS} ms\n`,
    );
    assert.ok(watches > 0, "still retrying");
    assert.ok(
      watches <= MAX_WATCHES_IN_WINDOW,
      `${watches} watches in ${WINDOW_MS} ms (at most ${MAX_WATCHES_IN_WINDOW} expected with backoff)`,
    );
    assert.ok(connections <= MAX_WATCHES_IN_WINDOW + 10, `${connections} connections in ${WINDOW_MS} ms`);

    for (const informer of INFORMERS) {
      assert.equal(
        await controller.metric("eatr_informer_healthy", { informer }),
        0,
        `${informer} unhealthy`,
      );
      assert.ok((await controller.metric("eatr_informer_watch_errors_total", { informer })) >= 2, informer);
    }
    const readyz = await fetch(`http://127.0.0.1:${controller.port}/readyz`);
    const body = await readyz.text();
    assert.equal(readyz.status, 503, body);
    for (const informer of INFORMERS) assert.match(body, new RegExp(`${informer} list/watch failing since`));
    assert.match(body, /ended \d+ ms after it started, without any event/);
    const healthz = await fetch(`http://127.0.0.1:${controller.port}/healthz`);
    await healthz.text();
    assert.equal(healthz.status, 200, "a restart would not help: /healthz stays ok");

    const warnings = controller.logRecords().filter((r) => r.level === "warn" && r.informer !== undefined);
    assert.ok(warnings.length <= 2 * INFORMERS.length, `${warnings.length} warnings, not one per retry`);
    for (const informer of INFORMERS) {
      assert.ok(
        warnings.some((w) => w.informer === informer && String(w.err).includes("without any event")),
        `${informer} warned why`,
      );
    }
  });

  it("recovers once watches stay open, and says after how long", async () => {
    proxy.passWatches();
    // The next attempt comes after the current backoff (at most 30 s), and a watch that stays open 1 s
    // makes the informer healthy.
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${controller.port}/readyz`);
        return res.status === 200 && (await res.text()).includes("all informers synced");
      },
      { timeoutMs: 90_000, message: "/readyz 200 once watches pass" },
    );
    for (const informer of INFORMERS) {
      assert.equal(await controller.metric("eatr_informer_healthy", { informer }), 1, informer);
      assert.ok(
        controller
          .logRecords()
          .some(
            (r) => r.informer === informer && /^\S+: list\/watch works again after \d+ s/.test(String(r.msg)),
          ),
        `${informer} logged its recovery`,
      );
    }
  });
});
