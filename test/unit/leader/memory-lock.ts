import {
  LockConflictError,
  LockNamespaceNotFoundError,
  type CallBounds,
  type LeaderElectionRecord,
  type LeaderLock,
  type ObservedLease,
} from "../../../src/leader/lock.ts";

type Op = "get" | "create" | "update";

/**
 * How a call fails: "error" rejects with an API-like error, "conflict" with LockConflictError, "hang" never
 * answers until its bounds' signal aborts, "hang-ignoring-signal" never answers at all, "no-namespace" with
 * LockNamespaceNotFoundError (a create into a namespace that does not exist), "stored-then-hang" (update
 * only) stores the write but never answers until the signal aborts, as when a request is cut off after the API
 * server committed it: the client is left a version behind.
 */
export type Fault =
  "error" | "conflict" | "hang" | "hang-ignoring-signal" | "no-namespace" | "stored-then-hang";

interface Stored {
  readonly record: LeaderElectionRecord;
  readonly resourceVersion: number;
}

/** The API server's copy of one lease, shared by every MemoryLock (client) made over it. */
export class MemoryLeaseStore {
  private stored: Stored | undefined;
  private version = 0;
  /** Every record written, by any client or the test, in order. */
  readonly writes: LeaderElectionRecord[] = [];

  current(): LeaderElectionRecord | undefined {
    return this.stored?.record;
  }

  /** Writes record as some other client would, bypassing the optimistic lock. */
  put(record: LeaderElectionRecord): void {
    this.write(record);
  }

  /** Stores record if the stored version is expectedVersion (undefined: if nothing is stored). */
  compareAndSwap(record: LeaderElectionRecord, expectedVersion: number | undefined): ObservedLease {
    if (this.stored?.resourceVersion !== expectedVersion) {
      throw new LockConflictError(
        expectedVersion === undefined ? "lease already exists" : "the lease was modified meanwhile",
      );
    }
    return this.write(record);
  }

  read(): ObservedLease | undefined {
    return this.stored === undefined ? undefined : observed(this.stored);
  }

  private write(record: LeaderElectionRecord): ObservedLease {
    this.stored = { record: { ...record }, resourceVersion: ++this.version };
    this.writes.push(this.stored.record);
    return observed(this.stored);
  }
}

function observed(stored: Stored): ObservedLease {
  const r = stored.record;
  return {
    record: { ...r },
    resourceVersion: String(stored.resourceVersion),
    raw: JSON.stringify([
      r.holderIdentity,
      r.leaseDurationSeconds,
      r.acquireTime?.toISOString(),
      r.renewTime?.toISOString(),
      r.leaseTransitions,
    ]),
  };
}

/**
 * An in-memory LeaderLock: one client's view of a MemoryLeaseStore. Like LeaseLock it updates the version it
 * last saw. Faults can be queued per operation (failNext) or set for every call (failAlways).
 */
export class MemoryLock implements LeaderLock {
  private readonly store: MemoryLeaseStore;
  private lastVersion: number | undefined;
  private readonly queued: Record<Op, Fault[]> = { get: [], create: [], update: [] };
  private readonly always: Partial<Record<Op, Fault>> = {};
  /** Every call made, in order, with its bounds. */
  readonly calls: { op: Op; bounds: CallBounds }[] = [];

  constructor(store: MemoryLeaseStore) {
    this.store = store;
  }

  describe(): string {
    return "lease test/eatr";
  }

  /** The next `times` calls of op fail with fault. */
  failNext(op: Op, fault: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.queued[op].push(fault);
  }

  /** Every call of op fails with fault until healed. */
  failAlways(op: Op, fault: Fault): void {
    this.always[op] = fault;
  }

  heal(): void {
    for (const op of ["get", "create", "update"] as const) {
      this.queued[op] = [];
      this.always[op] = undefined;
    }
  }

  /** How many calls of op were made. */
  count(op: Op): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  get(bounds: CallBounds): Promise<ObservedLease | undefined> {
    return this.call("get", bounds, () => {
      const current = this.store.read();
      if (current !== undefined) this.lastVersion = Number(current.resourceVersion);
      return current;
    });
  }

  create(record: LeaderElectionRecord, bounds: CallBounds): Promise<ObservedLease> {
    return this.call("create", bounds, () => this.remember(this.store.compareAndSwap(record, undefined)));
  }

  update(record: LeaderElectionRecord, bounds: CallBounds): Promise<ObservedLease> {
    return this.call(
      "update",
      bounds,
      () => {
        if (this.lastVersion === undefined) throw new Error("update before get or create");
        return this.remember(this.store.compareAndSwap(record, this.lastVersion));
      },
      () => {
        if (this.lastVersion !== undefined) this.store.compareAndSwap(record, this.lastVersion);
      },
    );
  }

  private remember(lease: ObservedLease): ObservedLease {
    this.lastVersion = Number(lease.resourceVersion);
    return lease;
  }

  private async call<T>(op: Op, bounds: CallBounds, answer: () => T, storeOnly?: () => void): Promise<T> {
    this.calls.push({ op, bounds });
    assert(
      Number.isInteger(bounds.timeoutMs) && bounds.timeoutMs > 0,
      `${op} called with timeoutMs ${bounds.timeoutMs}: AbortSignal.timeout needs a whole number above 0`,
    );
    const fault = this.queued[op].shift() ?? this.always[op];
    // Answer asynchronously, as a real API call would.
    await Promise.resolve();
    switch (fault) {
      case undefined:
        return answer();
      case "error":
        throw Object.assign(new Error(`${op}: HTTP 500 InternalError`), { code: 500 });
      case "conflict":
        throw new LockConflictError(`${op}: HTTP 409 Conflict`);
      case "no-namespace":
        throw new LockNamespaceNotFoundError("test", `${op}: namespace test does not exist`);
      case "stored-then-hang":
        assert(storeOnly !== undefined, `${op} cannot store without answering`);
        storeOnly();
        return hangUntilAborted(op, bounds);
      case "hang":
        return hangUntilAborted(op, bounds);
      case "hang-ignoring-signal":
        return new Promise<T>(() => undefined);
    }
  }
}

function hangUntilAborted<T>(op: Op, bounds: CallBounds): Promise<T> {
  return new Promise<T>((_, reject) => {
    bounds.signal?.addEventListener("abort", () => {
      reject(new Error(`${op}: aborted`));
    });
  });
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}
