/**
 * One slow registry must not stall the others: the built dist/main.js with -workers 2, the real
 * kube-apiserver and the local ECR endpoint, where every ECR call for registry A hangs (120 s) while
 * registry B answers at once. A is used by more namespaces than eatr has workers, so a reconcile that held
 * its worker while A's token is fetched would leave none for B.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { EcrKey, EcrServer } from "../env/ecr-server.ts";
import {
  createCredentials,
  createLabelledNamespace,
  credentialSecretName,
  decodePullSecret,
  deleteNamespace,
  kube,
  listEvents,
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

const { core } = kube();
const hostNs = uniqueHostNamespace();
const WORKERS = 2;
const SLOW_NAMESPACES = 6;
const HANG_MS = 120_000;
/** Far below the hang, and below the SDK's own 30 s: only a worker never held by A's call meets it. */
const PROMPT_MS = 20_000;
const created: string[] = [];
let ecr: EcrServer;
let controller: ControllerProcess;
/** Registry A: every ECR call for it hangs. Registry B: healthy. */
let slow: { host: string; key: EcrKey };
let healthy: { host: string; key: EcrKey };

function registry(region: string): { host: string; key: EcrKey } {
  const accountId = randomAccountId();
  const key = newKey(accountId);
  ecr.addKey(key);
  return { host: registryHost(accountId, region), key };
}

async function labelledNamespace(prefix: string, host: string): Promise<string> {
  const name = unique(prefix);
  created.push(name);
  await createLabelledNamespace(core, name, [host]);
  return name;
}

/** Arrival times of the ECR requests signed with this key. */
function callTimes(key: EcrKey): number[] {
  return ecr
    .log()
    .filter((c) => c.accessKeyId === key.accessKeyId)
    .map((c) => c.at);
}

describe("a registry whose ECR calls hang", () => {
  before(async () => {
    ecr = await startEcr();
    slow = registry("eu-west-1");
    healthy = registry("us-east-2");
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-workers", String(WORKERS)],
    });
  });

  after(async () => {
    await controller.stop();
    await ecr.close();
    await Promise.all(created.map((name) => deleteNamespace(core, name)));
  });

  it(`does not hold up a new namespace of a healthy registry (${SLOW_NAMESPACES} namespaces, ${WORKERS} workers)`, async () => {
    await createCredentials(core, hostNs, healthy.host, healthy.key);
    await createCredentials(core, hostNs, slow.host, slow.key);
    const first = await labelledNamespace("healthy", healthy.host);
    await waitFor(() => readSecret(core, first, healthy.host), {
      message: `the first pull secret of the healthy registry, ${first}`,
    });

    ecr.setKeyLatencyMs(slow.key.accessKeyId, HANG_MS);
    const slowNamespaces = await Promise.all(
      Array.from({ length: SLOW_NAMESPACES }, () => labelledNamespace("slow", slow.host)),
    );
    await waitFor(() => callTimes(slow.key).length > 0, {
      message: "eatr calling ECR for the slow registry",
    });

    const later = await labelledNamespace("healthy-new", healthy.host);
    const started = Date.now();
    const secret = await waitFor(() => readSecret(core, later, healthy.host), {
      timeoutMs: PROMPT_MS,
      message: `the new namespace ${later} of the healthy registry, while the slow registry's call hangs`,
    });
    const servedMs = Date.now() - started;
    console.log(`the healthy registry's new namespace was served in ${servedMs} ms while the other hung`);
    assert.equal(decodePullSecret(secret).password, ecr.lastToken(healthy.key.accessKeyId)?.password);
    for (const ns of slowNamespaces) {
      assert.equal(await readSecret(core, ns, slow.host), undefined, `${ns} has no token yet`);
    }
    assert.equal(ecr.lastToken(slow.key.accessKeyId), undefined, "the slow registry's call is still hanging");
  });

  it("gives up a hanging ECR call after its own timeout (10 s), with a Warning event, and tries again", async () => {
    // The previous test left the slow registry hanging: its calls time out and back off (1 s, 2 s, ...).
    const events = await waitFor(
      async () => {
        const list = await listEvents(core, {
          reason: "TokenRequestFailed",
          name: credentialSecretName(slow.host),
          namespace: hostNs,
        });
        return list.length > 0 ? list : undefined;
      },
      { timeoutMs: 60_000, message: `a TokenRequestFailed event for ${slow.host}` },
    );
    assert.match(events[0]?.message ?? "", /EcrTimeoutError.*did not answer within 10000 ms/);
    const times = await waitFor(() => (callTimes(slow.key).length >= 2 ? callTimes(slow.key) : undefined), {
      timeoutMs: 60_000,
      message: "a second ECR call for the slow registry",
    });
    const gap = (times[1] ?? 0) - (times[0] ?? 0);
    console.log(`the slow registry's second call came ${gap} ms after the first`);
    assert.ok(
      gap >= 10_000 && gap < 25_000,
      `second call ${gap} ms after the first (10 s timeout + backoff)`,
    );
  });
});
