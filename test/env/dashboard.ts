/**
 * eatr's Grafana dashboard (charts/eatr/dashboards/eatr.json) as data for tests and the screenshot script:
 * its panels and their Prometheus queries, the variables' label_values() queries, the substitution Grafana
 * does before it sends a query ($job, ${datasource}, $__rate_interval), and a structural check of what
 * Grafana's schema cannot say (unique ids, panels that do not overlap, every target's refId, expr and
 * datasource, variables that exist).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const DASHBOARD_FILE = fileURLToPath(
  new URL("../../charts/eatr/dashboards/eatr.json", import.meta.url),
);
/** The schemaVersion the dashboard declares (Grafana 10.3 to 11.x write 39). */
export const SCHEMA_VERSION = 39;
/** Grafana's grid is 24 columns wide. */
const GRID_COLUMNS = 24;
/** Grafana's own variables, set by Grafana for every query. */
const GLOBAL_VARIABLES = new Set(["__rate_interval", "__interval", "__interval_ms", "__range", "__range_s"]);

export interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface DataSourceRef {
  type?: string;
  uid?: string;
}

export interface Target {
  refId?: unknown;
  expr?: unknown;
  legendFormat?: unknown;
  datasource?: DataSourceRef;
  [key: string]: unknown;
}

export interface ThresholdStep {
  color: string;
  value: number | null;
}

export interface Panel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  gridPos?: GridPos;
  datasource?: DataSourceRef;
  targets?: Target[];
  panels?: Panel[];
  fieldConfig?: {
    defaults?: { unit?: string; min?: number; thresholds?: { mode: string; steps: ThresholdStep[] } };
  };
  [key: string]: unknown;
}

export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  allValue?: string;
  includeAll?: boolean;
  datasource?: DataSourceRef;
  [key: string]: unknown;
}

export interface Dashboard {
  schemaVersion?: unknown;
  uid?: unknown;
  title?: unknown;
  panels?: Panel[];
  templating?: { list?: Variable[] };
  [key: string]: unknown;
}

/** One query of one panel, as written in the dashboard. */
export interface PanelQuery {
  panelId: number;
  panelTitle: string;
  panelType: string;
  refId: string;
  expr: string;
  legendFormat: string;
}

/** The dashboard file's text. */
export function dashboardText(file = DASHBOARD_FILE): string {
  return readFileSync(file, "utf8");
}

/** The parsed dashboard. */
export function loadDashboard(file = DASHBOARD_FILE): Dashboard {
  return JSON.parse(dashboardText(file)) as Dashboard;
}

/** Every panel, rows' nested panels included, in the file's order. */
export function allPanels(d: Dashboard): Panel[] {
  return (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every query of every panel that is not a row. */
export function panelQueries(d: Dashboard): PanelQuery[] {
  return allPanels(d)
    .filter((p) => p.type !== "row")
    .flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        panelId: Number(p.id),
        panelTitle: String(p.title),
        panelType: String(p.type),
        refId: String(t.refId),
        expr: String(t.expr),
        legendFormat: typeof t.legendFormat === "string" ? t.legendFormat : "",
      })),
    );
}

/** The variable's query text (Grafana stores it as a string or as { query }). */
export function variableQuery(v: Variable): string | undefined {
  return typeof v.query === "string" ? v.query : v.query?.query;
}

/** `label_values(selector, label)` split into its parts; undefined for another form. */
export function parseLabelValues(query: string): { selector: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/s.exec(query);
  return m ? { selector: m[1] ?? "", label: m[2] ?? "" } : undefined;
}

/** The variable names a text refers to ($name, ${name}, ${name:format}, [[name]]). */
export function variableReferences(text: string): string[] {
  const names = [...text.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g)].map(
    (m) => m[1] ?? m[2] ?? m[3] ?? "",
  );
  return [...new Set(names)];
}

export interface Substitution {
  /** Values of the dashboard's variables, by name (a regex for multi-value variables, e.g. "a|b" or ".*"). */
  variables: Readonly<Record<string, string>>;
  /** What Grafana sets $__rate_interval to: max($__interval + scrape interval, 4 × scrape interval). */
  rateInterval: string;
  /** What Grafana sets $__interval to (range / max data points, at least the scrape interval). */
  interval: string;
}

/**
 * The query Grafana sends for `text`: its variables and interval macros replaced. Throws naming the
 * variable when the text uses one the substitution does not define.
 */
export function substitute(text: string, s: Substitution): string {
  return text.replace(
    /\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g,
    (whole, a?: string, b?: string, c?: string) => {
      const name = a ?? b ?? c ?? "";
      if (name === "__rate_interval") return s.rateInterval;
      if (name === "__interval") return s.interval;
      const value = s.variables[name];
      if (value === undefined)
        throw new Error(`${whole} in ${JSON.stringify(text)} is not a defined variable`);
      return value;
    },
  );
}

/** Metric names a PromQL expression selects (identifiers followed by a `{` selector). */
export function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*\{/g)].map((m) => m[1] ?? ""))];
}

function overlaps(a: GridPos, b: GridPos): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

const isInt = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n);

/**
 * What is wrong with the dashboard beyond its JSON types, as one sentence per problem naming the panel:
 * the declared schemaVersion; unique integer panel ids; a gridPos inside the 24-column grid that no other
 * panel overlaps; a Prometheus datasource on every panel and target; targets with unique refIds and a
 * non-empty expr; thresholds that start at null and ascend; variables that are defined, unique, and
 * whose label_values() queries parse. Empty when none.
 */
export function structuralProblems(d: Dashboard): string[] {
  const problems: string[] = [];
  if (d.schemaVersion !== SCHEMA_VERSION) {
    problems.push(`schemaVersion is ${JSON.stringify(d.schemaVersion)}, not ${SCHEMA_VERSION}`);
  }
  if (typeof d.uid !== "string" || d.uid.length < 1 || d.uid.length > 40) {
    problems.push(`uid ${JSON.stringify(d.uid)} must be a string of 1 to 40 characters`);
  }
  if (typeof d.title !== "string" || d.title === "") problems.push("the dashboard has no title");

  const variables = d.templating?.list ?? [];
  const names = new Set<string>();
  for (const v of variables) {
    if (names.has(v.name)) problems.push(`variable ${v.name} is defined twice`);
    names.add(v.name);
  }
  const datasourceVar = variables.find((v) => v.type === "datasource");
  if (datasourceVar?.query !== "prometheus") problems.push("no datasource variable of type prometheus");
  const known = (name: string) => names.has(name) || GLOBAL_VARIABLES.has(name);
  const checkRefs = (where: string, text: string) => {
    for (const name of variableReferences(text)) {
      if (!known(name)) problems.push(`${where} uses $${name}, which is not a variable of the dashboard`);
    }
  };
  const checkDatasource = (where: string, ds: DataSourceRef | undefined) => {
    if (ds?.type !== "prometheus" || ds.uid !== `\${${datasourceVar?.name ?? "datasource"}}`) {
      problems.push(`${where} has datasource ${JSON.stringify(ds)}, not the dashboard's Prometheus variable`);
    }
  };
  for (const [i, v] of variables.entries()) {
    if (v.type !== "query") continue;
    const where = `variable ${v.name}`;
    const query = variableQuery(v);
    if (query === undefined || parseLabelValues(query) === undefined) {
      problems.push(`${where}: query ${JSON.stringify(query)} is not label_values(selector, label)`);
      continue;
    }
    checkDatasource(where, v.datasource);
    // A variable may only use the ones before it (Grafana resolves them in order).
    for (const name of variableReferences(query)) {
      if (!variables.slice(0, i).some((w) => w.name === name)) {
        problems.push(`${where} uses $${name}, which is not a variable defined before it`);
      }
    }
    if (v.includeAll === true && v.allValue === undefined) {
      problems.push(`${where} includes All but has no allValue (Grafana would send every value)`);
    }
  }

  const ids = new Set<number>();
  const placed: { title: string; pos: GridPos }[] = [];
  for (const p of allPanels(d)) {
    const title = typeof p.title === "string" ? p.title : "";
    const where = `panel ${JSON.stringify(title)} (id ${String(p.id)})`;
    if (!isInt(p.id) || p.id < 1) problems.push(`${where}: id must be a positive integer`);
    else if (ids.has(p.id)) problems.push(`${where}: id ${p.id} is used by another panel`);
    else ids.add(p.id);
    if (typeof p.type !== "string" || p.type === "") problems.push(`${where}: no type`);
    if (title === "") problems.push(`${where}: no title`);
    const pos = p.gridPos;
    if (!pos || ![pos.x, pos.y, pos.w, pos.h].every(isInt)) {
      problems.push(`${where}: gridPos needs integer x, y, w and h`);
    } else if (pos.x < 0 || pos.y < 0 || pos.w < 1 || pos.h < 1 || pos.x + pos.w > GRID_COLUMNS) {
      problems.push(`${where}: gridPos ${JSON.stringify(pos)} is outside the ${GRID_COLUMNS}-column grid`);
    } else {
      for (const other of placed) {
        if (overlaps(pos, other.pos)) problems.push(`${where} overlaps panel ${JSON.stringify(other.title)}`);
      }
      placed.push({ title, pos });
    }
    checkRefs(where, title);
    if (p.type === "row") {
      if (pos && (pos.w !== GRID_COLUMNS || pos.h !== 1))
        problems.push(`${where}: a row is 24 wide and 1 high`);
      continue;
    }
    checkDatasource(where, p.datasource);
    const targets = p.targets ?? [];
    if (targets.length === 0) problems.push(`${where}: no targets`);
    const refIds = new Set<string>();
    for (const t of targets) {
      const refId = typeof t.refId === "string" ? t.refId : "";
      const tw = `${where} target ${JSON.stringify(t.refId)}`;
      if (refId === "") problems.push(`${tw}: no refId`);
      else if (refIds.has(refId)) problems.push(`${tw}: refId used twice in the panel`);
      refIds.add(refId);
      if (typeof t.expr !== "string" || t.expr.trim() === "") problems.push(`${tw}: no expr`);
      else checkRefs(tw, t.expr);
      if (typeof t.legendFormat === "string") checkRefs(tw, t.legendFormat.replaceAll(/\{\{.*?\}\}/g, ""));
      checkDatasource(tw, t.datasource);
    }
    const steps = p.fieldConfig?.defaults?.thresholds?.steps ?? [];
    if (steps.length > 0 && steps[0]?.value !== null) {
      problems.push(`${where}: the first threshold step must have value null (-Infinity)`);
    }
    const values = steps.slice(1).map((s) => s.value);
    if (values.some((v, i) => v === null || (i > 0 && v <= (values[i - 1] ?? 0)))) {
      problems.push(`${where}: threshold steps after the first must ascend`);
    }
  }
  return problems;
}
