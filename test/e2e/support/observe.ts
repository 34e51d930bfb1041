/**
 * What the leader election e2e tests record while they run, and the checks over those records.
 *
 * - Watches (resumed from the last resourceVersion if the server closes them): the Lease (holder history)
 *   and every pull secret eatr manages (who wrote each version, from its managedFields).
 * - A sampler that polls, every ~100 ms, each live replica's leader_election_master_status and then the
 *   Lease holder.
 * - Each replica's own log ("became leader" / "leadership lost" / "stopping leading", pino ISO times on the
 *   same host clock), which give exact leadership intervals.
 *
 * Ordering between the Lease and secret writes uses resourceVersions: on one etcd they are the store's
 * global revision, so a write with a lower resourceVersion than a Lease update was committed before it.
 */
import type { KubeConfig, V1ManagedFieldsEntry, V1Secret } from "@kubernetes/client-node";
import { Watch } from "@kubernetes/client-node";
import { sumMetric } from "../../support/prometheus-text.ts";
import type { ControllerProcess } from "../../integration/support/harness.ts";

// ---- watches ---------------------------------------------------------------------------------------------

export interface WatchEvent {
  /** Date.now() when the event arrived here. */
  readonly at: number;
  readonly type: string;
  readonly rv: bigint;
  readonly object: Record<string, unknown>;
}

export interface RecordingWatch {
  /** Problems that make the record incomplete (e.g. 410 Gone on resume); the final check fails on any. */
  readonly problems: string[];
  stop(): void;
}

/** A resourceVersion as a number (etcd revision); throws on anything else, so ordering is never guessed. */
export function rvOf(obj: { metadata?: { resourceVersion?: string } } | undefined): bigint {
  const rv = obj?.metadata?.resourceVersion;
  if (rv === undefined || !/^\d+$/.test(rv))
    throw new Error(`resourceVersion is not an integer: ${String(rv)}`);
  return BigInt(rv);
}

/**
 * Watches path from resourceVersion (exclusive), calling onEvent for each ADDED/MODIFIED/DELETED event in
 * order; when the server ends the watch it resumes from the last resourceVersion seen (bookmarks count).
 */
export function recordWatch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>,
  resourceVersion: string,
  onEvent: (event: WatchEvent) => void,
): RecordingWatch {
  const watch = new Watch(kc);
  const problems: string[] = [];
  let lastRv = resourceVersion;
  let stopped = false;
  let current: AbortController | undefined;
  const start = (): void => {
    if (stopped) return;
    void watch
      .watch(
        path,
        { ...query, allowWatchBookmarks: true, resourceVersion: lastRv },
        (type: string, obj: unknown) => {
          const object = obj as Record<string, unknown> & { metadata?: { resourceVersion?: string } };
          if (type === "ERROR") {
            problems.push(`watch ${path}: ERROR event ${JSON.stringify(obj)}`);
            return;
          }
          const rv = object.metadata?.resourceVersion;
          if (rv !== undefined) lastRv = rv;
          if (type === "BOOKMARK") return;
          onEvent({ at: Date.now(), type, rv: rvOf(object), object });
        },
        (err: unknown) => {
          if (stopped) return;
          if (err !== null && err !== undefined) {
            const status = (err as { statusCode?: number }).statusCode;
            if (status === 410) {
              problems.push(`watch ${path}: 410 Gone resuming at ${lastRv}; events may be missing`);
              return;
            }
          }
          setTimeout(start, 100);
        },
      )
      .then(
        (c) => {
          current = c;
          if (stopped) c.abort();
        },
        (err: unknown) => {
          problems.push(`watch ${path}: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
  };
  start();
  return {
    problems,
    stop: () => {
      stopped = true;
      current?.abort();
    },
  };
}

// ---- the Lease -------------------------------------------------------------------------------------------

export interface LeaseVersion {
  /** When this version arrived here (Date.now()). */
  readonly at: number;
  readonly rv: bigint;
  readonly holder: string;
  /** spec.renewTime in ms (the holder's clock: the same host here), NaN when absent. */
  readonly renewTime: number;
  readonly leaseDurationSeconds: number;
  readonly transitions: number;
}

/** A stretch of Lease versions with one holder ("" = released, nobody leads). */
export interface Term {
  readonly holder: string;
  /** The version that made holder the holder. */
  readonly start: LeaseVersion;
  /** Every version in the term, renewals included. */
  readonly versions: LeaseVersion[];
  /** The first version of the next term, if any. */
  end?: LeaseVersion;
}

function timeMs(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  return typeof value === "string" ? Date.parse(value) : Number.NaN;
}

export class LeaseHistory {
  readonly versions: LeaseVersion[] = [];

  record(event: WatchEvent): void {
    if (event.type === "DELETED") return;
    const spec = (event.object.spec ?? {}) as {
      holderIdentity?: string;
      renewTime?: unknown;
      leaseDurationSeconds?: number;
      leaseTransitions?: number;
    };
    const last = this.versions.at(-1);
    if (last !== undefined && event.rv <= last.rv) return; // replayed on resume
    this.versions.push({
      at: event.at,
      rv: event.rv,
      holder: spec.holderIdentity ?? "",
      renewTime: timeMs(spec.renewTime),
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      transitions: spec.leaseTransitions ?? 0,
    });
  }

  terms(): Term[] {
    const terms: Term[] = [];
    for (const v of this.versions) {
      const last = terms.at(-1);
      if (last?.holder === v.holder) {
        last.versions.push(v);
        continue;
      }
      if (last !== undefined) last.end = v;
      terms.push({ holder: v.holder, start: v, versions: [v] });
    }
    return terms;
  }

  holder(): string | undefined {
    return this.versions.at(-1)?.holder;
  }

  /** The first term of holder starting after `after` (Date.now()), if any. */
  termOf(holder: string, after = 0): Term | undefined {
    return this.terms().find((t) => t.holder === holder && t.start.at >= after);
  }
}

// ---- pull secret writes ----------------------------------------------------------------------------------

export interface Write {
  readonly at: number;
  readonly type: string;
  readonly namespace: string;
  readonly name: string;
  readonly rv: bigint;
  /** The field manager(s) that wrote this version: one, unless managedFields cannot tell them apart. */
  readonly managers: string[];
}

function entryKey(e: V1ManagedFieldsEntry): string {
  return `${e.manager ?? ""}|${e.operation ?? ""}|${e.subresource ?? ""}`;
}

/**
 * Who wrote `secret`, given the version before it: the managedFields entry with the latest time; among
 * entries with that (whole-second) time, the ones this write added or re-timed; failing that, the previous
 * writer if it is among them (it wrote again within the same second); else all of them (ambiguous).
 */
export function writersOf(
  secret: V1Secret,
  previous: V1Secret | undefined,
  previousWriters: string[],
): string[] {
  const entries = secret.metadata?.managedFields ?? [];
  if (entries.length === 0) return [];
  const latest = Math.max(...entries.map((e) => timeMs(e.time)));
  const top = entries.filter((e) => timeMs(e.time) === latest);
  if (top.length === 1) return [top[0]?.manager ?? ""];
  const before = new Map((previous?.metadata?.managedFields ?? []).map((e) => [entryKey(e), timeMs(e.time)]));
  const retimed = top.filter((e) => before.get(entryKey(e)) !== timeMs(e.time));
  if (retimed.length === 1) return [retimed[0]?.manager ?? ""];
  const again = top.filter((e) => previousWriters.includes(e.manager ?? ""));
  if (again.length === 1) return [again[0]?.manager ?? ""];
  return [...new Set(top.map((e) => e.manager ?? ""))];
}

export class WriteLog {
  readonly writes: Write[] = [];
  private readonly last = new Map<string, { secret: V1Secret; writers: string[] }>();
  private readonly keep: (namespace: string) => boolean;

  /** Records ADDED/MODIFIED events of secrets in namespaces accepted by `keep`. */
  constructor(keep: (namespace: string) => boolean) {
    this.keep = keep;
  }

  record(event: WatchEvent): void {
    const secret = event.object as V1Secret;
    const namespace = secret.metadata?.namespace ?? "";
    const name = secret.metadata?.name ?? "";
    if (!this.keep(namespace)) return;
    const key = secret.metadata?.uid ?? "";
    if (event.type === "DELETED") {
      this.last.delete(key);
      return;
    }
    if (event.type !== "ADDED" && event.type !== "MODIFIED") return;
    const prev = this.last.get(key);
    if (prev !== undefined && rvOf(prev.secret) >= event.rv) return; // replayed on resume
    const managers = writersOf(secret, prev?.secret, prev?.writers ?? []);
    this.last.set(key, { secret, writers: managers });
    this.writes.push({ at: event.at, type: event.type, namespace, name, rv: event.rv, managers });
  }

  byIdentity(identity: string): Write[] {
    return this.writes.filter((w) => w.managers.includes(`eatr/${identity}`));
  }
}

/**
 * Every write whose manager is not `eatr/<holder of the Lease term its resourceVersion falls in>`
 * (including writes while the Lease was released or before it existed), as messages.
 */
export function writesOutsideTheirTerm(
  writes: readonly Write[],
  terms: readonly Term[],
  replicas: readonly Replica[] = [],
): string[] {
  const names = new Map(replicas.map((r) => [`eatr/${r.identity}`, r.name]));
  const named = (manager: string): string => `${manager} (${names.get(manager) ?? "?"})`;
  const problems: string[] = [];
  for (const w of writes) {
    let term: Term | undefined;
    for (const t of terms) if (t.start.rv < w.rv) term = t;
    const expected = term === undefined || term.holder === "" ? undefined : `eatr/${term.holder}`;
    const what = `${w.type} ${w.namespace}/${w.name} rv ${w.rv} by ${w.managers.map(named).join(" or ")}`;
    if (expected === undefined) {
      problems.push(`${what}: nobody held the lease (term ${term === undefined ? "none" : "released"})`);
    } else if (w.managers.length !== 1 || w.managers[0] !== expected) {
      problems.push(`${what}: the term (from rv ${term?.start.rv}) belongs to ${named(expected)}`);
    }
  }
  return problems;
}

// ---- replicas and their own account of leadership --------------------------------------------------------

export interface Replica {
  /** p1, p2, … in start order. */
  readonly name: string;
  readonly proc: ControllerProcess;
  /** The identity logged in "eatr starting": the Lease holder and the `eatr/<identity>` field manager. */
  readonly identity: string;
  /** Date.now() when the process was seen to exit, and its exit code. */
  exitedAt?: number;
  exitCode?: number;
}

export interface Leadership {
  /** "became leader" log time. */
  readonly start: number;
  /** "leadership lost" / "stopping leading" log time, else the observed exit, else Infinity (still leads). */
  readonly end: number;
  readonly how: "lost" | "stopped" | "died" | "leading";
}

function logTime(rec: Record<string, unknown>): number {
  return typeof rec.time === "string" ? Date.parse(rec.time) : typeof rec.time === "number" ? rec.time : NaN;
}

/** The replica's leadership from its own log (a replica leads at most once: losing it exits). */
export function leadershipOf(replica: Replica): Leadership | undefined {
  const recs = replica.proc.logRecords();
  const began = recs.find((r) => r.msg === "became leader");
  if (began === undefined) return undefined;
  const ended = recs.find((r) => r.msg === "leadership lost" || r.msg === "stopping leading");
  if (ended !== undefined) {
    return {
      start: logTime(began),
      end: logTime(ended),
      how: ended.msg === "leadership lost" ? "lost" : "stopped",
    };
  }
  if (replica.exitedAt !== undefined) return { start: logTime(began), end: replica.exitedAt, how: "died" };
  return { start: logTime(began), end: Number.POSITIVE_INFINITY, how: "leading" };
}

/** Pairs of replicas whose logged leadership intervals overlap. */
export function overlappingLeaderships(replicas: readonly Replica[]): string[] {
  const spans = replicas.flatMap((r) => {
    const l = leadershipOf(r);
    return l === undefined ? [] : [{ r, l }];
  });
  const problems: string[] = [];
  for (const [i, a] of spans.entries()) {
    for (const b of spans.slice(i + 1)) {
      if (a.l.start < b.l.end && b.l.start < a.l.end) {
        problems.push(
          `${a.r.name} led ${iso(a.l.start)}–${iso(a.l.end)} (${a.l.how}) and ${b.r.name} led ${iso(b.l.start)}–${iso(b.l.end)} (${b.l.how})`,
        );
      }
    }
  }
  return problems;
}

export function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString().slice(11, 23) : "…";
}

// ---- the sampler -----------------------------------------------------------------------------------------

export interface Round {
  readonly sentAt: number;
  /** replica name → { value of leader_election_master_status, when it answered }; unreachable ones absent. */
  readonly status: Map<string, { value: number; at: number }>;
  /** The Lease holder read after every status answered ("" released, undefined: no Lease or read failed). */
  readonly holder: string | undefined;
  readonly holderAt: number;
}

export interface Sampler {
  readonly rounds: Round[];
  stop(): Promise<void>;
}

async function masterStatus(port: number, election: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return sumMetric(text, "leader_election_master_status", { name: election });
}

/** Polls every live replica's leader_election_master_status, then the Lease holder, every intervalMs. */
export function startSampler(options: {
  replicas: () => readonly Replica[];
  readHolder: () => Promise<string | undefined>;
  election: string;
  intervalMs?: number;
}): Sampler {
  const rounds: Round[] = [];
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const sentAt = Date.now();
      const status = new Map<string, { value: number; at: number }>();
      const live = options.replicas().filter((r) => r.exitedAt === undefined);
      await Promise.all(
        live.map(async (r) => {
          try {
            const value = await masterStatus(r.proc.port, options.election);
            status.set(r.name, { value, at: Date.now() });
          } catch {
            // exiting or gone: no sample
          }
        }),
      );
      let holder: string | undefined;
      try {
        holder = await options.readHolder();
      } catch {
        holder = undefined;
      }
      rounds.push({ sentAt, status, holder, holderAt: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
    }
  };
  const running = loop();
  return {
    rounds,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

/**
 * Rounds in which two replicas reported 1, or a replica reported 1 while the Lease (read just after) named
 * someone else. Allowed: the instant of a handover, i.e. the earlier leader's own log shows its leadership
 * ended (it stopped, lost it, or died) before the other began and before the later sample / Lease read.
 */
export function roundProblems(rounds: readonly Round[], replicas: readonly Replica[]): string[] {
  const byName = new Map(replicas.map((r) => [r.name, r]));
  const problems: string[] = [];
  for (const round of rounds) {
    const leaders = [...round.status.entries()]
      .filter(([, s]) => s.value === 1)
      .sort((a, b) => a[1].at - b[1].at);
    for (const [i, [nameA, sA]] of leaders.entries()) {
      for (const [nameB, sB] of leaders.slice(i + 1)) {
        const a = byName.get(nameA);
        const b = byName.get(nameB);
        const la = a && leadershipOf(a);
        const lb = b && leadershipOf(b);
        const handover = la !== undefined && lb !== undefined && la.end <= lb.start && la.end <= sB.at;
        if (!handover) {
          problems.push(
            `round at ${iso(round.sentAt)}: ${nameA} (${iso(sA.at)}) and ${nameB} (${iso(sB.at)}) both report 1`,
          );
        }
      }
    }
    for (const [name] of leaders) {
      const r = byName.get(name);
      if (r === undefined || round.holder === r.identity) continue;
      const l = leadershipOf(r);
      if (l !== undefined && l.end <= round.holderAt) continue; // stopped (and released) just after answering
      problems.push(
        `round at ${iso(round.sentAt)}: ${name} reports 1 but the Lease holder read at ${iso(round.holderAt)} is "${round.holder ?? "(none)"}"`,
      );
    }
  }
  return problems;
}
