/**
 * `eatr status` on a real API server: the built binary (`node dist/main.js status …`) against a control
 * plane of its own (so no other test file's namespaces show up in the report), with a real eatr serving
 * the namespaces from the local ECR endpoint. Scenarios: healthy, missing credentials, conflict, expired
 * and expiring, an unreachable API server and bad flags. Every output is printed, for the README.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { startControlPlane, type ControlPlane } from "../env/control-plane.ts";
import type { StatusJson } from "../../src/status/render.ts";
import {
  createCredentials,
  decodePullSecret,
  listEvents,
  MAIN_JS,
  mergePatch,
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

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/main.js status <args>` and collects its output and exit code. */
function status(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [MAIN_JS, "status", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Prints a run for the record (the README's samples come from here). */
function show(title: string, args: readonly string[], run: Run): void {
  console.log(
    `--- ${title}: eatr status ${args.join(" ")} (exit ${run.code})\n${run.stdout}${run.stderr === "" ? "" : `stderr: ${run.stderr}`}`,
  );
}

async function createNamespace(
  api: CoreV1Api,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  await api.createNamespace({ body: { metadata: { name, labels } } });
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

void describe("eatr status (its own control plane)", () => {
  let plane: ControlPlane | undefined;
  let api: CoreV1Api;
  let controller: ControllerProcess | undefined;
  const hostNs = uniqueHostNamespace();
  const key = newKey(randomAccountId());
  const served = registryHost(key.accountId, "eu-west-1");
  const uncredentialed = registryHost(randomAccountId(), "us-east-2");
  const teamA = unique("team-a");
  const teamB = unique("team-b");
  const secretsSeen: string[] = [key.secretAccessKey, key.accessKeyId];
  let base: string[] = [];

  before(async () => {
    plane = await startControlPlane();
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfigPath);
    api = kc.makeApiClient(CoreV1Api);
    base = ["-config-file-path", plane.kubeconfigPath, "-host-namespace", hostNs];
    const ecr = await startEcr([key]);
    await createCredentials(api, hostNs, served, key);
    await createNamespace(api, teamA, { [served]: "true" });
    await createNamespace(api, teamB, { [served]: "true" });
    controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-config-file-path", plane.kubeconfigPath],
    });
    for (const ns of [teamA, teamB]) {
      const secret = await waitFor(() => readSecret(api, ns, served), { message: `pull secret in ${ns}` });
      secretsSeen.push(decodePullSecret(secret).auth, decodePullSecret(secret).password);
    }
  });

  after(async () => {
    await controller?.stop();
    await plane?.stop();
  });

  /** No output may carry a key, a token or a password. */
  function assertNoSecrets(run: Run): void {
    for (const secret of secretsSeen) {
      assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), "a secret value was printed");
    }
  }

  void it("healthy: every namespace that asks is served, exit 0 (table)", async () => {
    const run = await status(base);
    show("healthy", ["-host-namespace", hostNs], run);
    assertNoSecrets(run);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    const row = run.stdout.split("\n").find((line) => line.startsWith(served)) ?? "";
    assert.match(row, /^\S+\s+keys \(secret\)\s+\S+Z \(in 1[01]h\d+m\)\s+2\s+2\s+0\s+0$/, row);
    assert.match(run.stdout, /^Leader: Lease \S+\/eatr held by \S+, renewed /m);
    assert.match(run.stdout, /^Healthy: /m);
    assert.doesNotMatch(run.stdout, /Problems/);
  });

  void it("healthy: -o json parses, with the namespaces and the Lease holder", async () => {
    const run = await status([...base, "-o", "json"]);
    show("healthy, json", ["-host-namespace", hostNs, "-o", "json"], run);
    assertNoSecrets(run);
    assert.equal(run.code, 0, run.stderr);
    const doc = JSON.parse(run.stdout) as StatusJson;
    assert.equal(doc.version, 1);
    assert.equal(doc.healthy, true);
    assert.equal(doc.exitCode, 0);
    assert.equal(doc.tokenSafetyMarginSeconds, 3600);
    assert.deepEqual(doc.problems, []);
    assert.equal(doc.leader?.lease, `${hostNs}/eatr`);
    assert.equal(doc.leader.found, true);
    assert.equal(doc.leader.expired, false);
    assert.ok(doc.leader.holder !== null && doc.leader.holder !== "");
    assert.equal(doc.registries.length, 1);
    const [registry] = doc.registries;
    assert.equal(registry?.registry, served);
    assert.deepEqual(registry.credentials, {
      source: "keys",
      from: "secret",
      secret: `${hostNs}/eatr-aws-credentials-${served}`,
      keys: ["aws_access_key_id", "aws_secret_access_key"],
      problem: null,
    });
    assert.deepEqual(registry.namespaces, {
      asking: [teamA, teamB].sort(),
      served: [teamA, teamB].sort(),
      conflict: [],
      lackingCredentials: [],
    });
    assert.ok(Date.parse(registry.token.expiresAt ?? "") > Date.now() + 11 * 3600_000);
    assert.deepEqual(doc.notes, []);
  });

  void it("a user who may not list Events: the report without them, with a note, exit 0", async () => {
    const rbac = new KubeConfig();
    rbac.loadFromFile(plane?.kubeconfigPath ?? "");
    const roles = rbac.makeApiClient(RbacAuthorizationV1Api);
    const name = unique("status-viewer");
    await roles.createClusterRole({
      body: {
        metadata: { name },
        rules: [
          { apiGroups: [""], resources: ["namespaces"], verbs: ["list"] },
          { apiGroups: [""], resources: ["secrets"], verbs: ["list", "get"] },
          { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get"] },
        ],
      },
    });
    await api.createNamespacedServiceAccount({ namespace: hostNs, body: { metadata: { name } } });
    await roles.createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
        subjects: [{ kind: "ServiceAccount", name, namespace: hostNs }],
      },
    });
    const token = await api.createNamespacedServiceAccountToken({
      name,
      namespace: hostNs,
      body: { spec: { audiences: [] } },
    });
    const kubeconfig = await plane?.kubeconfigForToken(token.status?.token ?? "", name);
    const args = ["-config-file-path", kubeconfig ?? "", "-host-namespace", hostNs];
    const run = await waitFor(
      async () => {
        const r = await status(args);
        return r.code === 0 ? r : undefined; // RBAC takes a moment to reach the authorizer's cache
      },
      { message: "status as a user who may not list Events" },
    );
    show("no Events RBAC", ["-host-namespace", hostNs, "(as a ServiceAccount without events list)"], run);
    assert.match(run.stdout, /^Healthy: /m);
    const notes = run.stdout.split("\n").filter((l) => l.startsWith("Note: "));
    assert.equal(notes.length, 4, run.stdout);
    assert.match(
      notes[0] ?? "",
      /^Note: cannot list InvalidCredentials Events in namespace \S+ \(HTTP 403 Forbidden\): the problems they report are not shown\.$/,
    );
  });

  void it("missing credentials: the namespace is listed with the reason, exit 1", async () => {
    const teamC = unique("team-c");
    await createNamespace(api, teamC, { [uncredentialed]: "true" });
    // eatr has seen it: its registry-wide Warning Event names the namespace.
    await waitFor(
      async () =>
        (await listEvents(api, { reason: "CredentialsMissing", namespace: hostNs })).some((e) =>
          (e.message ?? "").includes(teamC),
        ),
      { message: "the CredentialsMissing Event" },
    );
    const run = await status(base);
    show("missing credentials", ["-host-namespace", hostNs], run);
    assertNoSecrets(run);
    assert.equal(run.code, 1, run.stderr);
    const row = run.stdout.split("\n").find((line) => line.startsWith(uncredentialed)) ?? "";
    assert.match(row, /^\S+\s+missing\s+-\s+1\s+0\s+0\s+1$/, row);
    const problem = run.stdout.split("\n").find((line) => line.startsWith(teamC)) ?? "";
    assert.match(
      problem,
      new RegExp(
        `^${teamC}\\s+${uncredentialed.replaceAll(".", "\\.")}\\s+credentials-missing\\s+no pull secret yet: no credential secret ${hostNs}/eatr-aws-credentials-`,
      ),
    );
    const json = JSON.parse((await status([...base, "-o", "json"])).stdout) as StatusJson;
    assert.deepEqual(
      json.problems.map((p) => [p.namespace, p.registry, p.reason]),
      [[teamC, uncredentialed, "credentials-missing"]],
    );
    await api.deleteNamespace({ name: teamC });
    // A namespace being deleted is skipped, as eatr skips it.
    const afterDelete = await status(base);
    assert.equal(afterDelete.code, 0, afterDelete.stdout);
  });

  void it("conflict: someone else's secret of the registry's name, exit 1", async () => {
    const teamD = unique("team-d");
    await createNamespace(api, teamD);
    await api.createNamespacedSecret({
      namespace: teamD,
      body: {
        metadata: { name: served },
        type: "Opaque",
        data: { token: Buffer.from("mine").toString("base64") },
      },
    });
    await api.patchNamespace(
      { name: teamD, body: { metadata: { labels: { [served]: "true" } } } },
      mergePatch(),
    );
    await waitFor(
      async () => (await listEvents(api, { reason: "SecretConflict", namespace: teamD })).length > 0,
      {
        message: "the SecretConflict Event",
      },
    );
    const args = [...base];
    const run = await status(args);
    show("conflict", ["-host-namespace", hostNs], run);
    assertNoSecrets(run);
    assert.equal(run.code, 1, run.stderr);
    const row = run.stdout.split("\n").find((line) => line.startsWith(served)) ?? "";
    assert.match(row, /\s3\s+2\s+1\s+0$/, row);
    const problem = run.stdout.split("\n").find((line) => line.startsWith(teamD)) ?? "";
    assert.match(
      problem,
      /\sconflict\s+secret \S+ is not eatr's \(no label app\.kubernetes\.io\/managed-by=eatr\)/,
    );
    const json = JSON.parse((await status([...base, "-o", "json"])).stdout) as StatusJson;
    assert.deepEqual(json.registries[0]?.namespaces.conflict, [teamD]);
    assert.deepEqual(
      json.problems.map((p) => [p.namespace, p.reason]),
      [[teamD, "conflict"]],
    );
    await api.deleteNamespace({ name: teamD });
  });

  void it("failing credentials: ECR refuses the key, the TokenRequestFailed Event is reported, exit 1", async () => {
    const rejected = newKey(randomAccountId()); // never given to the local ECR
    secretsSeen.push(rejected.accessKeyId, rejected.secretAccessKey);
    const refused = registryHost(rejected.accountId, "eu-central-1");
    await createCredentials(api, hostNs, refused, rejected);
    const teamE = unique("team-e");
    await createNamespace(api, teamE, { [refused]: "true" });
    await waitFor(
      async () => (await listEvents(api, { reason: "TokenRequestFailed", namespace: hostNs })).length > 0,
      { message: "the TokenRequestFailed Event" },
    );
    const run = await status(base);
    show("failing credentials", ["-host-namespace", hostNs], run);
    assertNoSecrets(run);
    assert.equal(run.code, 1, run.stderr);
    const row = run.stdout.split("\n").find((line) => line.startsWith(refused)) ?? "";
    assert.match(row, /^\S+\s+keys \(secret\), failed\s+-\s+1\s+0\s+0\s+1$/, row);
    const problem = run.stdout.split("\n").find((line) => line.startsWith(teamE)) ?? "";
    assert.match(
      problem,
      /\scredentials-failed\s+no pull secret yet: TokenRequestFailed Event \(\S+Z(, \d+ times)?\): ECR GetAuthorizationToken for \S+ failed \(UnrecognizedClientException/,
    );
    await api.deleteNamespace({ name: teamE });
  });

  void it("expired and expiring: eatr stopped, the expiry annotations edited, exit 1", async () => {
    assert.equal(await controller?.stop(), 0);
    controller = undefined;
    const now = Date.now();
    const setExpiry = async (ns: string, ms: number) => {
      await api.patchNamespacedSecret(
        {
          namespace: ns,
          name: served,
          body: { metadata: { annotations: { "eatr/token-expires-at": new Date(ms).toISOString() } } },
        },
        mergePatch(),
      );
    };
    await setExpiry(teamA, now - 5 * 60_000);
    await setExpiry(teamB, now + 10 * 60_000);
    const run = await status(base);
    show("expired and expiring", ["-host-namespace", hostNs], run);
    assertNoSecrets(run);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stdout,
      /^Leader: none — Lease \S+ is released /m,
      "eatr released the Lease when it stopped",
    );
    const row = run.stdout.split("\n").find((line) => line.startsWith(served)) ?? "";
    assert.match(row, /\(\d+m\d*s? ago\)\s+2\s+1\s+0\s+0$/, row);
    const lines = run.stdout.split("\n");
    assert.match(
      lines.find((l) => l.startsWith(teamA)) ?? "",
      /\sexpired\s+token expired \S+Z \(5m\d*s? ago\)/,
    );
    assert.match(
      lines.find((l) => l.startsWith(teamB)) ?? "",
      /\sexpiring\s+token expires \S+Z \(in (9m\d+s|10m)\), within the safety margin 1h/,
    );
    // With a margin below what remains, the expiring one is fine again; the expired one is not.
    const narrow = ["-host-namespace", hostNs, "-token-safety-margin", "5m", "-o", "json"];
    const json = await status([...base, "-token-safety-margin", "5m", "-o", "json"]);
    show("expired, margin 5m", narrow, json);
    assert.equal(json.code, 1);
    const doc = JSON.parse(json.stdout) as StatusJson;
    assert.deepEqual(
      doc.problems.map((p) => [p.namespace, p.reason]),
      [[teamA, "expired"]],
    );
    assert.equal(doc.leader?.holder, null);
    assert.deepEqual(doc.registries[0]?.namespaces.served, [teamB]);
  });

  void it("an unreachable API server: exit 2 with one line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "eatr-status-"));
    try {
      const port = await closedPort();
      const path = join(dir, "kubeconfig");
      const text = readFileSync(plane?.kubeconfigPath ?? "", "utf8");
      writeFileSync(
        path,
        text.replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${port}`),
      );
      const run = await status(["-config-file-path", path]);
      show("unreachable", ["-config-file-path", "<kubeconfig for a closed port>"], run);
      assert.equal(run.code, 2);
      assert.equal(run.stdout, "");
      const lines = run.stderr.split("\n").filter((l) => l !== "");
      assert.equal(lines.length, 1, run.stderr);
      assert.match(
        lines[0] ?? "",
        new RegExp(
          `^eatr status: cannot read the cluster at https://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`,
        ),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it("bad flags and no kubeconfig: exit 2 with the problem, nothing read", async () => {
    const bad = await status([...base, "-o", "yaml", "-port", "5000"]);
    show("bad flags", ["-o", "yaml", "-port", "5000"], bad);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /o \(flag -o\) = "yaml": expected table or json/);
    assert.match(bad.stderr, /unknown flag -port \(see eatr status --help\)/);
    const none = await status([], { KUBECONFIG: "/nonexistent/kubeconfig" });
    assert.equal(none.code, 2);
    assert.equal(
      none.stderr,
      "eatr status: kubeconfig /nonexistent/kubeconfig does not exist (set by -config-file-path, EATR_KUBECONFIG or KUBECONFIG)\n",
    );
    const help = await status(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: eatr status \[flags\]/);
  });
});
