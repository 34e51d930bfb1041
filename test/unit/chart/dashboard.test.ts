/**
 * The Grafana dashboard (charts/eatr/dashboards/eatr.json): it type-checks against Grafana's own dashboard
 * types (@grafana/schema, generated from Grafana's CUE schema of the dashboard kind), passes the structural
 * checks of test/env/dashboard.ts, selects only metrics eatr registers, covers every metric the issue asks
 * a panel for, and uses the chart's default alert thresholds.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import ts from "typescript";
import { parse as parseYaml } from "yaml";
import { PrometheusLeaderElectionMetrics } from "../../../src/leader/metrics.ts";
import { ControllerMetrics } from "../../../src/metrics/metrics.ts";
import { PrometheusWorkqueueMetrics } from "../../../src/queue/metrics.ts";
import { ReconcileMetrics } from "../../../src/queue/reconcile-metrics.ts";
import {
  allPanels,
  DASHBOARD_FILE,
  dashboardText,
  loadDashboard,
  metricNames,
  panelQueries,
  structuralProblems,
  substitute,
  type Dashboard,
  type Panel,
} from "../../env/dashboard.ts";

const CHART_DIR = dirname(dirname(DASHBOARD_FILE));
/** Grafana's generated TypeScript types of the dashboard kind (schemaVersion 39 era, Grafana 11.0). */
const GRAFANA_TYPES = "@grafana/schema/dist/esm/raw/dashboard/x/dashboard_types.gen.js";
/** Lines of the checked file before the dashboard's JSON text. */
const PREFIX = [
  `import type { Dashboard } from "${GRAFANA_TYPES}";`,
  // JSON has no enums: a string enum of Grafana's types accepts its values as plain strings.
  "type Json<T> = unknown extends T ? T : T extends string ? `${T}` : T extends number | boolean | null | undefined ? T",
  "  : T extends readonly (infer U)[] ? Json<U>[] : { [K in keyof T]: Json<T[K]> };",
  "export const dashboard: Json<Dashboard> = ",
];

/**
 * Type-checks a dashboard's JSON text as a literal of Grafana's Dashboard type (excess properties, wrong
 * types, missing required fields and values outside Grafana's enums are errors). Returns the compiler's
 * messages with the JSON's line numbers.
 */
function grafanaTypeErrors(json: string): string[] {
  const file = join(CHART_DIR, "dashboards", "__grafana_type_check__.ts");
  const text = `${PREFIX.join("\n")}${json};\n`;
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, version, onError, create) =>
    name === file ? ts.createSourceFile(name, text, version) : getSourceFile(name, version, onError, create);
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? text : readFile(name));
  const program = ts.createProgram({ rootNames: [file], options, host });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (d.file?.fileName !== file || d.start === undefined) return message;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line - PREFIX.length + 2;
    return `eatr.json line ${line}: ${message}`;
  });
}

function clone(d: Dashboard): Dashboard {
  return structuredClone(d);
}

function panelTitled(d: Dashboard, title: string): Panel {
  return allPanels(d).find((p) => p.title === title) ?? assert.fail(`no panel titled ${title}`);
}

/** Every metric name eatr exposes: its registries' metrics, histograms with their _bucket/_sum/_count. */
async function exportedMetricNames(): Promise<Set<string>> {
  const registry = new Registry();
  new ControllerMetrics(registry);
  new PrometheusWorkqueueMetrics({ registry });
  new PrometheusLeaderElectionMetrics({ registry });
  new ReconcileMetrics({ registry, controller: "eatr" });
  const names = new Set<string>(["secrets_created_total"]); // the per-secret counter lives off the registry
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(m.name + s);
  }
  return names;
}

describe("the Grafana dashboard", () => {
  it("type-checks against Grafana's dashboard types (@grafana/schema 11.0.7)", () => {
    assert.deepEqual(grafanaTypeErrors(dashboardText()), []);
  });

  it("the type check rejects a misspelt field, a wrong type and a value Grafana does not know", () => {
    const cases: [string, (d: Dashboard) => void, RegExp][] = [
      [
        "gridpos",
        (d) => Object.assign(d.panels?.[1] ?? {}, { gridpos: { x: 0, y: 0, w: 1, h: 1 } }),
        /gridpos/,
      ],
      [
        "schemaVersion as a string",
        (d) => Object.assign(d, { schemaVersion: "39" }),
        /Type 'string' is not assignable to type 'number'/,
      ],
      [
        "thresholds mode",
        (d) => {
          const t = d.panels?.[1]?.fieldConfig?.defaults?.thresholds;
          assert.ok(t);
          t.mode = "absolut";
        },
        /absolut/,
      ],
      [
        "a variable without a type",
        (d) => Object.assign(d.templating?.list?.[1] ?? {}, { type: undefined }),
        /type/,
      ],
    ];
    for (const [name, mutate, expected] of cases) {
      const d = clone(loadDashboard());
      mutate(d);
      const errors = grafanaTypeErrors(JSON.stringify(d, null, 2));
      assert.ok(errors.length > 0, `${name}: no error`);
      assert.match(errors.join("\n"), expected, name);
    }
  });

  it("passes the structural checks: ids, grid, datasources, targets, thresholds, variables", () => {
    assert.deepEqual(structuralProblems(loadDashboard()), []);
  });

  it("the structural checks find duplicate ids, overlapping panels, targets without refId and unknown variables", () => {
    const d = clone(loadDashboard());
    const panels = allPanels(d).filter((p) => p.type !== "row");
    const [a, b, c] = panels;
    assert.ok(a && b && c);
    b.id = a.id;
    c.gridPos = { ...(a.gridPos ?? { x: 0, y: 0, w: 1, h: 1 }) };
    const target = a.targets?.[0];
    assert.ok(target);
    delete target.refId;
    target.expr = 'up{cluster="$cluster"}';
    const problems = structuralProblems(d).join("\n");
    assert.match(problems, /is used by another panel/);
    assert.match(problems, /overlaps panel/);
    assert.match(problems, /no refId/);
    assert.match(problems, /uses \$cluster, which is not a variable/);
  });

  it("selects only metrics eatr exports", async () => {
    const exported = await exportedMetricNames();
    const queries = panelQueries(loadDashboard());
    assert.ok(queries.length >= 20, `${queries.length} queries`);
    for (const q of queries) {
      const names = metricNames(q.expr);
      assert.ok(names.length > 0, `${q.panelTitle} ${q.refId}: no metric in ${q.expr}`);
      for (const name of names) {
        assert.ok(exported.has(name), `${q.panelTitle} ${q.refId}: eatr exports no metric ${name}`);
      }
    }
    // The check notices a typo.
    assert.ok(!exported.has("eatr_registry_token_expiry_timestamp_second"));
  });

  it("has a panel for every metric the issue names", () => {
    const used = new Set(panelQueries(loadDashboard()).flatMap((q) => metricNames(q.expr)));
    for (const name of [
      "eatr_registry_token_expiry_timestamp_seconds",
      "eatr_registry_token_fetched_timestamp_seconds",
      "eatr_ecr_token_requests_total",
      "eatr_sts_requests_total",
      "eatr_pull_secret_writes_total",
      "eatr_pull_secret_conflicts_total",
      "eatr_registry_credentials_problem",
      "eatr_credential_errors_total",
      "controller_runtime_reconcile_total",
      "controller_runtime_reconcile_errors_total",
      "controller_runtime_reconcile_time_seconds_bucket",
      "workqueue_depth",
      "leader_election_master_status",
      "eatr_leader_election_transitions_total",
      "process_resident_memory_bytes",
      "process_cpu_seconds_total",
    ]) {
      assert.ok(used.has(name), `no panel queries ${name}`);
    }
  });

  it("uses the chart's default alert thresholds and memory limit", () => {
    const values = parseYaml(readFileSync(join(CHART_DIR, "values.yaml"), "utf8")) as {
      prometheusRule: { alerts: { tokenExpiringSoon: { thresholdSeconds: number } } };
      resources: { limits: { memory: string } };
    };
    const d = loadDashboard();
    const steps = (title: string) =>
      (panelTitled(d, title).fieldConfig?.defaults?.thresholds?.steps ?? []).map((s) => s.value);
    const expiry = values.prometheusRule.alerts.tokenExpiringSoon.thresholdSeconds;
    assert.deepEqual(steps("Token expires in"), [null, expiry]);
    assert.deepEqual(steps("Token expiry countdown"), [null, expiry]);
    assert.equal(steps("Last successful refresh").at(-1), 12 * 3600 - expiry);
    const mi = /^(\d+)Mi$/.exec(values.resources.limits.memory);
    assert.ok(mi, values.resources.limits.memory);
    assert.deepEqual(steps("Memory"), [null, Number(mi[1]) * 1024 * 1024]);
    // The alert expressions the panels repeat.
    const exprs = panelQueries(d).map((q) => q.expr);
    assert.ok(
      exprs.some((e) =>
        /rate\(controller_runtime_reconcile_errors_total\{.*controller="eatr".*\}\[5m\]\)/.test(e),
      ),
    );
    assert.ok(
      exprs.some((e) => /rate\(eatr_ecr_token_requests_total\{.*result!="success".*\}\[10m\]\)/.test(e)),
    );
  });

  it("substitutes variables and intervals as Grafana does, and refuses an unknown variable", () => {
    const s = {
      variables: { job: "eatr", namespace: ".*", registry: "a|b" },
      rateInterval: "1m",
      interval: "15s",
    };
    assert.equal(
      substitute(
        'rate(x{job=~"$job", namespace=~"${namespace}", registry=~"$registry"}[$__rate_interval])',
        s,
      ),
      'rate(x{job=~"eatr", namespace=~".*", registry=~"a|b"}[1m])',
    );
    assert.throws(() => substitute('x{a="$nope"}', s), /\$nope .* is not a defined variable/);
  });
});
