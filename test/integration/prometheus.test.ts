/**
 * The chart's PrometheusRule and a real Prometheus: the rendered rules pass `promtool check rules`, the
 * unit tests in test/chart/alerts.test.yaml (`promtool test rules`) make every alert fire and stay quiet,
 * and a real Prometheus (Debian's 2.42, started here on 127.0.0.1) scrapes the running controller,
 * answers queries for the seed's metrics and the token expiry gauge, and evaluates the same rules on
 * eatr's real series.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { startPrometheus, type PrometheusServer } from "../env/prometheus.ts";
import { CHART_TEST_DIR, MONITORING_API_VERSIONS, only, render, run } from "../chart/helm.ts";
import {
  createCredentials,
  createLabelledNamespace,
  kube,
  MAIN_JS,
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

/** The release namespace the rules are rendered for (alerts.test.yaml's series carry it). */
const RELEASE_NAMESPACE = "eatr";
const ALERTS = [
  "EatrRegistryTokenExpiringSoon",
  "EatrReconcileErrors",
  "EatrEcrErrors",
  "EatrRegistryCredentialsProblem",
  "EatrNoLeader",
];

interface RuleGroup {
  name: string;
  rules: { alert?: string; expr: string; for?: string }[];
}

/** Renders the chart's PrometheusRule and writes its spec.groups as a Prometheus rules file. */
async function writeRules(dir: string, file: string, set: string[] = []): Promise<RuleGroup[]> {
  const { objects } = render({
    namespace: RELEASE_NAMESPACE,
    set: ["prometheusRule.enabled=true", ...set],
    apiVersions: MONITORING_API_VERSIONS,
  });
  const rule = only(objects, "PrometheusRule") as { spec?: { groups?: RuleGroup[] } };
  const groups = rule.spec?.groups ?? [];
  await writeFile(join(dir, file), toYaml({ groups }));
  return groups;
}

function promtool(args: string[], cwd: string): { status: number; output: string } {
  const result = run("promtool", args, { cwd });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("alert rules (promtool) and a real Prometheus scraping eatr", () => {
  let work: string;

  before(async () => {
    assert.equal(
      spawnSync("promtool", ["--version"]).status,
      0,
      "promtool must be installed (Debian package prometheus; .ci/run installs it)",
    );
    work = await mkdtemp(join(tmpdir(), "eatr-prometheus-test-"));
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("promtool check rules passes on the rendered PrometheusRule (defaults and variants)", async () => {
    const variants: [string, string[], string[]][] = [
      ["defaults", [], ALERTS],
      ["matchNamespace off", ["prometheusRule.matchNamespace=false"], ALERTS],
      ["leader election off", ["replicaCount=1", "leaderElection.enabled=false"], ALERTS.slice(0, 4)],
      ["extra labels", ["prometheusRule.additionalAlertLabels.team=platform"], ALERTS],
    ];
    for (const [name, set, alerts] of variants) {
      const groups = await writeRules(work, "check.yaml", set);
      assert.deepEqual(
        groups.flatMap((g) => g.rules.map((r) => r.alert)),
        alerts,
        name,
      );
      const { status, output } = promtool(["check", "rules", "check.yaml"], work);
      assert.equal(status, 0, `${name}: ${output}`);
      assert.match(output, new RegExp(`SUCCESS: ${alerts.length} rules found`), name);
    }
  });

  it("promtool test rules: every alert fires and stays quiet as test/chart/alerts.test.yaml expects", async () => {
    const testFile = join(CHART_TEST_DIR, "alerts.test.yaml");
    await copyFile(testFile, join(work, "alerts.test.yaml"));
    await writeRules(work, "rules.yaml");
    const { status, output } = promtool(["test", "rules", "alerts.test.yaml"], work);
    assert.equal(status, 0, output);
    assert.match(output, /SUCCESS/);

    // Every alert has a case where it fires and one where it does not.
    const tests = parseYaml(await readFile(testFile, "utf8")) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of ALERTS) {
      const mine = cases.filter((c) => c.alertname === alert);
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} has a firing case`,
      );
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} has a quiet case`,
      );
    }

    // The tests notice a wrong rule: a lower threshold, or alerts that ignore the release namespace.
    for (const wrong of [
      ["prometheusRule.alerts.tokenExpiringSoon.thresholdSeconds=1000"],
      ["prometheusRule.matchNamespace=false"],
      ["prometheusRule.alerts.noLeader.for=1m"],
    ]) {
      await writeRules(work, "rules.yaml", wrong);
      const mutated = promtool(["test", "rules", "alerts.test.yaml"], work);
      assert.notEqual(mutated.status, 0, `promtool test rules fails with ${wrong.join(" ")}`);
    }
  });

  it("a real Prometheus scrapes eatr: seed metrics, token expiry, and the alert rules on real series", async () => {
    const leaderMerged = /-leader-elect\b/.test(
      spawnSync(process.execPath, [MAIN_JS, "--help"], { encoding: "utf8" }).stdout,
    );
    const { core } = kube();
    const hostNs = uniqueHostNamespace();
    const key = newKey(randomAccountId());
    const host = registryHost(key.accountId, "eu-west-1");
    const badKey = newKey(randomAccountId()); // unknown to ECR: every call fails
    const badHost = registryHost(badKey.accountId, "us-east-1");
    const ecr = await startEcr([key]);
    await createCredentials(core, hostNs, host, key);
    await createCredentials(core, hostNs, badHost, badKey);
    const ns = unique("prom");
    const badNs = unique("prom-bad");
    await createLabelledNamespace(core, ns, [host]);
    await createLabelledNamespace(core, badNs, [badHost]);
    const controller = await startController({
      ecrEndpoint: ecr.endpoint,
      hostNamespace: hostNs,
      // The smallest interval eatr accepts: the token is renewed about 20 s after it was fetched.
      extraArgs: ["-auth-token-renewal-interval", "20s"],
    });
    await waitFor(() => readSecret(core, ns, host), { message: `pull secret ${ns}/${host}` });

    await writeRules(work, "live-rules.yaml");
    let prom: PrometheusServer | undefined;
    try {
      const started = performance.now();
      prom = await startPrometheus({
        targets: [`127.0.0.1:${controller.port}`],
        // What a ServiceMonitor adds: the release namespace (the alerts match on it).
        targetLabels: { namespace: RELEASE_NAMESPACE },
        ruleFiles: [join(work, "live-rules.yaml")],
        interval: "1s",
      });
      console.log(`prometheus ready in ${Math.round(performance.now() - started)} ms at ${prom.url}`);
      const p = prom;
      const value = async (expr: string): Promise<number | undefined> => {
        const samples = await p.query(expr);
        return samples.length === 1 ? Number(samples[0]?.value[1]) : undefined;
      };

      const targets = await waitFor(
        async () => {
          const data = await p.api<{ activeTargets: { health: string; lastError: string }[] }>(
            "/api/v1/targets",
          );
          return data.activeTargets.length === 1 && data.activeTargets[0]?.health === "up" ? data : undefined;
        },
        { message: "the eatr target to be up" },
      );
      assert.equal(targets.activeTargets[0]?.lastError, "");

      // secrets_created_total{namespace,name}: the target's namespace label wins, so eatr's own
      // "namespace" arrives as exported_namespace (as under a ServiceMonitor without honorLabels).
      const created = await waitFor(
        () =>
          value(
            `secrets_created_total{exported_namespace="${ns}", name="${host}", namespace="${RELEASE_NAMESPACE}"}`,
          ),
        { message: "secrets_created_total in Prometheus" },
      );
      assert.ok(created >= 1, `secrets_created_total ${created}`); // renewals rewrite it every 20 s

      // secret_renewals_total: eatr runs with -auth-token-renewal-interval 20s, so the cached token is
      // replaced by a fresh one about 20 s after it was fetched.
      const renewals = await waitFor(
        async () => {
          const v = await value("secret_renewals_total");
          return v !== undefined && v >= 1 ? v : undefined;
        },
        { message: "secret_renewals_total to count a renewal", timeoutMs: 90_000 },
      );
      assert.ok(renewals >= 1);

      // eatr_registry_token_expiry_timestamp_seconds: the expiry ECR gave one of the registry's tokens.
      const expiry = await waitFor(
        () => value(`eatr_registry_token_expiry_timestamp_seconds{registry="${host}"}`),
        {
          message: "the expiry gauge",
        },
      );
      const issued = ecr.tokens().filter((t) => t.accessKeyId === key.accessKeyId);
      assert.ok(
        issued.some((t) => t.expiresAt !== undefined && Math.abs(t.expiresAt.getTime() / 1000 - expiry) < 1),
        `the gauge ${expiry} is the expiry of a token ECR issued for ${host}`,
      );
      assert.ok(
        Math.abs(expiry - (Date.now() / 1000 + 12 * 3600)) < 120,
        `expiry ${expiry} is about 12 h ahead`,
      );

      // The chart's rules evaluate cleanly on eatr's real series...
      const rules = await waitFor(
        async () => {
          const data = await p.api<{
            groups: { rules: { name: string; health: string; lastError?: string }[] }[];
          }>("/api/v1/rules");
          const all = data.groups.flatMap((g) => g.rules);
          return all.length === ALERTS.length && all.every((r) => r.health === "ok") ? all : undefined;
        },
        { message: "every rule evaluated with health ok" },
      );
      assert.deepEqual(rules.map((r) => r.name).sort(), [...ALERTS].sort());
      // ...and the failing registry makes EatrEcrErrors pend (it fires after `for`, 15m), with its labels.
      const pending = await waitFor(
        async () => {
          const data = await p.api<{ alerts: { labels: Record<string, string>; state: string }[] }>(
            "/api/v1/alerts",
          );
          return data.alerts.some((a) => a.labels.alertname === "EatrEcrErrors") ? data.alerts : undefined;
        },
        { message: "EatrEcrErrors pending for the registry with unknown keys", timeoutMs: 60_000 },
      );
      const ecrAlert = pending.find((a) => a.labels.alertname === "EatrEcrErrors");
      assert.equal(ecrAlert?.labels.registry, badHost);
      assert.equal(ecrAlert?.labels.namespace, RELEASE_NAMESPACE);
      assert.notEqual(ecrAlert?.labels.result, "success");
      assert.ok(
        !pending.some((a) => a.labels.alertname === "EatrRegistryTokenExpiringSoon"),
        "a fresh token raises no expiry alert",
      );
      const noLeader = pending.some((a) => a.labels.alertname === "EatrNoLeader");
      // Before leader election lands eatr exports no leader_election_master_status: absent() pends.
      assert.equal(noLeader, !leaderMerged, `EatrNoLeader pending: ${String(noLeader)}`);
      console.log(
        `alerts on real series: ${pending.map((a) => `${a.labels.alertname ?? ""}(${a.state})`).join(", ")}`,
      );
    } finally {
      await prom?.stop();
      assert.equal(await controller.stop(), 0);
    }
  });
});
