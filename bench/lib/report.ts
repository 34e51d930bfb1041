/**
 * What the bench prints and writes: the goals and whether they were met, a readable table per scenario,
 * and the scaling chart (SVG).
 */
import type {
  BaselineLoopResult,
  CeilingResult,
  DefaultsResult,
  ChurnResult,
  ColdResult,
  FailoverResult,
  LatencyResult,
  RenewalResult,
  SetupResult,
  StsResult,
  WarmResult,
} from "./scenarios.ts";

export interface ScalingPoint {
  namespaces: number;
  registries: number;
  coldSeconds: number;
  ceilingSeconds: number | undefined;
  ceilingRatio: number | undefined;
  peakRssMb: number;
  cpuSeconds: number;
  /** CPU used by other work on the machine during cold + ceiling (noise indicator). */
  otherCpuSeconds?: number;
}

export interface Results {
  setup?: SetupResult;
  cold?: ColdResult;
  ceiling?: CeilingResult;
  defaults?: DefaultsResult;
  "baseline-loop"?: BaselineLoopResult;
  warm?: WarmResult;
  churn?: ChurnResult;
  latency?: LatencyResult;
  renewal?: RenewalResult;
  failover?: FailoverResult | { error: string };
  scaling?: ScalingPoint[];
  sts?: StsResult[];
}

export interface Goal {
  goal: string;
  value: string;
  /** null: not measured in this run. */
  met: boolean | null;
  note: string;
}

export function evaluateGoals(r: Results, n: number, registries: number): Goal[] {
  const goals: Goal[] = [];
  const atScale = (target: number, what: string): string =>
    n >= target ? "" : `measured at N=${n}; the goal is stated for ${what}`;

  const ecr: [string, number, number][] = [];
  if (r.cold) ecr.push(["cold", r.cold.ecrCalls, registries]);
  if (r.warm) ecr.push(["warm", r.warm.ecrCalls, registries]);
  if (r.churn) ecr.push(["churn", r.churn.ecrCalls, registries]);
  if (r.latency) ecr.push(["latency", r.latency.ecrCalls, registries]);
  if (r.renewal) {
    const lifetimes = Math.max(
      1,
      Math.ceil(r.renewal.secondsFromStart / (r.renewal.renewalIntervalSeconds * 0.95)),
    );
    ecr.push(["renewal", r.renewal.ecrCalls, registries * lifetimes]);
  }
  goals.push({
    goal: `ecrCalls ≤ R (${registries}) per token lifetime, whatever N and churn`,
    value: ecr.map(([k, v]) => `${k} ${v}`).join(", ") || "-",
    met: ecr.length === 0 ? null : ecr.every(([, v, max]) => v <= max),
    note: r.renewal
      ? `renewal allows R per ${r.renewal.renewalIntervalSeconds}s interval begun (${ecr.find(([k]) => k === "renewal")?.[2] ?? "?"})`
      : "",
  });
  goals.push({
    goal: "churn.writes = 0",
    value: r.churn ? String(r.churn.writes) : "-",
    met: r.churn ? r.churn.writes === 0 : null,
    note: r.churn ? `${r.churn.updates} namespace updates in ${r.churn.seconds} s` : "",
  });
  goals.push({
    goal: "latency.p99Ms ≤ 250 at N = 10,000",
    value: r.latency ? `${r.latency.p99Ms} ms (p50 ${r.latency.p50Ms} ms)` : "-",
    met: r.latency ? r.latency.p99Ms <= 250 : null,
    note: r.latency ? atScale(10_000, "N = 10,000") : "",
  });
  goals.push({
    goal: "cold.ceilingRatio ≥ 0.8",
    value:
      r.cold?.ceilingRatio !== undefined
        ? `${r.cold.ceilingRatio} (write phase ${r.cold.ceilingRatioWritePhase ?? "-"})`
        : "-",
    met: r.cold?.ceilingRatio !== undefined ? r.cold.ceilingRatio >= 0.8 : null,
    note: r.ceiling
      ? `ceiling ${r.ceiling.writesPerSecond}/s, eatr ${r.cold?.writesPerSecond ?? "-"}/s end to end`
      : "",
  });
  goals.push({
    goal: "cold.peakRssMb ≤ 200 at 10,000 × 3",
    value: r.cold ? `${r.cold.peakRssMb} MiB` : "-",
    met: r.cold ? r.cold.peakRssMb <= 200 : null,
    note: r.cold ? atScale(10_000, "10,000 × 3") : "",
  });
  goals.push({
    goal: "warm.writes = 0",
    value: r.warm ? String(r.warm.writes) : "-",
    met: r.warm ? r.warm.writes === 0 : null,
    note: r.warm ? `and warm.ecrCalls = ${r.warm.ecrCalls}` : "",
  });
  if (r.renewal) {
    goals.push({
      goal: "renewal stays under qps + burst (check)",
      value: `${r.renewal.underRateLimit}`,
      met: r.renewal.underRateLimit,
      note: `peak ${r.renewal.peakWritesPerSecond}/s in 1 s, ${r.renewal.peakSustainedWritesPerSecond}/s over ≥10 s; qps ${r.renewal.kubeApiQps}, burst ${r.renewal.kubeApiBurst}`,
    });
  }
  const d = r.defaults;
  const loop = r["baseline-loop"];
  if (d && "seconds" in d) {
    const rejected = d.throttledByEatr + d.flowControl.rejectedTotal;
    goals.push({
      goal: "defaults: at least as fast as a sequential loop, no 429",
      value: `${d.seconds} s, ${rejected} 429s`,
      met: loop && "seconds" in loop ? d.seconds <= loop.seconds && rejected === 0 : null,
      note: [loop && "seconds" in loop ? `loop ${loop.seconds} s` : "", atScale(1_000, "1,000 namespaces")]
        .filter((x) => x !== "")
        .join("; "),
    });
  }
  return goals;
}

// ---------------------------------------------------------------------------------------------
// table

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function verbs(x: { apiRequestsByVerb: Record<string, number> }): string {
  return (
    Object.entries(x.apiRequestsByVerb)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none"
  );
}

const fmt = (x: number | undefined, unit = ""): string =>
  x === undefined || Number.isNaN(x) ? "-" : `${x}${unit}`;

export function renderTable(r: Results, goals: readonly Goal[], header: readonly string[]): string {
  const rows: string[][] = [["scenario", "metric", "value"]];
  const add = (scenario: string, metric: string, value: string): void => {
    rows.push([scenario, metric, value]);
  };
  // A scenario that failed holds only { error }: show it and nothing else of that scenario.
  const failed = new Set<string>();
  for (const [name, value] of Object.entries(r) as [string, unknown][]) {
    if (typeof value === "object" && value !== null && "error" in value && Object.keys(value).length === 1) {
      add(name, "error", String(value.error));
      failed.add(name);
    }
  }
  if (r.setup)
    add(
      "setup",
      "namespaces created",
      `${r.setup.namespaces} in ${r.setup.seconds} s (${r.setup.namespacesPerSecond}/s, concurrency ${r.setup.concurrency})`,
    );
  if (r.cold && !failed.has("cold")) {
    const c = r.cold;
    add(
      "cold",
      "seconds (spawn → all secrets)",
      `${c.seconds} s for ${c.secrets} secrets (ready after ${c.secondsToReady} s)`,
    );
    add(
      "cold",
      "write rate",
      `${c.writesPerSecond}/s end to end, ${c.writesPerSecondWritePhase}/s first→last secret`,
    );
    add(
      "cold",
      "writes",
      `${c.writes} (${Object.entries(c.writesByOutcome)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")})`,
    );
    add("cold", "ecrCalls", String(c.ecrCalls));
    add(
      "cold",
      "peakRssMb / cpuSeconds",
      `${c.peakRssMb} MiB / ${c.cpuSeconds} s (${c.cpuSecondsAtDone} s at done)`,
    );
    add("cold", "API requests", verbs(c));
    add("cold", "apiserver / etcd CPU", `${c.apiServerCpuSeconds} s / ${c.etcdCpuSeconds} s`);
    add("cold", "apiserver write latency", `${fmt(c.apiServerWriteLatencyMs, " ms")} mean, server side`);
    add("cold", "other processes' CPU", `${c.otherCpuSeconds} s (noise from other work on the machine)`);
    add(
      "cold",
      "ceilingRatio",
      `${fmt(c.ceilingRatio)} end to end, ${fmt(c.ceilingRatioWritePhase)} write phase`,
    );
  }
  if (r.ceiling && !failed.has("ceiling")) {
    const c = r.ceiling;
    add(
      "ceiling",
      "writesPerSecond",
      `${c.writesPerSecond}/s (${c.secrets} in ${c.seconds} s; ${c.writesPerSecondWritePhase}/s first→last)`,
    );
    add("ceiling", "client", `${c.client}, concurrency ${c.concurrency}, errors ${c.errors}`);
    add("ceiling", "apiserver write latency", `${fmt(c.apiServerWriteLatencyMs, " ms")} mean, server side`);
    add("ceiling", "other processes' CPU", `${c.otherCpuSeconds} s`);
    add(
      "ceiling",
      "apiserver / etcd / client CPU",
      `${c.apiServerCpuSeconds} s / ${c.etcdCpuSeconds} s / ${c.benchCpuSeconds} s`,
    );
  }
  const d = r.defaults;
  if (d && !failed.has("defaults")) {
    add(
      "defaults",
      "seconds (spawn → all secrets)",
      `${d.seconds} s for ${d.secrets} secrets at eatr's default -kube-api-qps/-burst (unbounded cold: ${fmt(r.cold?.seconds, " s")})`,
    );
    add("defaults", "write rate", `${d.writesPerSecond}/s end to end; as ${d.identity}`);
    add(
      "defaults",
      "429s",
      `${d.throttledByEatr} seen by eatr; ${d.flowControl.rejectedTotal} rejected by the API server (${JSON.stringify(d.flowControl.rejected)}); dispatched ${JSON.stringify(d.flowControl.dispatched)}`,
    );
    add("defaults", "peakRssMb / cpuSeconds", `${d.peakRssMb} MiB / ${d.cpuSeconds} s`);
  }
  const b = r["baseline-loop"];
  if (b && !failed.has("baseline-loop")) {
    add(
      "baseline-loop",
      "seconds",
      `${b.seconds} s for ${b.secrets} sequential creates (${b.writesPerSecond}/s, errors ${b.errors}); 429s ${b.flowControl.rejectedTotal}`,
    );
    if (d && !failed.has("defaults"))
      add(
        "baseline-loop",
        "eatr defaults / loop",
        `${fmt(Math.round((b.seconds / d.seconds) * 100) / 100)}× the loop's speed (loop s / eatr s)`,
      );
  }
  if (r.warm && !failed.has("warm")) {
    const w = r.warm;
    add("warm", "writes / ecrCalls", `${w.writes} / ${w.ecrCalls}`);
    add(
      "warm",
      "secondsToReady / to idle",
      `${w.secondsToReady} s / ${w.secondsToIdle} s (${w.reconciles} reconciles)`,
    );
    add("warm", "peakRssMb / cpuSeconds", `${w.peakRssMb} MiB / ${w.cpuSeconds} s`);
    add("warm", "API requests", verbs(w));
  }
  if (r.churn && !failed.has("churn")) {
    const c = r.churn;
    add(
      "churn",
      "updates",
      `${c.updates} in ${c.seconds} s (${c.updatesPerSecond}/s, ${c.updateErrors} errors)`,
    );
    add("churn", "writes / ecrCalls / reconciles", `${c.writes} / ${c.ecrCalls} / ${c.reconciles}`);
    add("churn", "controller cpuSeconds", String(c.cpuSeconds));
  }
  if (r.latency && !failed.has("latency")) {
    const l = r.latency;
    add(
      "latency",
      "p50 / p90 / p99 / max",
      `${l.p50Ms} / ${l.p90Ms} / ${l.p99Ms} / ${l.maxMs} ms (${l.samples} samples, ${l.background} namespaces in background)`,
    );
  }
  if (r.renewal && !failed.has("renewal")) {
    const x = r.renewal;
    add(
      "renewal",
      "seconds (first → last rewrite)",
      `${x.seconds} s for ${x.secrets} secrets (${x.secondsFromStart} s from spawn)`,
    );
    add("renewal", "writes / ecrCalls", `${x.writes} / ${x.ecrCalls}`);
    add(
      "renewal",
      "peak write rate",
      `${x.peakWritesPerSecond}/s (1 s), ${x.peakSustainedWritesPerSecond}/s (≥10 s); qps ${x.kubeApiQps} burst ${x.kubeApiBurst}`,
    );
    add("renewal", "underRateLimit", `${x.underRateLimit} (max excess over qps·t: ${x.maxExcessOverQps})`);
  }
  if (r.failover) {
    const f = r.failover;
    if ("error" in f) add("failover", "error", f.error);
    else if (!f.available) add("failover", "", `not available: ${f.note}`);
    else {
      for (const [name, x] of [
        ["SIGKILL leader", f.sigkill],
        ["SIGTERM leader", f.sigterm],
      ] as const) {
        if (x)
          add(
            "failover",
            `${name} → new ns served`,
            `median ${x.medianMs} ms, max ${x.maxMs} ms, min ${x.minMs} ms (${x.samples} kills)`,
          );
      }
      add(
        "failover",
        "setup",
        `${f.replicas ?? "?"} replicas, lease ${f.leaseDurationSeconds ?? "?"} s, renew deadline ${f.renewDeadlineSeconds ?? "?"} s, retry ${f.retryPeriodSeconds ?? "?"} s; ${f.background ?? "?"} namespaces; ecrCalls ${f.ecrCalls ?? "?"}`,
      );
      if (f.apiRequestsByVerbResource)
        add("failover", "API requests", verbs({ apiRequestsByVerb: f.apiRequestsByVerbResource }));
    }
  }
  for (const p of r.scaling ?? []) {
    add(
      "scaling",
      `N=${p.namespaces} × ${p.registries}`,
      `cold ${p.coldSeconds} s, ceiling ${fmt(p.ceilingSeconds, " s")}, ratio ${fmt(p.ceilingRatio)}, peak RSS ${p.peakRssMb} MiB, CPU ${p.cpuSeconds} s, others' CPU ${fmt(p.otherCpuSeconds, " s")}`,
    );
  }
  for (const t of r.sts ?? []) {
    const scope = `sts N=${t.namespaces} × ${t.registries}`;
    add(
      scope,
      "STS calls (window)",
      `${t.stsCalls} in ${t.windowSeconds} s (per registry ${Object.values(t.stsCallsPerRegistry).join(", ")}; ` +
        `rule predicts ${t.expectedStsCallsPerRegistry}: ${t.matchesRule ? "matches" : "DIFFERS"}); ` +
        `eatr counted ${t.stsSuccess} success, ${t.stsFailures} failed`,
    );
    add(
      scope,
      "ECR calls / writes",
      `${t.ecrCalls} ECR calls (${t.ecrCallsPerRegistry} per registry at -auth-token-renewal-interval ` +
        `${t.ecrRenewalIntervalSeconds}s), ${t.pullSecretWrites} pull secret writes, all secrets after ${t.secondsToAllSecrets} s`,
    );
    add(
      scope,
      "STS calls per registry per hour",
      `${t.stsCallsPerRegistryPerHour} at ${t.ecrRenewalIntervalSeconds}s ECR interval, ` +
        `${t.stsCallsPerRegistryPerHourAtDefaultInterval} at the default 6h (${t.credentialSeconds} s credentials, ` +
        `renewed after ${t.credentialsRenewAfterSeconds} s)`,
    );
  }
  const goalRows = [
    ["goal", "met", "value", "note"],
    ...goals.map((g) => [g.goal, g.met === null ? "n/a" : g.met ? "yes" : "NO", g.value, g.note]),
  ];
  return [...header, "", table(rows), "", table(goalRows), ""].join("\n");
}

// ---------------------------------------------------------------------------------------------
// scaling chart

interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  /** Where the value labels go: above the points (default), or to their right or left. */
  labels?: "above" | "right" | "left";
  points: [number, number][];
}

/** The smallest 1, 2, 2.5 or 5 × 10^k at least x. */
function niceStep(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function panel(
  x0: number,
  title: string,
  yLabel: string,
  xs: readonly number[],
  series: readonly Series[],
  hline?: { y: number; label: string },
): string {
  const w = 360;
  const h = 250;
  const left = x0 + 52;
  const right = x0 + w - 16;
  const top = 40;
  const bottom = h - 40;
  const xMax = niceStep(Math.max(...xs));
  const yData = Math.max(...series.flatMap((s) => s.points.map(([, y]) => y)), hline?.y ?? 0) * 1.1;
  const yStep = niceStep(yData / 4);
  const yMax = yStep * Math.max(1, Math.ceil(yData / yStep));
  const yTicks = Math.round(yMax / yStep);
  const px = (x: number): number => left + (x / xMax) * (right - left);
  const py = (y: number): number => bottom - (y / yMax) * (bottom - top);
  const out: string[] = [];
  out.push(
    `<text x="${x0 + w / 2}" y="20" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`,
  );
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>`);
  for (let i = 0; i <= yTicks; i++) {
    const y = yStep * i;
    out.push(`<line x1="${left}" y1="${py(y)}" x2="${right}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(
      `<text x="${left - 6}" y="${py(y) + 4}" text-anchor="end" font-size="11">${+y.toFixed(1)}</text>`,
    );
  }
  for (const x of xs) {
    out.push(`<line x1="${px(x)}" y1="${bottom}" x2="${px(x)}" y2="${bottom + 4}" stroke="#333"/>`);
    out.push(
      `<text x="${px(x)}" y="${bottom + 16}" text-anchor="middle" font-size="11">${x.toLocaleString("en-US")}</text>`,
    );
  }
  out.push(
    `<text x="${(left + right) / 2}" y="${h - 6}" text-anchor="middle" font-size="11">namespaces (N)</text>`,
  );
  out.push(
    `<text x="${x0 + 12}" y="${(top + bottom) / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${x0 + 12} ${(top + bottom) / 2})">${esc(yLabel)}</text>`,
  );
  if (hline) {
    out.push(
      `<line x1="${left}" y1="${py(hline.y)}" x2="${right}" y2="${py(hline.y)}" stroke="#c00" stroke-dasharray="4 3"/>`,
    );
    out.push(
      `<text x="${right}" y="${py(hline.y) - 4}" text-anchor="end" font-size="10" fill="#c00">${esc(hline.label)}</text>`,
    );
  }
  series.forEach((s, si) => {
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    out.push(
      `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ""}/>`,
    );
    for (const [x, y] of s.points) {
      out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
      const [lx, ly, anchor] =
        s.labels === "right"
          ? [px(x) + 6, py(y) - 5, "start"]
          : s.labels === "left"
            ? [px(x) - 6, py(y) - 5, "end"]
            : [px(x), py(y) - 7, "middle"];
      out.push(
        `<text x="${lx.toFixed(1)}" y="${ly.toFixed(1)}" text-anchor="${anchor}" font-size="10" fill="${s.color}">${+y.toFixed(1)}</text>`,
      );
    }
    const ly = top + 4 + si * 14;
    out.push(
      `<line x1="${left + 8}" y1="${ly}" x2="${left + 24}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ""}/>`,
    );
    out.push(`<text x="${left + 28}" y="${ly + 4}" font-size="11">${esc(s.name)}</text>`);
  });
  return out.join("\n");
}

/** Two panels: cold seconds (and the client ceiling for the same writes) and peak RSS, against N. */
export function renderScalingSvg(
  points: readonly ScalingPoint[],
  caption: string,
  baseline?: { label: string; points: readonly ScalingPoint[] },
  label = "eatr",
): string {
  const xs = points.map((p) => p.namespaces);
  const seconds: Series[] = [
    {
      name: `${label} cold start`,
      color: "#1f77b4",
      labels: baseline ? "left" : "above",
      points: points.map((p) => [p.namespaces, p.coldSeconds]),
    },
  ];
  /** The baseline run's series of one figure, dashed in one colour. */
  const baselineSeries = (what: string, value: (p: ScalingPoint) => number): Series[] =>
    baseline
      ? [
          {
            name: `${baseline.label} ${what}`,
            color: "#ff7f0e",
            dashed: true,
            points: baseline.points.map((p) => [p.namespaces, value(p)]),
          },
        ]
      : [];
  seconds.push(...baselineSeries("cold start", (p) => p.coldSeconds));
  const ceil = points.filter((p) => p.ceilingSeconds !== undefined);
  if (ceil.length > 0)
    seconds.push({
      name: "plain client (ceiling)",
      color: "#7f7f7f",
      dashed: true,
      labels: "right",
      points: ceil.map((p) => [p.namespaces, p.ceilingSeconds ?? 0]),
    });
  const rss: Series[] = [
    { name: `${label} peak RSS`, color: "#2ca02c", points: points.map((p) => [p.namespaces, p.peakRssMb]) },
    ...baselineSeries("peak RSS", (p) => p.peakRssMb),
  ];
  const registries = points[0]?.registries ?? 0;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="740" height="280" viewBox="0 0 740 280" font-family="sans-serif">`,
    `<rect width="740" height="280" fill="#fff"/>`,
    panel(0, `Cold start: seconds until N × ${registries} secrets`, "seconds", xs, seconds),
    panel(375, "Controller peak RSS (VmHWM)", "MiB", xs, rss, { y: 200, label: "goal 200 MiB" }),
    `<text x="370" y="276" text-anchor="middle" font-size="10" fill="#555">${esc(caption)}</text>`,
    `</svg>`,
    "",
  ].join("\n");
}
