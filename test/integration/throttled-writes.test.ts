/**
 * The API server says "slow down" (HTTP 429 with Retry-After, as API Priority and Fairness does): eatr,
 * talking to the real kube-apiserver through a proxy that refuses the first pull secret writes with 429 and
 * `Retry-After: 2`, waits at least that long before each new attempt, sends the same write again until it
 * passes, counts every 429 in eatr_kube_api_throttled_total, lowers eatr_kube_api_write_rate meanwhile and
 * logs each backoff step once.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { EcrServer } from "../env/ecr-server.ts";
import {
  createCredentials,
  createLabelledNamespace,
  decodePullSecret,
  deleteNamespace,
  kube,
  kubeconfigPath,
  newKey,
  randomAccountId,
  readSecret,
  registryHost,
  startController,
  startEcr,
  unique,
  uniqueHostNamespace,
  waitFor,
  type ControllerProcess,
} from "./support/harness.ts";
import { startThrottlingProxy, type ThrottlingProxy } from "./support/throttling-proxy.ts";

const { core } = kube();
const hostNs = uniqueHostNamespace();
const REFUSED = 3;
const RETRY_AFTER_S = 2;
/** Timers may fire a little early against the proxy's clock; the wait asked for is 2,000 ms. */
const MIN_GAP_MS = RETRY_AFTER_S * 1000 - 50;

describe("pull secret writes answered 429 with Retry-After", () => {
  let dir: string;
  let proxy: ThrottlingProxy;
  let ecr: EcrServer;
  let controller: ControllerProcess;
  const namespace = unique("throttled");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "eatr-throttled-"));
    proxy = await startThrottlingProxy(kubeconfigPath(), {
      paths: /^\/api\/v1\/namespaces\/[^/]+\/secrets(\/|$)/,
      refuse: REFUSED,
      retryAfterSeconds: RETRY_AFTER_S,
    });
    ecr = await startEcr();
  });

  after(async () => {
    await controller.stop();
    await proxy.close();
    await ecr.close();
    await deleteNamespace(core, namespace);
    await rm(dir, { recursive: true, force: true });
  });

  it(`waits out each Retry-After and sends the write again until it passes (${REFUSED} refused)`, async () => {
    const accountId = randomAccountId();
    const key = newKey(accountId);
    ecr.addKey(key);
    const host = registryHost(accountId, "eu-west-1");
    await createCredentials(core, hostNs, host, key);
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-config-file-path", await proxy.kubeconfig(dir), "-leader-elect=false"],
    });
    const fullRate = await controller.metric("eatr_kube_api_write_rate");
    assert.ok(fullRate > 0, `the write rate starts at -kube-api-qps (${fullRate})`);
    await createLabelledNamespace(core, namespace, [host]);

    // The limit is sampled while the writes are refused: it drops, then comes back once they pass.
    let lowest = fullRate;
    const secret = await waitFor(
      async () => {
        lowest = Math.min(lowest, await controller.metric("eatr_kube_api_write_rate"));
        return readSecret(core, namespace, host);
      },
      { timeoutMs: 60_000, message: `the pull secret in ${namespace}, written after ${REFUSED} refusals` },
    );
    assert.ok(
      lowest < fullRate,
      `eatr_kube_api_write_rate fell below ${fullRate} while refused (lowest ${lowest})`,
    );
    await waitFor(async () => (await controller.metric("eatr_kube_api_write_rate")) === fullRate, {
      timeoutMs: 60_000,
      message: `eatr_kube_api_write_rate back at ${fullRate} after the 429s`,
    });
    assert.equal(decodePullSecret(secret).password, ecr.lastToken(key.accessKeyId)?.password);

    const writes = proxy.writes().filter((w) => w.path.startsWith(`/api/v1/namespaces/${namespace}/`));
    assert.deepEqual(
      writes.map((w) => `${w.method} ${w.refused ? "429" : "passed"}`),
      [...Array<string>(REFUSED).fill("POST 429"), "POST passed"],
      "the same create, sent again after each 429 (no update or delete in between)",
    );
    for (let i = 1; i < writes.length; i++) {
      const gap = (writes[i]?.at ?? 0) - (writes[i - 1]?.at ?? 0);
      assert.ok(gap >= MIN_GAP_MS, `attempt ${i + 1} came ${Math.round(gap)} ms after a 429 asking for 2 s`);
    }
    assert.equal(
      await controller.metric("eatr_kube_api_throttled_total", { operation: "secret_create" }),
      REFUSED,
    );
    assert.equal(
      await controller.metric("eatr_pull_secret_writes_total", { operation: "create", result: "success" }),
      1,
      "one write counted, with its final result",
    );
    const steps = controller
      .logRecords()
      .filter((r) => String(r.msg).includes("throttled a write (HTTP 429)"));
    assert.equal(steps.length, REFUSED, "one log line per backoff step");
    assert.equal(steps[0]?.retryAfterMs, RETRY_AFTER_S * 1000);
  });
});
