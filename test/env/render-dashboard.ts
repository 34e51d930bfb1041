/**
 * Draws eatr's Grafana dashboard as an SVG from real query results, for the README's screenshot. Not
 * Grafana: the same panels, grid, units, thresholds and queries, drawn by this file from what a real
 * Prometheus answered in test/integration/dashboard.test.ts.
 *
 *   EATR_DASHBOARD_SNAPSHOT=/tmp/snapshot.json npm run test:integration -- test/integration/dashboard.test.ts
 *   node test/env/render-dashboard.ts /tmp/snapshot.json docs/dashboard.svg
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Panel, ThresholdStep } from "./dashboard.ts";

interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

interface SnapshotPanel extends Panel {
  results?: { refId: string; legendFormat: string; series: Series[] }[];
}

interface Snapshot {
  title: string;
  start: number;
  end: number;
  variables: Record<string, string>;
  panels: SnapshotPanel[];
}

const WIDTH = 1600;
const MARGIN = 16;
const HEADER = 64;
const COL = (WIDTH - 2 * MARGIN) / 24;
const ROW = 30;
const GAP = 6;
const PALETTE = [
  "#7eb26d",
  "#eab839",
  "#6ed0e0",
  "#ef843c",
  "#e24d42",
  "#1f78c1",
  "#ba43a9",
  "#705da0",
  "#508642",
  "#cca300",
];
const COLORS: Record<string, string> = {
  green: "#73bf69",
  red: "#f2495c",
  orange: "#ff9830",
  transparent: "none",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const color = (name: string) => COLORS[name] ?? name;

function fmt(value: number, unit: string | undefined): string {
  const n = (v: number, d = 2) =>
    (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString())
      .replace(/\.0+$/, "")
      .slice(0, 6 + d);
  if (!Number.isFinite(value)) return "–";
  switch (unit) {
    case "s": {
      const a = Math.abs(value);
      if (a >= 3600) return `${n(value / 3600)} h`;
      if (a >= 60) return `${n(value / 60)} min`;
      if (a >= 1 || a === 0) return `${n(value)} s`;
      return `${n(value * 1000)} ms`;
    }
    case "bytes":
      return `${n(value / 1024 / 1024)} MiB`;
    case "reqps":
      return `${n(value)} req/s`;
    case "wps":
      return `${n(value)} wr/s`;
    case "ops":
      return `${n(value)} ops/s`;
    default:
      return n(value);
  }
}

/** Grafana's legend: {{label}} replaced by the series' label value. */
function legend(format: string, metric: Record<string, string>): string {
  const text = format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, l: string) => metric[l] ?? "").trim();
  // Registry hosts are long: keep the account and region.
  return text.replace(/(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/g, "$1…$2");
}

function thresholdColor(steps: ThresholdStep[], value: number): string {
  let c = steps[0]?.color ?? "green";
  for (const s of steps) if (s.value !== null && value >= s.value) c = s.color;
  return color(c);
}

function panelFrame(p: SnapshotPanel): { x: number; y: number; w: number; h: number } {
  const g = p.gridPos ?? { x: 0, y: 0, w: 24, h: 8 };
  return {
    x: MARGIN + g.x * COL + GAP / 2,
    y: HEADER + g.y * ROW + GAP / 2,
    w: g.w * COL - GAP,
    h: g.h * ROW - GAP,
  };
}

function drawStat(p: SnapshotPanel, f: { x: number; y: number; w: number; h: number }): string {
  const unit = p.fieldConfig?.defaults?.unit;
  const steps = p.fieldConfig?.defaults?.thresholds?.steps ?? [];
  const items = (p.results ?? []).flatMap((r) =>
    r.series.map((s) => {
      const last = [...s.values].reverse().find(([, v]) => Number.isFinite(Number(v)));
      return { name: legend(r.legendFormat, s.metric), value: last ? Number(last[1]) : NaN };
    }),
  );
  const top = f.y + 30;
  const avail = f.h - 36;
  const each = items.length > 0 ? Math.min(avail / items.length, 70) : avail;
  return items
    .map((it, i) => {
      const y = top + i * each;
      const bg = Number.isFinite(it.value) ? thresholdColor(steps, it.value) : "#444";
      const size = Math.max(12, Math.min(28, each * 0.45));
      const valueText = fmt(it.value, unit);
      const room = Math.floor((f.w - 40 - valueText.length * size * 0.62) / 6.5);
      const name = it.name.length > room ? `${it.name.slice(0, Math.max(1, room - 1))}…` : it.name;
      return (
        `<rect x="${f.x + 8}" y="${y}" width="${f.w - 16}" height="${each - 4}" rx="3" fill="${bg}" fill-opacity="0.85"/>` +
        `<text x="${f.x + 16}" y="${y + each / 2}" font-size="12" fill="#fff" dominant-baseline="middle">${esc(name)}</text>` +
        `<text x="${f.x + f.w - 16}" y="${y + each / 2}" font-size="${size}" font-weight="600" fill="#fff" text-anchor="end" dominant-baseline="middle">${esc(valueText)}</text>`
      );
    })
    .join("");
}

function drawTimeseries(
  p: SnapshotPanel,
  f: { x: number; y: number; w: number; h: number },
  start: number,
  end: number,
): string {
  const unit = p.fieldConfig?.defaults?.unit;
  const lines = (p.results ?? []).flatMap((r) =>
    r.series.map((s) => ({ name: legend(r.legendFormat, s.metric), values: s.values })),
  );
  const legendRows = Math.min(3, Math.ceil(lines.length / 2));
  const plot = { x: f.x + 64, y: f.y + 30, w: f.w - 76, h: f.h - 58 - legendRows * 15 };
  const all = lines.flatMap((l) => l.values.map(([, v]) => Number(v)).filter(Number.isFinite));
  const steps = (p.fieldConfig?.defaults?.thresholds?.steps ?? []).filter(
    (s) => s.value !== null && color(s.color) !== "none",
  );
  let lo = p.fieldConfig?.defaults?.min ?? Math.min(0, ...all);
  let hi = Math.max(...all, ...steps.map((s) => s.value ?? 0).filter((v) => v <= Math.max(...all, 0) * 1.5));
  if (!Number.isFinite(hi) || hi <= lo) hi = lo + 1;
  hi += (hi - lo) * 0.08;
  if (!Number.isFinite(lo)) lo = 0;
  const sx = (t: number) => plot.x + ((t - start) / Math.max(1, end - start)) * plot.w;
  const sy = (v: number) => plot.y + plot.h - ((v - lo) / (hi - lo)) * plot.h;
  let out = "";
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    const y = sy(v);
    out += `<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${y}" y2="${y}" stroke="#2c3235"/>`;
    out += `<text x="${plot.x - 6}" y="${y}" font-size="10" fill="#9fa7b3" text-anchor="end" dominant-baseline="middle">${esc(fmt(v, unit))}</text>`;
  }
  for (let i = 0; i <= 3; i++) {
    const t = start + ((end - start) * i) / 3;
    const label = new Date(t * 1000).toISOString().slice(11, 19);
    out += `<text x="${sx(t)}" y="${plot.y + plot.h + 12}" font-size="10" fill="#9fa7b3" text-anchor="middle">${label}</text>`;
  }
  if (
    p.fieldConfig?.defaults?.thresholds &&
    (p.fieldConfig.defaults as { custom?: { thresholdsStyle?: { mode?: string } } }).custom?.thresholdsStyle
      ?.mode === "line"
  ) {
    for (const s of steps) {
      if (s.value === null || s.value > hi || s.value < lo) continue;
      out += `<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${sy(s.value)}" y2="${sy(s.value)}" stroke="${color(s.color)}" stroke-dasharray="6 4"/>`;
    }
  }
  lines.forEach((l, i) => {
    const c = PALETTE[i % PALETTE.length] ?? "#fff";
    const pts = l.values
      .filter(([, v]) => Number.isFinite(Number(v)))
      .map(([t, v]) => `${sx(t).toFixed(1)},${sy(Number(v)).toFixed(1)}`);
    if (pts.length > 0)
      out += `<polyline points="${pts.join(" ")}" fill="none" stroke="${c}" stroke-width="1.6"/>`;
  });
  const shown = lines.slice(0, legendRows * 2);
  shown.forEach((l, i) => {
    const c = PALETTE[i % PALETTE.length] ?? "#fff";
    const lx = f.x + 12 + (i % 2) * (f.w / 2);
    const ly = f.y + f.h - 10 - (legendRows - 1 - Math.floor(i / 2)) * 15;
    const max = Math.floor(f.w / 2 / 6.2) - 3;
    const name = l.name.length > max ? `${l.name.slice(0, max - 1)}…` : l.name;
    out += `<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${c}"/><text x="${lx + 14}" y="${ly - 4}" font-size="10" fill="#ccccdc">${esc(name)}</text>`;
  });
  if (lines.length > shown.length) {
    out += `<text x="${f.x + f.w - 10}" y="${f.y + 18}" font-size="10" fill="#9fa7b3" text-anchor="end">+${lines.length - shown.length} more</text>`;
  }
  return out;
}

/** The SVG of the dashboard with the snapshot's data. */
export function renderDashboard(snap: Snapshot): string {
  const bottom = Math.max(...snap.panels.map((p) => (p.gridPos?.y ?? 0) + (p.gridPos?.h ?? 0)));
  const height = HEADER + bottom * ROW + MARGIN + 18;
  let body = "";
  for (const p of snap.panels) {
    const f = panelFrame(p);
    const title = typeof p.title === "string" ? p.title : "";
    if (p.type === "row") {
      body += `<text x="${f.x}" y="${f.y + 18}" font-size="15" font-weight="600" fill="#ccccdc">⌄ ${esc(title)}</text>`;
      continue;
    }
    body += `<rect x="${f.x}" y="${f.y}" width="${f.w}" height="${f.h}" rx="3" fill="#181b1f" stroke="#2c3235"/>`;
    body += `<text x="${f.x + 10}" y="${f.y + 19}" font-size="13" font-weight="600" fill="#ccccdc">${esc(title)}</text>`;
    body += p.type === "stat" ? drawStat(p, f) : drawTimeseries(p, f, snap.start, snap.end);
  }
  const from = new Date(snap.start * 1000).toISOString().replace(".000Z", "Z");
  const to = new Date(snap.end * 1000).toISOString().replace(".000Z", "Z");
  const vars = Object.entries(snap.variables)
    .map(([k, v]) => `${k}: ${v === ".*" ? "All" : v}`)
    .join("   ");
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">` +
    `<rect width="100%" height="100%" fill="#111217"/>` +
    `<text x="${MARGIN}" y="28" font-size="20" font-weight="600" fill="#ccccdc">${esc(snap.title)}</text>` +
    `<text x="${MARGIN}" y="50" font-size="12" fill="#9fa7b3">${esc(vars)}</text>` +
    `<text x="${WIDTH - MARGIN}" y="28" font-size="12" fill="#9fa7b3" text-anchor="end">${esc(`${from} to ${to}`)}</text>` +
    body +
    `<text x="${MARGIN}" y="${height - 10}" font-size="11" fill="#6e7380">Drawn by test/env/render-dashboard.ts from the dashboard's own queries, answered by a real Prometheus scraping two eatr replicas in test/integration/dashboard.test.ts (not a Grafana screenshot).</text>` +
    `</svg>\n`
  );
}

if (import.meta.main) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write("usage: node test/env/render-dashboard.ts <snapshot.json> <out.svg>\n");
    process.exit(2);
  }
  writeFileSync(output, renderDashboard(JSON.parse(readFileSync(input, "utf8")) as Snapshot));
  process.stdout.write(`wrote ${output}\n`);
}
