/**
 * The soak's history: every operation and fault, every object change the admin watches saw, every replica
 * start and exit, the final state, the AWS calls and the secret-material scan, as JSON lines (one Entry a
 * line) in a file the report names. The checker reads nothing else, so a history file (or an excerpt of
 * one) can be checked again later: `node test/soak/run.ts --check <file>`.
 */
import { createWriteStream, readFileSync, type WriteStream } from "node:fs";

/** What the admin watch saw of one secret version (data never recorded: only a fingerprint). */
export interface SecretEntry {
  readonly kind: "secret";
  readonly t: number;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly ns: string;
  readonly name: string;
  readonly uid: string;
  /** etcd revision of this version (of the deletion, for DELETED). */
  readonly rv: string;
  /** Carries app.kubernetes.io/managed-by=eatr. */
  readonly managed: boolean;
  /** The field manager(s) that wrote this version (from managedFields); empty for DELETED. */
  readonly managers: readonly string[];
  /** Synthesized from a relist after a watch gap (410), not from a watch event. */
  readonly relisted?: boolean;
}

export interface NamespaceEntry {
  readonly kind: "namespace";
  readonly t: number;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly name: string;
  readonly uid: string;
  readonly rv: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Active, or Terminating (deletionTimestamp set or phase Terminating). */
  readonly phase: string;
  readonly relisted?: boolean;
}

export interface LeaseEntry {
  readonly kind: "lease";
  readonly t: number;
  readonly rv: string;
  /** "" when released. */
  readonly holder: string;
  readonly transitions: number;
  readonly relisted?: boolean;
  /** Read by the 250 ms poll rather than delivered by the watch (versions may arrive out of order). */
  readonly polled?: boolean;
}

export interface OpEntry {
  readonly kind: "op";
  readonly t: number;
  readonly actor: "generator" | "nemesis" | "settle" | "setup";
  readonly action: Readonly<Record<string, unknown>> & { readonly kind: string };
  readonly outcome: "ok" | "skipped" | "failed";
  readonly detail?: string;
  /** The object the operation wrote or deleted (foreign-create, pull-delete, pull-edit). */
  readonly uid?: string;
  readonly rv?: string;
}

export interface ReplicaEntry {
  readonly kind: "replica";
  readonly t: number;
  readonly name: string;
  readonly event: "start" | "exit";
  readonly identity?: string;
  readonly code?: number;
  readonly logFile?: string;
}

export interface WatchGapEntry {
  readonly kind: "watch-gap";
  readonly t: number;
  readonly resource: string;
  readonly detail: string;
  /** The last resourceVersion seen before the gap and the relist's: changes in between may be missing. */
  readonly fromRv: string;
  readonly toRv: string;
}

/** One namespace as seen at the end, with what each registry's secret holds. */
export interface FinalNamespace {
  readonly name: string;
  readonly phase: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly secrets: readonly FinalSecret[];
}

export interface FinalSecret {
  readonly name: string;
  readonly uid: string;
  readonly rv: string;
  readonly managed: boolean;
  /** The eatr/registry annotation equals the name and the data is exactly that registry's auths entry. */
  readonly owned: boolean;
  /** The token is one the local ECR minted for the registry's account. */
  readonly tokenIssued: boolean;
  /** Its expiry (ECR's record), ms epoch; undefined when not issued here. */
  readonly tokenExpiresAtMs?: number;
}

export interface StateEntry {
  readonly kind: "state";
  readonly t: number;
  /** Date.now() of the snapshot (token validity is judged against it). */
  readonly at: number;
  readonly namespaces: readonly FinalNamespace[];
}

export interface ConvergenceEntry {
  readonly kind: "convergence";
  readonly t: number;
  /** When the nemesis stopped (settle done), ms after start. */
  readonly settledAt: number;
  readonly boundMs: number;
  readonly boundFormula: string;
  /** ms from settle to the first snapshot with no problem; undefined when the bound passed first. */
  readonly convergedAfterMs?: number;
}

export interface AwsCallEntry {
  readonly kind: "aws-call";
  readonly t: number;
  readonly service: "ecr" | "sts";
  readonly registry: number;
  readonly outcome: string;
}

export interface LeakEntry {
  readonly kind: "leak-scan";
  readonly t: number;
  /** How much was scanned. */
  readonly logLines: number;
  readonly events: number;
  readonly metricsScrapes: number;
  readonly secretsKnown: number;
  /** Each hit: where, what kind of secret (never the value), and the place without the value. */
  readonly hits: readonly { where: string; what: string; excerpt: string }[];
}

export interface MetaEntry {
  readonly kind: "meta";
  readonly t: 0;
  readonly seed: string;
  readonly profile: Readonly<Record<string, unknown>>;
  readonly registries: readonly { index: number; host: string; accountId: string; role: boolean }[];
  readonly hostNamespace: string;
  readonly lease: string;
  readonly timings: {
    readonly leaseMs: number;
    readonly renewDeadlineMs: number;
    readonly retryMs: number;
    readonly renewalIntervalMs: number;
    readonly safetyMarginMs: number;
    readonly stsDurationMs: number;
  };
  readonly mainJs: string;
}

export type Entry =
  | MetaEntry
  | SecretEntry
  | NamespaceEntry
  | LeaseEntry
  | OpEntry
  | ReplicaEntry
  | WatchGapEntry
  | StateEntry
  | ConvergenceEntry
  | AwsCallEntry
  | LeakEntry;

/** Distributes Omit over a union (so each entry kind keeps its own fields). */
export type WithoutT<E> = E extends unknown ? Omit<E, "t"> : never;

/** Appends entries to a JSON-lines file and keeps them in memory for the checker. */
export class History {
  readonly file: string;
  readonly entries: Entry[] = [];
  private readonly out: WriteStream;
  private readonly start: number;

  constructor(file: string, start: number) {
    this.file = file;
    this.start = start;
    this.out = createWriteStream(file, { flags: "w" });
  }

  /** ms since the start of the run. */
  now(): number {
    return Date.now() - this.start;
  }

  add(entry: WithoutT<Entry> & { t?: number }): void {
    const e = { t: entry.t ?? this.now(), ...entry } as Entry;
    this.entries.push(e);
    this.out.write(`${JSON.stringify(e)}\n`);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.out.end(resolve);
    });
  }
}

/** Reads a history file (or excerpt) back. */
export function readHistory(file: string): Entry[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, i) => {
      try {
        return JSON.parse(l) as Entry;
      } catch (err) {
        throw new Error(`${file}:${String(i + 1)}: not a JSON history line`, { cause: err });
      }
    });
}
