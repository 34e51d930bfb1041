/** How `eatr status` prints a report: a table for people (`-o table`) or JSON for scripts (`-o json`). Pure. */
import type { LeaderStatus, RegistryStatus, StatusReport } from "./summary.ts";
import { isoSeconds, relative, shortDuration, timeText } from "./time-text.ts";

/** The output formats of `-o`. */
export const OUTPUT_FORMATS = ["table", "json"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The version of the JSON shape below; bumped only when a field changes meaning or goes away. */
export const JSON_VERSION = 1;

/**
 * The `-o json` document (README "eatr status" documents it). Times are ISO 8601 UTC strings or null;
 * namespace lists are sorted; nothing in it is a secret value.
 */
export interface StatusJson {
  readonly version: typeof JSON_VERSION;
  readonly generatedAt: string;
  readonly healthy: boolean;
  readonly exitCode: 0 | 1;
  readonly tokenSafetyMarginSeconds: number;
  /** null when leader election is off. */
  readonly leader: {
    readonly lease: string;
    readonly found: boolean;
    readonly holder: string | null;
    readonly renewTime: string | null;
    readonly leaseDurationSeconds: number | null;
    readonly expired: boolean;
  } | null;
  readonly registries: readonly {
    readonly registry: string;
    readonly credentials: {
      readonly source: string | null;
      readonly from: string | null;
      readonly secret: string;
      readonly keys: readonly string[];
      readonly problem: { readonly reason: string; readonly detail: string } | null;
    };
    readonly token: { readonly expiresAt: string | null; readonly fetchedAt: string | null };
    readonly namespaces: {
      readonly asking: readonly string[];
      readonly served: readonly string[];
      readonly conflict: readonly string[];
      readonly lackingCredentials: readonly string[];
    };
  }[];
  readonly problems: readonly {
    readonly namespace: string;
    readonly registry: string;
    readonly reason: string;
    readonly detail: string;
  }[];
  /** What status could not read and left out (e.g. Events the user may not list). */
  readonly notes: readonly string[];
}

/** The report as the `-o json` document. `leaseName` names the Lease when it was not found. */
export function toJson(report: StatusReport, leaseName: string): StatusJson {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  const leader = report.leader;
  return {
    version: JSON_VERSION,
    generatedAt: new Date(report.nowMs).toISOString(),
    healthy: report.exitCode === 0,
    exitCode: report.exitCode,
    tokenSafetyMarginSeconds: Math.round(report.tokenSafetyMarginMs / 1000),
    leader:
      leader === null
        ? null
        : leader === undefined
          ? {
              lease: leaseName,
              found: false,
              holder: null,
              renewTime: null,
              leaseDurationSeconds: null,
              expired: true,
            }
          : {
              lease: leader.lease,
              found: true,
              holder: leader.holder,
              renewTime: iso(leader.renewTimeMs),
              leaseDurationSeconds: leader.leaseDurationSeconds ?? null,
              expired: leader.expired,
            },
    registries: report.registries.map((r) => ({
      registry: r.registry,
      credentials: {
        source: r.credentials.source,
        from: r.credentials.from,
        secret: r.credentials.secret,
        keys: r.credentials.keys,
        problem: r.credentials.problem,
      },
      token: { expiresAt: iso(r.tokenExpiresAtMs), fetchedAt: iso(r.tokenFetchedAtMs) },
      namespaces: {
        asking: r.asking,
        served: r.served,
        conflict: r.conflict,
        lackingCredentials: r.lackingCredentials,
      },
    })),
    problems: report.problems.map((p) => ({ ...p })),
    notes: report.notes,
  };
}

/** The `-o json` text: the document, indented, with a final newline. */
export function renderJson(report: StatusReport, leaseName: string): string {
  return `${JSON.stringify(toJson(report, leaseName), null, 2)}\n`;
}

/**
 * The `-o table` text: the leader line, a row per registry (credential source, earliest token expiry, and
 * how many namespaces ask, are served, are in conflict, lack credentials), the problems, and a verdict.
 */
export function renderTable(report: StatusReport, leaseName: string): string {
  const out: string[] = [leaderLine(report.leader, leaseName, report.nowMs), ""];
  if (report.registries.length === 0) {
    out.push("No namespace asks for a registry, and the config file declares none.");
  } else {
    out.push(
      ...columns([
        ["REGISTRY", "CREDENTIALS", "TOKEN EXPIRES", "ASKING", "SERVED", "CONFLICT", "NO CREDENTIALS"],
        ...report.registries.map((r) => [
          r.registry,
          credentialsCell(r),
          r.tokenExpiresAtMs === undefined ? "-" : timeText(r.tokenExpiresAtMs, report.nowMs),
          String(r.asking.length),
          String(r.served.length),
          String(r.conflict.length),
          String(r.lackingCredentials.length),
        ]),
      ]),
    );
  }
  out.push("");
  if (report.problems.length === 0) {
    out.push(
      `Healthy: every namespace that asks has eatr's pull secret, valid beyond the safety margin (${shortDuration(report.tokenSafetyMarginMs)}).`,
    );
  } else {
    const namespaces = new Set(report.problems.map((p) => p.namespace)).size;
    out.push(
      `Problems (${report.problems.length}, in ${namespaces} namespace${namespaces === 1 ? "" : "s"}):`,
      ...columns([
        ["NAMESPACE", "REGISTRY", "PROBLEM", "DETAIL"],
        ...report.problems.map((p) => [p.namespace, p.registry, p.reason, p.detail]),
      ]),
    );
  }
  for (const note of report.notes) out.push(`Note: ${note}.`);
  return `${out.join("\n")}\n`;
}

function credentialsCell(r: RegistryStatus): string {
  const { source, from, problem } = r.credentials;
  if (source === null) return `${problem?.reason ?? "missing"}${from === null ? "" : ` (${from})`}`;
  return `${source} (${from ?? "?"})${problem === null ? "" : `, ${problem.reason}`}`;
}

function leaderLine(leader: LeaderStatus | undefined | null, leaseName: string, nowMs: number): string {
  if (leader === null) return "Leader: leader election is off (-leader-elect=false)";
  if (leader === undefined) return `Leader: none (Lease ${leaseName} not found: is eatr running?)`;
  const renewed =
    leader.renewTimeMs === undefined
      ? "never renewed"
      : `renewed ${isoSeconds(leader.renewTimeMs)} (${relative(leader.renewTimeMs, nowMs)})`;
  if (leader.holder === null)
    return `Leader: none — Lease ${leader.lease} is released (${renewed}): is eatr running?`;
  const duration =
    leader.leaseDurationSeconds === undefined
      ? ""
      : `, lease duration ${String(leader.leaseDurationSeconds)}s`;
  const expired = leader.expired ? " — EXPIRED: the holder stopped renewing" : "";
  return `Leader: Lease ${leader.lease} held by ${leader.holder}, ${renewed}${duration}${expired}`;
}

/** Left-aligned columns three spaces apart (kubectl's look); the last column is not padded. */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("   ")
      .trimEnd(),
  );
}
