/**
 * The Grafana dashboard (charts/eatr/dashboards/eatr.json) against real data: a real Prometheus (Debian's,
 * test/env/prometheus.ts) scrapes two eatr replicas (one leading, one standing by) on the real
 * kube-apiserver, with the local ECR and STS endpoints, through several token renewals (every 20 s) and
 * events for every panel: a registry whose keys ECR refuses, a namespace asking for a registry without
 * credentials, a namespace holding someone else's secret of the pull secret's name (a conflict), a
 * registry whose credential secret assumes a role (STS), rotated once, and a failover (the leader stops).
 * Then every panel's every query, with the dashboard's variables substituted as Grafana does, must return
 * data over the run, and the panels fed by those events must show them (non-zero). A query with a misspelt
 * metric name is shown to fail the same check. And the chart: dashboards.enabled renders the ConfigMap
 * Grafana's sidecar loads, with the file's JSON, which the API server accepts.
 *
 * With EATR_DASHBOARD_SNAPSHOT=<file> the test writes every panel's query results there (what
 * test/env/render-dashboard.ts draws for the README's screenshot).
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { describe, it } from "node:test";
import {
  allPanels,
  loadDashboard,
  panelQueries,
  parseLabelValues,
  substitute,
  variableQuery,
  type PanelQuery,
  type Substitution,
} from "../env/dashboard.ts";
import { startPrometheus, type PrometheusServer } from "../env/prometheus.ts";
import { startStsServer } from "../env/sts-server.ts";
import { check, kubectl, only, render } from "../chart/helm.ts";
import {
  createCredentials,
  createLabelledNamespace,
  createNamespace,
  credentialSecretName,
  kube,
  newKey,
  patchNamespaceLabels,
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

/** The target label a ServiceMonitor adds: eatr's release namespace (the dashboard's $namespace). */
const RELEASE_NAMESPACE = "eatr";
const JOB = "eatr";
/** Query step and Grafana's intervals for it: $__interval = step, $__rate_interval = 4 × scrape interval at least. */
const STEP_S = 2;
const SUBSTITUTION_INTERVALS = { interval: `${STEP_S}s`, rateInterval: "30s" };
const ELECTION_FLAGS = [
  "-leader-elect",
  "-leader-election-id",
  "eatr",
  "-leader-election-lease-duration",
  "4s",
  "-leader-election-renew-deadline",
  "3s",
  "-leader-election-retry-period",
  "1s",
];

/**
 * Panels (title: refIds) the scenario's events must show as a non-zero value somewhere in the run. The
 * others must return data (a series with a finite value), which may be 0 (e.g. no reconcile error).
 */
const NON_ZERO: Record<string, string[]> = {
  "Token expires in": ["A"],
  "Last successful refresh": ["A"],
  "Token expiry countdown": ["A"],
  "ECR GetAuthorizationToken by result": ["A"],
  "ECR failures (EatrEcrErrors)": ["A"],
  "STS calls by result": ["A"],
  "Pull secret writes by operation and result": ["A"],
  "Conflicts by namespace and reason": ["A"],
  "Credential problems": ["A"],
  "API server throttling": ["B"],
  "Reconciles by result": ["A"],
  "Reconcile duration": ["A", "B"],
  Leaders: ["A"],
  "Leader by instance and failovers": ["A", "B"],
  Informers: ["A"],
  Memory: ["A", "B"],
  CPU: ["A"],
};

interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

interface QueryResult extends PanelQuery {
  query: string;
  series: RangeSeries[];
}

const finite = (v: string) => Number.isFinite(Number(v));

async function rangeQuery(
  prom: PrometheusServer,
  query: string,
  start: number,
  end: number,
): Promise<RangeSeries[]> {
  const params = new URLSearchParams({ query, start: String(start), end: String(end), step: String(STEP_S) });
  const data = await prom.api<{ resultType: string; result: RangeSeries[] }>(
    `/api/v1/query_range?${params.toString()}`,
  );
  assert.equal(data.resultType, "matrix", query);
  return data.result;
}

/** Runs every query over [start, end]; returns the results and a sentence per query without data. */
async function runQueries(
  prom: PrometheusServer,
  queries: PanelQuery[],
  s: Substitution,
  start: number,
  end: number,
): Promise<{ results: QueryResult[]; empty: string[] }> {
  const results: QueryResult[] = [];
  const empty: string[] = [];
  for (const q of queries) {
    const query = substitute(q.expr, s);
    const series = await rangeQuery(prom, query, start, end);
    results.push({ ...q, query, series });
    if (!series.some((r) => r.values.some(([, v]) => finite(v)))) {
      empty.push(`panel "${q.panelTitle}" target ${q.refId} returned no data: ${query}`);
    }
  }
  return { results, empty };
}

function maxOf(series: RangeSeries[]): number {
  let max = -Infinity;
  for (const r of series)
    for (const [, v] of r.values) if (finite(v)) max = Math.max(max, Math.abs(Number(v)));
  return max;
}

const labelsOf = (series: RangeSeries[], label: string) => new Set(series.map((r) => r.metric[label]));

describe("the Grafana dashboard on real data", () => {
  it("every panel's queries return data from a real Prometheus scraping eatr through renewals, failures, a conflict, STS and a failover", async () => {
    const { core } = kube();
    const hostNs = uniqueHostNamespace();
    const key = newKey(randomAccountId());
    const hostA = registryHost(key.accountId, "eu-west-1");
    const roleAccount = randomAccountId();
    const roleArn = `arn:aws:iam::${roleAccount}:role/eatr-pull`;
    const hostB = registryHost(roleAccount, "us-east-1"); // assumes the role through STS
    const badKey = newKey(randomAccountId()); // unknown to ECR: every call fails
    const hostC = registryHost(badKey.accountId, "us-west-2");
    const hostD = registryHost(randomAccountId(), "ap-south-1"); // no credential secret at all
    const ecr = await startEcr([key]);
    const sts = await startStsServer({
      ecr,
      callers: [key],
      roles: [{ arn: roleArn, trustedCallers: [key.accessKeyId] }],
    });
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const roleSecret = (session: string) => ({
      aws_access_key_id: b64(key.accessKeyId),
      aws_secret_access_key: b64(key.secretAccessKey),
      aws_role_arn: b64(roleArn),
      aws_role_session_name: b64(session),
    });
    await createCredentials(core, hostNs, hostA, key);
    await createCredentials(core, hostNs, hostC, badKey);
    await core.createNamespacedSecret({
      namespace: hostNs,
      body: { metadata: { name: credentialSecretName(hostB) }, type: "Opaque", data: roleSecret("eatr-1") },
    });
    const nsA = unique("dash-a");
    const nsB = unique("dash-b");
    const nsC = unique("dash-bad");
    const nsD = unique("dash-nocreds");
    const nsConflict = unique("dash-conflict");
    await createLabelledNamespace(core, nsA, [hostA]);
    await createLabelledNamespace(core, nsB, [hostB]);
    await createLabelledNamespace(core, nsC, [hostC]);
    await createLabelledNamespace(core, nsD, [hostD]);
    // Someone else's secret of the pull secret's name, then the label: eatr leaves it alone (a conflict).
    await createNamespace(core, nsConflict);
    await core.createNamespacedSecret({
      namespace: nsConflict,
      body: { metadata: { name: hostA }, type: "Opaque", data: { note: b64("not eatr's") } },
    });
    await patchNamespaceLabels(core, nsConflict, { [hostA]: "true" });

    const args = {
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      extraArgs: ["-auth-token-renewal-interval", "20s", "-sts-endpoint", sts.endpoint, ...ELECTION_FLAGS],
      // The Lease lives in the host namespace (the default when POD_NAMESPACE is empty).
      env: { POD_NAMESPACE: "" },
    };
    const controllers: ControllerProcess[] = [];
    let prom: PrometheusServer | undefined;
    try {
      const first = await startController(args);
      controllers.push(first);
      await waitFor(async () => (await first.metric("leader_election_master_status")) === 1, {
        message: "the first replica to lead",
      });
      const second = await startController(args);
      controllers.push(second);
      prom = await startPrometheus({
        targets: [`127.0.0.1:${first.port}`, `127.0.0.1:${second.port}`],
        targetLabels: { namespace: RELEASE_NAMESPACE },
        interval: "1s",
      });
      const p = prom;
      const start = Math.floor(Date.now() / 1000);
      await waitFor(
        async () => {
          const data = await p.api<{ activeTargets: { health: string }[] }>("/api/v1/targets");
          return data.activeTargets.length === 2 && data.activeTargets.every((t) => t.health === "up");
        },
        { message: "both eatr targets up" },
      );
      await waitFor(() => readSecret(core, nsA, hostA), { message: `pull secret ${nsA}/${hostA}` });
      await waitFor(() => readSecret(core, nsB, hostB), { message: `pull secret ${nsB}/${hostB} (via STS)` });

      // Rotate the role's credential secret: a second STS call, after Prometheus saw the first.
      await waitFor(() => sts.calls(roleArn) >= 1, { message: "the first STS call" });
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const current = await core.readNamespacedSecret({
        name: credentialSecretName(hostB),
        namespace: hostNs,
      });
      await core.replaceNamespacedSecret({
        name: credentialSecretName(hostB),
        namespace: hostNs,
        body: { ...current, data: roleSecret("eatr-2") },
      });
      await waitFor(() => sts.calls(roleArn) >= 2, { message: "an STS call for the rotated credentials" });

      // Several renewals by the leader (every 20 s).
      await waitFor(async () => (await first.metric("secret_renewals_total")) >= 2, {
        message: "two renewals by the leader",
        timeoutMs: 120_000,
        intervalMs: 500,
      });
      // Failover: the leader stops (releasing the Lease); the standby takes over and renews in turn.
      assert.equal(await first.stop(), 0);
      await waitFor(async () => (await second.metric("leader_election_master_status")) === 1, {
        message: "the standby to lead",
      });
      // For the README's screenshot (EATR_DASHBOARD_SNAPSHOT), a longer run.
      const renewalsAfterFailover = process.env.EATR_DASHBOARD_SNAPSHOT ? 3 : 1;
      await waitFor(async () => (await second.metric("secret_renewals_total")) >= renewalsAfterFailover, {
        message: "a renewal by the new leader",
        timeoutMs: 120_000,
        intervalMs: 500,
      });
      await new Promise((resolve) => setTimeout(resolve, 5_000)); // a few more scrapes of the new leader
      const end = Math.ceil(Date.now() / 1000);

      // The variables, resolved as Grafana does (label_values through the label values API, in order).
      const dashboard = loadDashboard();
      const variables: Record<string, string> = {};
      const values: Record<string, string[]> = {};
      for (const v of dashboard.templating?.list ?? []) {
        if (v.type === "datasource") {
          variables[v.name] = "prometheus";
          continue;
        }
        const parsed = parseLabelValues(variableQuery(v) ?? "");
        assert.ok(parsed, `variable ${v.name}`);
        const selector = substitute(parsed.selector, { ...SUBSTITUTION_INTERVALS, variables });
        const params = new URLSearchParams({ "match[]": selector, start: String(start), end: String(end) });
        values[v.name] = await p.api<string[]>(`/api/v1/label/${parsed.label}/values?${params.toString()}`);
        // "All", as the dashboard opens.
        variables[v.name] =
          v.includeAll === true && v.allValue !== undefined ? v.allValue : (values[v.name]?.[0] ?? "");
      }
      assert.deepEqual(values.job, [JOB]);
      assert.deepEqual(values.namespace, [RELEASE_NAMESPACE]);
      // Every registry of the scenario (namespaces left by other files may add theirs).
      for (const host of [hostA, hostB, hostC, hostD]) {
        assert.ok(values.registry?.includes(host), `$registry offers ${host}: ${String(values.registry)}`);
      }

      const s: Substitution = { ...SUBSTITUTION_INTERVALS, variables };
      const queries = panelQueries(dashboard);
      const { results, empty } = await runQueries(p, queries, s, start, end);
      console.log(
        `${queries.length} queries of ${new Set(queries.map((q) => q.panelId)).size} panels over ${end - start} s`,
      );
      assert.deepEqual(empty, [], "every panel's queries return data");

      // The same check fails for a misspelt metric name, and for a variable set to a value with no data.
      const typo = queries.map((q) => ({
        ...q,
        expr: q.expr.replace(
          "eatr_registry_token_expiry_timestamp_seconds",
          "eatr_registry_token_expiry_timestamp_second",
        ),
      }));
      const broken = await runQueries(p, typo, s, start, end);
      assert.ok(
        broken.empty.length >= 2,
        `the misspelt metric empties its panels: ${broken.empty.join("; ")}`,
      );
      const elsewhere = await runQueries(
        p,
        queries.slice(0, 1),
        { ...s, variables: { ...variables, namespace: "other" } },
        start,
        end,
      );
      assert.equal(elsewhere.empty.length, 1, "$namespace filters");

      const result = (title: string, refId: string) =>
        results.find((r) => r.panelTitle === title && r.refId === refId) ?? assert.fail(`${title} ${refId}`);
      for (const [title, refIds] of Object.entries(NON_ZERO)) {
        for (const refId of refIds) {
          const r = result(title, refId);
          assert.ok(maxOf(r.series) > 0, `panel "${title}" ${refId} shows the scenario's events: ${r.query}`);
        }
      }
      // Per registry and per event, the series the panels should show.
      assert.ok(labelsOf(result("Token expires in", "A").series, "registry").has(hostA));
      assert.ok(labelsOf(result("Token expires in", "A").series, "registry").has(hostB));
      assert.ok(labelsOf(result("Last successful refresh", "A").series, "registry").has(hostA));
      const failures = result("ECR failures (EatrEcrErrors)", "A").series;
      assert.ok(
        failures.some((r) => r.metric.registry === hostC && r.metric.result === "invalid_credentials"),
      );
      assert.ok(
        result("STS calls by result", "A").series.some(
          (r) => r.metric.registry === hostB && r.metric.result === "success",
        ),
      );
      const conflicts = result("Conflicts by namespace and reason", "A").series;
      assert.ok(
        conflicts.some((r) => r.metric.exported_namespace === nsConflict && r.metric.reason === "unmanaged"),
      );
      const problems = result("Credential problems", "A").series;
      assert.ok(problems.some((r) => r.metric.registry === hostD && r.metric.reason === "missing"));
      assert.equal(labelsOf(result("Leader by instance and failovers", "A").series, "instance").size, 2);
      const expiresIn = result("Token expires in", "A").series.flatMap((r) =>
        r.values.map(([, v]) => Number(v)),
      );
      assert.ok(
        expiresIn.every((v) => v > 11 * 3600 && v <= 12 * 3600 + 1),
        "fresh 12 h tokens",
      );

      const file = process.env.EATR_DASHBOARD_SNAPSHOT;
      if (file) {
        const panels = allPanels(dashboard).map((panel) => ({
          ...panel,
          results: results
            .filter((r) => r.panelId === panel.id)
            .map((r) => ({ refId: r.refId, legendFormat: r.legendFormat, series: r.series })),
        }));
        await writeFile(
          file,
          JSON.stringify({ title: dashboard.title, start, end, step: STEP_S, variables, panels }),
        );
        console.log(`wrote the query results to ${file}`);
      }
    } finally {
      await prom?.stop();
      for (const c of controllers) await c.stop();
      await sts.close();
    }
  });
});

describe("chart: dashboards.enabled", () => {
  const file = loadDashboard();
  const dashboardMap = (objects: ReturnType<typeof render>["objects"]) =>
    objects.filter((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-dashboard"));

  it("off by default; on, a ConfigMap labelled grafana_dashboard=1 holding the repository's dashboard JSON", () => {
    assert.deepEqual(dashboardMap(render({ namespace: "eatr" }).objects), []);
    const { objects } = render({ namespace: "eatr", set: ["dashboards.enabled=true"] });
    const cm = only(dashboardMap(objects), "ConfigMap") as {
      metadata: {
        name: string;
        namespace?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
      };
      data?: Record<string, string>;
    };
    assert.equal(cm.metadata.name, "eatr-dashboard");
    assert.equal(cm.metadata.namespace, "eatr");
    assert.equal(cm.metadata.labels?.grafana_dashboard, "1");
    assert.equal(cm.metadata.labels?.["app.kubernetes.io/name"], "eatr");
    assert.equal(cm.metadata.annotations, undefined);
    assert.deepEqual(Object.keys(cm.data ?? {}), ["eatr.json"]);
    assert.deepEqual(JSON.parse(cm.data?.["eatr.json"] ?? ""), file);
  });

  it("label, value, namespace, extra labels and annotations are configurable, and the API server accepts the ConfigMap", async () => {
    const { core } = kube();
    const monitoring = unique("dash-monitoring");
    await createNamespace(core, monitoring);
    const { text, objects } = render({
      namespace: "eatr",
      set: [
        "dashboards.enabled=true",
        "dashboards.label=example\\.com/dashboard",
        "dashboards.labelValue=eatr",
        `dashboards.namespace=${monitoring}`,
        "dashboards.labels.team=platform",
        "dashboards.annotations.grafana_folder=Kubernetes",
      ],
    });
    const cm = only(dashboardMap(objects), "ConfigMap");
    assert.equal(cm.metadata.namespace, monitoring);
    assert.equal(cm.metadata.labels?.["example.com/dashboard"], "eatr");
    assert.equal(cm.metadata.labels?.grafana_dashboard, undefined);
    assert.equal(cm.metadata.labels?.team, "platform");
    assert.deepEqual(cm.metadata.annotations, { grafana_folder: "Kubernetes" });
    const manifest =
      text.split(/^---$/m).find((doc) => doc.includes("kind: ConfigMap") && doc.includes("-dashboard")) ??
      assert.fail("no ConfigMap document");
    const out = check(kubectl(["apply", "--dry-run=server", "-f", "-"], { input: manifest }));
    assert.match(out, /configmap\/eatr-dashboard created \(server dry run\)/);
  });

  it("the schema rejects a label value that is not a string, naming it", () => {
    assert.throws(
      () => render({ namespace: "eatr", set: ["dashboards.enabled=true", "dashboards.labelValue=1"] }),
      /dashboards\/labelValue.*got number, want string/s,
    );
    assert.throws(
      () => render({ namespace: "eatr", set: ["dashboards.namespace=Not_A_Namespace"] }),
      /dashboards\/namespace/,
    );
  });
});
