/**
 * The controller (dist/main.js) under failure: short-lived tokens, ECR throttling, ECR server errors, bad
 * keys, a restarted kube-apiserver, watches that expire (410 Gone), and moto as an ECR (and STS AssumeRole)
 * peer eatr was not written against (its tokens come already expired, so eatr refuses them: that proves the
 * SDK calls work).
 *
 * Each describe block runs its own controller, ECR endpoint and host namespace, one block at a time, and
 * deletes its namespaces at the end (they stay Terminating without kube-controller-manager, which eatr
 * skips), so a later block's controller does not work on them. Nothing sleeps for a fixed time except
 * where the test is that nothing happens during a period.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { connectControlPlane } from "../env/control-plane.ts";
import type { EcrFailure, EcrKey, EcrServer } from "../env/ecr-server.ts";
import { startMoto, type MotoServer } from "../env/moto.ts";
import {
  createCredentials,
  createLabelledNamespace,
  createNamespace,
  credentialSecretName,
  decodePullSecret,
  deleteNamespace,
  kube,
  listEvents,
  newKey,
  patchNamespaceLabels,
  randomAccountId,
  readSecret,
  registryHost,
  startController,
  startEcr,
  unique,
  uniqueHostNamespace,
  updateCredentials,
  waitFor,
  waitForIdle,
  type ControllerProcess,
} from "./support/harness.ts";

const { core } = kube();
const EXPIRES_AT = "eatr/token-expires-at";
const FETCHED_AT = "eatr/token-fetched-at";

/** Namespaces created by the current describe block, deleted at its end. */
const created: string[] = [];

async function labelledNamespace(prefix: string, hosts: readonly string[]): Promise<string> {
  const name = unique(prefix);
  created.push(name);
  await createLabelledNamespace(core, name, hosts);
  return name;
}

async function labelledNamespaces(
  count: number,
  prefix: string,
  hosts: readonly string[],
): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, () => labelledNamespace(prefix, hosts)));
}

async function deleteCreatedNamespaces(): Promise<void> {
  await Promise.all(created.splice(0).map((name) => deleteNamespace(core, name)));
}

/** A new registry (own random account) in `region`, with a key the ECR server knows. */
function newRegistry(ecr: EcrServer, region = "eu-west-1"): { host: string; key: EcrKey } {
  const accountId = randomAccountId();
  const key = newKey(accountId);
  ecr.addKey(key);
  return { host: registryHost(accountId, region), key };
}

function waitForSecret(
  namespace: string,
  host: string,
  ready: (s: V1Secret) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<V1Secret> {
  return waitFor(
    async () => {
      const s = await readSecret(core, namespace, host);
      return s !== undefined && ready(s) ? s : undefined;
    },
    { timeoutMs, message: `pull secret ${namespace}/${host}` },
  );
}

function waitForNoSecret(namespace: string, host: string, timeoutMs = 30_000): Promise<boolean> {
  return waitFor(async () => (await readSecret(core, namespace, host)) === undefined, {
    timeoutMs,
    message: `pull secret ${namespace}/${host} to be deleted`,
  });
}

function annotation(secret: V1Secret, key: string): string {
  const value = secret.metadata?.annotations?.[key];
  assert.ok(value !== undefined, `secret ${secret.metadata?.name ?? ""} has annotation ${key}`);
  return value;
}

/** Resolves "alive" when the process has not exited (checked without waiting). */
async function liveness(controller: ControllerProcess): Promise<string> {
  return Promise.race([
    controller.exited.then((code) => `exited with ${code}`),
    new Promise<string>((resolve) =>
      setImmediate(() => {
        resolve("alive");
      }),
    ),
  ]);
}

// ---------------------------------------------------------------------------------------------------------

describe("short token lifetime", () => {
  const hostNs = uniqueHostNamespace();
  let ecr: EcrServer;
  let controller: ControllerProcess;

  before(async () => {
    ecr = await startEcr([], { tokenLifetimeMs: 60_000 });
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-token-safety-margin", "30s"],
    });
  });

  after(async () => {
    await controller.stop();
    await ecr.close();
    await deleteCreatedNamespaces();
  });

  it("rewrites every pull secret before the token expires, with one ECR call per registry per renewal", async () => {
    const a = newRegistry(ecr, "eu-west-1");
    const b = newRegistry(ecr, "us-east-2");
    for (const r of [a, b]) await createCredentials(core, hostNs, r.host, r.key);
    // Three namespaces per registry; one namespace uses both.
    const onlyA = await labelledNamespaces(2, "short-a", [a.host]);
    const onlyB = await labelledNamespaces(2, "short-b", [b.host]);
    const both = await labelledNamespace("short-ab", [a.host, b.host]);
    const users = new Map([
      [a, [...onlyA, both]],
      [b, [...onlyB, both]],
    ]);

    const first = new Map<string, V1Secret>();
    for (const [r, namespaces] of users) {
      for (const ns of namespaces) first.set(`${ns}/${r.host}`, await waitForSecret(ns, r.host));
    }
    const renewalsBefore = await controller.metric("secret_renewals_total");
    for (const [r, namespaces] of users) {
      assert.equal(ecr.calls(r.key.accessKeyId), 1, `one ECR call for ${r.host}`);
      const passwords = new Set(
        namespaces.map((ns) => decodePullSecret(first.get(`${ns}/${r.host}`) as V1Secret).password),
      );
      assert.equal(passwords.size, 1, "every namespace of a registry carries the same token");
    }

    // Refresh is due at expiry - 30 s (less up to 5 % jitter): about 30 s after the fetch, 30 s before the
    // 60 s expiry, and the next one 30 s later, after the checks below.
    for (const [r, namespaces] of users) {
      for (const ns of namespaces) {
        const old = first.get(`${ns}/${r.host}`) as V1Secret;
        const oldPassword = decodePullSecret(old).password;
        const oldExpiry = Date.parse(annotation(old, EXPIRES_AT));
        const renewed = await waitForSecret(
          ns,
          r.host,
          (s) => decodePullSecret(s).password !== oldPassword,
          60_000,
        );
        const fetchedAt = Date.parse(annotation(renewed, FETCHED_AT));
        const expiresAt = Date.parse(annotation(renewed, EXPIRES_AT));
        assert.ok(
          fetchedAt < oldExpiry - 5_000,
          `${ns}: renewed ${oldExpiry - fetchedAt} ms before the old token expired`,
        );
        assert.ok(expiresAt > oldExpiry, `${ns}: the new token expires later`);
        assert.equal(decodePullSecret(renewed).password, ecr.lastToken(r.key.accessKeyId)?.password);
      }
    }
    for (const r of users.keys()) {
      assert.equal(
        ecr.calls(r.key.accessKeyId),
        2,
        `exactly one more ECR call for ${r.host} for the renewal`,
      );
      assert.deepEqual(ecr.outcomes(r.key.accessKeyId), { ok: 2 });
    }
    const renewalsAfter = await controller.metric("secret_renewals_total");
    assert.ok(
      renewalsAfter >= renewalsBefore + 2,
      `secret_renewals_total ${renewalsBefore} -> ${renewalsAfter}`,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("ECR failures", () => {
  const hostNs = uniqueHostNamespace();
  const NAMESPACES = 8;
  let ecr: EcrServer;
  let controller: ControllerProcess;

  before(async () => {
    ecr = await startEcr();
    controller = await startController({ ecrEndpoint: ecr.endpoint, hostNamespace: hostNs });
  });

  after(async () => {
    await controller.stop();
    await ecr.close();
    await deleteCreatedNamespaces();
  });

  /** The TokenRequestFailed Warning events on a registry's credential secret. */
  async function tokenRequestFailedEvents(host: string): Promise<string[]> {
    const events = await listEvents(core, {
      reason: "TokenRequestFailed",
      name: credentialSecretName(host),
      namespace: hostNs,
    });
    return events
      .filter((e) => e.type === "Warning" && e.involvedObject.kind === "Secret")
      .map((e) => e.message ?? "");
  }

  /** Arrival times (ms) of the ECR requests made with this key, oldest first. */
  function callTimes(key: EcrKey): number[] {
    return ecr
      .log()
      .filter((c) => c.accessKeyId === key.accessKeyId)
      .map((c) => c.at);
  }

  /** Asserts that consecutive calls were at least 1 s, 2 s, 4 s, … apart (the per-registry backoff). */
  function assertBackoffSpacing(times: readonly number[], failures: number): void {
    for (let i = 1; i <= failures && i < times.length; i++) {
      const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
      const backoff = 1_000 * 2 ** (i - 1);
      assert.ok(
        gap >= backoff - 50,
        `call ${i + 1} came ${gap} ms after call ${i}; backoff is ${backoff} ms`,
      );
    }
  }

  const injected: { kind: EcrFailure; result: string; errorName: string }[] = [
    { kind: "throttle", result: "throttled", errorName: "ThrottlingException" },
    { kind: "server", result: "error", errorName: "ServerException" },
  ];
  for (const { kind, result, errorName } of injected) {
    it(`${errorName}: a Warning event, result="${result}", backoff between calls, then recovery`, async () => {
      const r = newRegistry(ecr);
      await createCredentials(core, hostNs, r.host, r.key);
      const failures = 3;
      ecr.failNext(failures, kind);
      const namespaces = await labelledNamespaces(NAMESPACES, `ecr-${kind}`, [r.host]);

      const messages = await waitFor(
        async () => {
          const m = await tokenRequestFailedEvents(r.host);
          return m.length > 0 ? m : undefined;
        },
        { message: `a TokenRequestFailed event on ${credentialSecretName(r.host)}` },
      );
      assert.match(messages[0] ?? "", new RegExp(errorName));

      // 3 failures at 0, 1, 3 s, success at about 7 s: well within 10 s, whatever the namespace count.
      for (const ns of namespaces) await waitForSecret(ns, r.host, () => true, 20_000);
      assert.equal(ecr.pendingFailures(), 0);
      const times = callTimes(r.key);
      assert.equal(times.length, failures + 1, `ECR calls for ${NAMESPACES} namespaces: ${times.length}`);
      assert.ok(times.length <= 6);
      assert.ok((times.at(-1) ?? 0) - (times[0] ?? 0) < 10_000, "recovered within 10 s");
      assertBackoffSpacing(times, failures);
      assert.equal(
        await controller.metric("eatr_ecr_token_requests_total", { registry: r.host, result }),
        failures,
      );
      assert.equal(
        await controller.metric("eatr_ecr_token_requests_total", { registry: r.host, result: "success" }),
        1,
      );
    });
  }

  it('bad keys: a Warning event, result="invalid_credentials", backoff, then recovery once the secret is fixed', async () => {
    const accountId = randomAccountId();
    const host = registryHost(accountId, "eu-central-1");
    const unknownKey = newKey(accountId); // never added to the ECR server
    const goodKey = newKey(accountId);
    ecr.addKey(goodKey);
    await createCredentials(core, hostNs, host, unknownKey);
    const started = Date.now();
    const namespaces = await labelledNamespaces(NAMESPACES, "ecr-badkey", [host]);

    const messages = await waitFor(
      async () => {
        const m = await tokenRequestFailedEvents(host);
        return m.length > 0 ? m : undefined;
      },
      { message: `a TokenRequestFailed event on ${credentialSecretName(host)}` },
    );
    assert.match(messages[0] ?? "", /UnrecognizedClientException/);

    // Watch the calls for 10 s: spaced by the backoff (0, 1, 3, 7 s), not once per namespace or retry.
    await waitFor(() => Date.now() - started >= 10_000, { timeoutMs: 15_000 });
    const times = callTimes(unknownKey);
    assert.ok(times.length >= 3 && times.length <= 6, `${times.length} ECR calls in 10 s`);
    assertBackoffSpacing(times, times.length - 1);
    assert.equal(
      await controller.metric("eatr_ecr_token_requests_total", {
        registry: host,
        result: "invalid_credentials",
      }),
      times.length,
    );
    for (const ns of namespaces) assert.equal(await readSecret(core, ns, host), undefined);

    // The fix: a key the server knows. The credential change resets the backoff: secrets follow at once.
    const fixedAt = Date.now();
    await updateCredentials(core, hostNs, host, goodKey);
    for (const ns of namespaces) {
      const secret = await waitForSecret(ns, host, () => true, 10_000);
      assert.equal(decodePullSecret(secret).password, ecr.lastToken(goodKey.accessKeyId)?.password);
    }
    assert.ok(Date.now() - fixedAt < 10_000);
    assert.equal(ecr.calls(goodKey.accessKeyId), 1);
    assert.equal(
      await controller.metric("eatr_ecr_token_requests_total", { registry: host, result: "success" }),
      1,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("kube-apiserver restarts", () => {
  const hostNs = uniqueHostNamespace();
  const cp = connectControlPlane();
  let ecr: EcrServer;
  let controller: ControllerProcess;
  let host: string;

  before(async () => {
    ecr = await startEcr();
    const r = newRegistry(ecr);
    host = r.host;
    await createCredentials(core, hostNs, host, r.key);
    // A restart takes 3–15 s on a busy 2-core machine. With the default 10 s renew deadline the leader may
    // rightly give up its lease and exit 1 (the pod would be restarted; test/e2e covers that path). Here
    // the lease outlives the outage, so what is tested is the informers' reconnect and convergence.
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: [
        "-leader-election-lease-duration=120s",
        "-leader-election-renew-deadline=90s",
        "-leader-election-retry-period=2s",
      ],
    });
  });

  after(async () => {
    await controller.stop();
    await ecr.close();
    await deleteCreatedNamespaces();
  });

  it("keeps running through a kube-apiserver restart and serves a namespace labelled after it", async () => {
    const before = await labelledNamespace("restart-before", [host]);
    await waitForSecret(before, host);

    await cp.restartApiServer();
    const later = await labelledNamespace("restart-after", [host]);
    await waitForSecret(later, host, () => true, 60_000);

    assert.equal(await liveness(controller), "alive");
    assert.equal(
      controller.stderr().filter((l) => /fatal|unhandled/i.test(l)).length,
      0,
      controller.stderr().join("\n"),
    );
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${controller.port}/healthz`);
        await res.text();
        return res.status === 200;
      },
      { message: "/healthz 200 after the restart" },
    );
    // Still the one token: the restart cost no ECR call.
    assert.equal(ecr.totalCalls(), 1);
  });

  it("relists after 410 Gone and misses no change made while its watches were down", async () => {
    const keep = await labelledNamespace("gone-keep", [host]);
    const unlabel = await labelledNamespace("gone-unlabel", [host]);
    await waitForSecret(keep, host);
    await waitForSecret(unlabel, host);
    await waitForIdle(controller);
    const relistsBefore = await controller.metric("eatr_informer_relists_total");
    const goneLogsBefore = goneLogs(controller);

    // A restarted kube-apiserver has a fresh watch cache: a watch resumed from a resourceVersion before the
    // restart gets 410 Gone (compacting etcd alone does not, as watches are served from the watch cache).
    // The changes below race the controller's reconnect, which is the point: none may be lost.
    await cp.restartApiServer();
    const added = await Promise.all([
      labelledNamespace("gone-new", [host]),
      labelledNamespace("gone-new", [host]),
    ]);
    await patchNamespaceLabels(core, unlabel, { [host]: null });
    await cp.compactEtcd();

    for (const ns of added) await waitForSecret(ns, host, () => true, 60_000);
    await waitForNoSecret(unlabel, host, 60_000);
    await waitForSecret(keep, host);
    const relists = await waitFor(
      async () => {
        const n = await controller.metric("eatr_informer_relists_total");
        return n > relistsBefore ? n : undefined;
      },
      { timeoutMs: 30_000, message: "eatr_informer_relists_total to grow" },
    );
    assert.ok(goneLogs(controller) > goneLogsBefore, "the controller logged the 410 relist");
    assert.equal(await liveness(controller), "alive");
    console.log(
      `relists ${relistsBefore} -> ${relists}; 410 logs ${goneLogsBefore} -> ${goneLogs(controller)}`,
    );
  });
});

function goneLogs(controller: ControllerProcess): number {
  return controller.logRecords().filter((r) => r.msg === "resourceVersion too old (410 Gone): relisting")
    .length;
}

// ---------------------------------------------------------------------------------------------------------

describe("moto as an independent ECR peer", () => {
  const hostNs = uniqueHostNamespace();
  // moto answers for its default account in whatever region the request is signed for.
  const host = registryHost("123456789012", "us-east-1");
  let moto: MotoServer;
  let controller: ControllerProcess;

  before(async () => {
    moto = await startMoto();
    await createCredentials(core, hostNs, host, {
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    });
    controller = await startController({ ecrEndpoint: moto.endpoint, hostNamespace: hostNs });
  });

  after(async () => {
    await controller.stop();
    await moto.stop();
    await deleteCreatedNamespaces();
  });

  it("gets moto's token through the SDK, refuses it as already expired (2015), writes nothing and backs off", async () => {
    const ns = await labelledNamespace("moto", [host]);
    const started = Date.now();
    // The event can only name moto's 2015 expiry if the SDK reached moto, was answered and parsed the answer.
    const events = await waitFor(
      async () => {
        const list = await listEvents(core, {
          reason: "TokenRequestFailed",
          name: credentialSecretName(host),
          namespace: hostNs,
        });
        return list.length > 0 ? list : undefined;
      },
      { message: `a TokenRequestFailed event on ${credentialSecretName(host)}` },
    );
    assert.equal(events[0]?.type, "Warning");
    assert.match(
      events[0]?.message ?? "",
      new RegExp(
        `ExpiredTokenResponseError: ECR returned a token for ${host.replaceAll(".", "\\.")} that had already ` +
          "expired: expiresAt 2015-01-01T00:00:00\\.000Z",
      ),
    );

    // Watch for 10 s: the refused token is retried with the per-registry backoff (0, 1, 3, 7 s), not in a
    // loop, and no pull secret is ever written with it.
    await waitFor(() => Date.now() - started >= 10_000, { timeoutMs: 15_000 });
    const errors = await controller.metric("eatr_ecr_token_requests_total", {
      registry: host,
      result: "error",
    });
    assert.ok(errors >= 2 && errors <= 5, `${errors} refused tokens within 10 s`);
    assert.equal(
      await controller.metric("eatr_ecr_token_requests_total", { registry: host }),
      errors,
      "every call answered, every answer refused as expired",
    );
    assert.equal(await readSecret(core, ns, host), undefined, "no pull secret from an expired token");
    assert.equal(await controller.metric("eatr_pull_secret_writes_total"), 0);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("moto as an independent STS + ECR peer: AssumeRole on top of static keys", () => {
  const hostNs = uniqueHostNamespace();
  const roleAccount = randomAccountId();
  const roleArn = `arn:aws:iam::${roleAccount}:role/x`;
  const host = registryHost(roleAccount, "us-east-1");
  let moto: MotoServer;
  let controller: ControllerProcess;

  before(async () => {
    moto = await startMoto();
    await createNamespace(core, hostNs);
    const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
    await core.createNamespacedSecret({
      namespace: hostNs,
      body: {
        metadata: { name: credentialSecretName(host) },
        type: "Opaque",
        data: {
          aws_access_key_id: b64("AKIAIOSFODNN7EXAMPLE"),
          aws_secret_access_key: b64("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
          aws_role_arn: b64(roleArn),
        },
      },
    });
    controller = await startController({
      ecrEndpoint: moto.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-sts-endpoint", moto.endpoint],
    });
  });

  after(async () => {
    await controller.stop();
    await moto.stop();
    await deleteCreatedNamespaces();
  });

  it("moto's STS answers AssumeRole, its ECR answers the call signed with the role's credentials (2015 token refused)", async () => {
    const ns = await labelledNamespace("moto-sts", [host]);
    // Only reachable if moto's AssumeRole answer was parsed into credentials and the ECR call signed with
    // them reached moto and was parsed: an STS failure would be the Event instead (StsError).
    const event = await waitFor(
      async () =>
        (
          await listEvents(core, {
            reason: "TokenRequestFailed",
            name: credentialSecretName(host),
            namespace: hostNs,
          })
        ).find((e) => /ExpiredTokenResponseError/.test(e.message ?? "")),
      { message: `a TokenRequestFailed ExpiredTokenResponseError Event on ${credentialSecretName(host)}` },
    );
    assert.equal(event.type, "Warning");
    assert.match(
      event.message ?? "",
      new RegExp(
        `ExpiredTokenResponseError: ECR returned a token for ${host.replaceAll(".", "\\.")} that had already ` +
          "expired: expiresAt 2015-01-01T00:00:00\\.000Z",
      ),
    );
    const success = await controller.metric("eatr_sts_requests_total", {
      registry: host,
      result: "success",
    });
    assert.ok(success >= 1, `${success} successful STS calls`);
    assert.equal(
      await controller.metric("eatr_sts_requests_total"),
      success,
      "no STS call failed (throttled, invalid_credentials, error)",
    );
    const stsErrors = (
      await listEvents(core, {
        reason: "TokenRequestFailed",
        name: credentialSecretName(host),
        namespace: hostNs,
      })
    ).filter((e) => /StsError|STS /.test(e.message ?? ""));
    assert.deepEqual(stsErrors, [], "no Event names an STS failure");
    assert.equal(await readSecret(core, ns, host), undefined, "no pull secret from an expired token");
    // moto's own record of the roles it handed out: the role eatr named, acting in the role ARN's account.
    // (Which account moto's ECR served is not observable: eatr discards the expired token and its
    // proxyEndpoint is not used.)
    const res = await fetch(`${moto.endpoint}/moto-api/data.json`);
    const data = (await res.json()) as {
      sts?: { AssumedRole?: { account_id: string; role_arn: string; session_name: string }[] };
    };
    const assumed = data.sts?.AssumedRole ?? [];
    assert.ok(assumed.length >= 1, "moto's STS issued credentials");
    for (const a of assumed) {
      assert.equal(a.role_arn, roleArn);
      assert.equal(a.account_id, roleAccount, "the assumed role acts in the role ARN's account");
      assert.equal(a.session_name, "eatr");
    }
    assert.equal(assumed.length, success, "every successful STS call eatr counted was answered by moto");
  });
});
