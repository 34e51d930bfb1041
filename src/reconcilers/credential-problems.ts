import type { V1ObjectReference } from "@kubernetes/client-node";
import { backoffDelay, type BackoffPolicy } from "../backoff.ts";
import type { Clock, TimerHandle } from "../clock.ts";
import type { EventType } from "../kube/event-recorder.ts";

/** Why a registry's credentials cannot be used. */
export type CredentialProblemReason = "missing" | "invalid";

export interface CredentialProblem {
  readonly reason: CredentialProblemReason;
  /** The credential secret, or where it should be (a reference to a Secret that does not exist). */
  readonly where: V1ObjectReference;
  /** What is wrong and how to fix it; names no value. */
  readonly detail: string;
}

export interface CredentialProblemsOptions {
  readonly clock: Clock;
  readonly events: { record(obj: V1ObjectReference, type: EventType, reason: string, message: string): void };
  readonly logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** The namespaces that ask for a registry now. */
  readonly usersOf: (registry: string) => readonly string[];
  readonly observer?: {
    /** The registry's credentials became unusable for the first time, or with another problem. */
    raised?(registry: string, reason: CredentialProblemReason): void;
    /** They work again, or nobody asks for the registry any more. */
    cleared?(registry: string, reason: CredentialProblemReason): void;
  };
  /** Reports wait this long so that one covers every namespace a startup or a change touches. */
  readonly settleMs?: number;
  /** Reminders while a problem lasts: one per backoff step. */
  readonly reminders?: BackoffPolicy;
}

interface Entry {
  problem: CredentialProblem;
  namespaces: Set<string>;
  step: number;
  timer: TimerHandle | undefined;
}

const EVENT_REASON: Readonly<Record<CredentialProblemReason, string>> = {
  missing: "CredentialsMissing",
  invalid: "InvalidCredentials",
};

/**
 * A registry-wide problem reported once, not once per namespace: reconciles report a registry's unusable
 * credentials for each namespace that asks; this turns that into one Warning Event on the credential
 * secret (or where it should be) and one log line, with the number of namespaces affected, after a short
 * settle time, then a reminder per backoff step while it lasts, and one line when it is over.
 */
export class CredentialProblems {
  private readonly o: CredentialProblemsOptions & { settleMs: number; reminders: BackoffPolicy };
  private readonly entries = new Map<string, Entry>();

  constructor(options: CredentialProblemsOptions) {
    this.o = { settleMs: 2_000, reminders: { baseMs: 5 * 60_000, maxMs: 60 * 60_000 }, ...options };
  }

  /** A reconcile of namespace could not use registry's credentials. */
  report(registry: string, namespace: string, problem: CredentialProblem): void {
    let entry = this.entries.get(registry);
    if (entry && (entry.problem.reason !== problem.reason || entry.problem.detail !== problem.detail)) {
      this.end(registry, entry, false);
      entry = undefined;
    }
    if (!entry) {
      entry = { problem, namespaces: new Set(), step: 0, timer: undefined };
      this.entries.set(registry, entry);
      this.o.observer?.raised?.(registry, problem.reason);
      this.schedule(registry, entry, this.o.settleMs);
    }
    entry.namespaces.add(namespace);
  }

  /** A reconcile could use registry's credentials: the registry-wide problem is over. */
  resolved(registry: string): void {
    const entry = this.entries.get(registry);
    if (entry) this.end(registry, entry, true);
  }

  /** Whether a registry has a problem reported now. */
  has(registry: string): boolean {
    return this.entries.has(registry);
  }

  /** Cancels every timer. */
  close(): void {
    for (const entry of this.entries.values()) entry.timer?.cancel();
    this.entries.clear();
  }

  private schedule(registry: string, entry: Entry, delayMs: number): void {
    entry.timer = this.o.clock.setTimeout(() => {
      this.announce(registry, entry);
    }, delayMs);
  }

  private announce(registry: string, entry: Entry): void {
    if (this.entries.get(registry) !== entry) return;
    // Namespaces that stopped asking meanwhile are not affected any more.
    const asking = new Set(this.o.usersOf(registry));
    for (const ns of entry.namespaces) if (!asking.has(ns)) entry.namespaces.delete(ns);
    if (entry.namespaces.size === 0) {
      this.end(registry, entry, true);
      return;
    }
    const { problem } = entry;
    const names = [...entry.namespaces].sort();
    const sample = names.slice(0, 5).join(", ") + (names.length > 5 ? `, … (${names.length - 5} more)` : "");
    const count = `${names.length} namespace${names.length === 1 ? "" : "s"}`;
    this.o.logger.warn(
      {
        registry,
        reason: problem.reason,
        credentialSecret: `${problem.where.namespace ?? ""}/${problem.where.name ?? ""}`,
        namespaces: names.length,
        sample: names.slice(0, 5),
        detail: problem.detail,
      },
      entry.step === 0
        ? "registry credentials unusable; existing pull secrets are kept until they expire"
        : "registry credentials still unusable",
    );
    this.o.events.record(
      problem.where,
      "Warning",
      EVENT_REASON[problem.reason],
      `${problem.detail} ${count} ask for registry ${registry} (${sample}); their existing pull secrets are kept until they expire.`,
    );
    this.schedule(registry, entry, backoffDelay(this.o.reminders, entry.step++));
  }

  private end(registry: string, entry: Entry, fixed: boolean): void {
    entry.timer?.cancel();
    this.entries.delete(registry);
    this.o.observer?.cleared?.(registry, entry.problem.reason);
    if (fixed && entry.step > 0)
      this.o.logger.info({ registry, reason: entry.problem.reason }, "registry credentials usable again");
  }
}
