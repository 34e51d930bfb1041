/**
 * The HTTP surface of a running controller: /metrics passes `promtool check metrics` (Debian's prometheus
 * package, installed by .ci/run) and carries the seed's and our metrics; /healthz and /readyz answer;
 * SIGTERM stops it with exit code 0.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import {
  createCredentials,
  createLabelledNamespace,
  kube,
  newKey,
  randomAccountId,
  readSecret,
  registryHost,
  startController,
  startEcr,
  unique,
  uniqueHostNamespace,
  waitFor,
} from "./support/harness.ts";

describe("metrics and probes", () => {
  it("serves a lint-clean exposition with the seed's metrics, probes, and stops cleanly on SIGTERM", async () => {
    const { core } = kube();
    const hostNs = uniqueHostNamespace();
    const key = newKey(randomAccountId());
    const host = registryHost(key.accountId, "eu-central-1");
    const ecr = await startEcr([key]);
    await createCredentials(core, hostNs, host, key);
    const ns = unique("metrics");
    await createLabelledNamespace(core, ns, [host]);
    const controller = await startController({ ecrEndpoint: ecr.endpoint, hostNamespace: hostNs });
    await waitFor(() => readSecret(core, ns, host), { message: `secret ${ns}/${host}` });
    await waitFor(
      async () => (await controller.metric("secrets_created_total", { namespace: ns, name: host })) === 1,
      {
        message: "secrets_created_total for the new secret",
      },
    );

    const text = await controller.metrics();
    const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    assert.equal(
      lint.error,
      undefined,
      "promtool must be installed (Debian package prometheus; .ci/run installs it)",
    );
    assert.equal(lint.status, 0, `promtool check metrics failed:\n${lint.stdout}${lint.stderr}`);
    assert.equal(`${lint.stdout}${lint.stderr}`.trim(), "", "promtool reports nothing");

    for (const name of [
      "secrets_created_total",
      "secret_renewals_total",
      "eatr_ecr_token_requests_total",
      "eatr_registry_token_expiry_timestamp_seconds",
      "eatr_pull_secret_writes_total",
      "eatr_informer_synced",
      "workqueue_depth",
      "workqueue_adds_total",
      "workqueue_queue_duration_seconds_bucket",
      "controller_runtime_reconcile_total",
      "controller_runtime_reconcile_time_seconds_bucket",
      "process_cpu_seconds_total",
      "nodejs_heap_size_used_bytes",
    ]) {
      assert.match(text, new RegExp(`^${name}[{ ]`, "m"), `${name} is exposed`);
    }
    assert.equal(
      await controller.metric("eatr_ecr_token_requests_total", { registry: host, result: "success" }),
      1,
    );
    const expiry = await controller.metric("eatr_registry_token_expiry_timestamp_seconds", {
      registry: host,
    });
    assert.ok(
      Math.abs(expiry - (Date.now() / 1000 + 12 * 3600)) < 120,
      `expiry gauge ${expiry} is about 12 h ahead`,
    );
    assert.equal(
      await controller.metric("eatr_pull_secret_writes_total", { operation: "create", result: "success" }),
      1,
    );
    for (const informer of ["namespaces", "credentials", "managed-secrets"]) {
      assert.equal(await controller.metric("eatr_informer_synced", { informer }), 1, `${informer} synced`);
    }

    const base = `http://127.0.0.1:${controller.port}`;
    const healthz = await fetch(`${base}/healthz`);
    assert.equal(healthz.status, 200);
    const readyz = await fetch(`${base}/readyz`);
    assert.equal(readyz.status, 200);
    assert.match(await readyz.text(), /all informers synced/);
    assert.equal((await fetch(`${base}/nope`)).status, 404);

    assert.equal(await controller.stop("SIGTERM"), 0, "SIGTERM exits 0");
    assert.ok(
      controller.logs().some((l) => l.includes('"msg":"stopped"')),
      "logs its clean stop",
    );
  });
});
