/**
 * What every invariant of the soak checker shares: ids and titles, the result shape, and small helpers
 * over history entries.
 */
import type { Entry, MetaEntry } from "./history.ts";

export type InvariantId = "writers" | "convergence" | "foreign" | "uid" | "cost" | "secrets";

export const INVARIANTS: readonly { id: InvariantId; title: string }[] = [
  { id: "writers", title: "1. never two writers in one Lease term (every write by the Lease holder)" },
  { id: "convergence", title: "2. convergence after the nemesis stops, within the bound" },
  { id: "foreign", title: "3. foreign secrets untouched (resourceVersion unchanged)" },
  { id: "uid", title: "4. a managed secret keeps its uid while its namespace keeps the label" },
  { id: "cost", title: "5. bounded cost: ECR + STS calls within the formula, none per namespace" },
  { id: "secrets", title: "6. no secret material in logs, Events or /metrics" },
];

export interface Violation {
  readonly message: string;
  /** The shortest part of the history that shows it (self-contained: the checker reports it again). */
  readonly excerpt: readonly Entry[];
}

export interface InvariantResult {
  readonly id: InvariantId;
  readonly title: string;
  readonly status: "pass" | "fail" | "no-data";
  readonly counts: Readonly<Record<string, number | string>>;
  readonly violations: readonly Violation[];
}

export const rv = (e: { rv: string }): bigint => BigInt(e.rv);
export const byRv = <T extends { rv: string }>(a: T, b: T): number =>
  rv(a) < rv(b) ? -1 : rv(a) > rv(b) ? 1 : 0;

export function metaOf(entries: readonly Entry[]): MetaEntry | undefined {
  return entries.find((e): e is MetaEntry => e.kind === "meta");
}

export function of<K extends Entry["kind"]>(
  entries: readonly Entry[],
  kind: K,
): Extract<Entry, { kind: K }>[] {
  return entries.filter((e): e is Extract<Entry, { kind: K }> => e.kind === kind);
}

export function result(
  id: InvariantId,
  status: InvariantResult["status"],
  counts: Record<string, number | string>,
  violations: Violation[] = [],
): InvariantResult {
  const title = INVARIANTS.find((i) => i.id === id)?.title ?? id;
  return { id, title, status: violations.length > 0 ? "fail" : status, counts, violations };
}

export const withMeta = (meta: MetaEntry | undefined, rest: Entry[]): Entry[] =>
  meta === undefined ? rest : [meta, ...rest];
