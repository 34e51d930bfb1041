/**
 * What the leader elector reads and writes, and the lock interface it does so through (client-go's
 * resourcelock.Interface). The elector owns the algorithm; a lock only stores records.
 */

/** The election state kept in the lock object (a Lease's spec). */
export interface LeaderElectionRecord {
  /** Who holds the lease; "" when nobody does (after a release). */
  readonly holderIdentity: string;
  /** How long others must wait, from when they observe a change, before taking the lease over. */
  readonly leaseDurationSeconds: number;
  /** When the current holder acquired the lease; informational only. */
  readonly acquireTime: Date | undefined;
  /** When the holder last renewed, by its own clock; informational only, never used to judge expiry. */
  readonly renewTime: Date | undefined;
  /** How many times the lease changed holders. */
  readonly leaseTransitions: number;
}

/** A record as stored, with what identifies this exact version of it. */
export interface ObservedLease {
  readonly record: LeaderElectionRecord;
  /** The object's resourceVersion, the optimistic lock of the next update. */
  readonly resourceVersion: string;
  /** The record as stored, in a canonical text form: two reads of an unchanged record give equal text. */
  readonly raw: string;
}

/** Bounds on one API call: it is abandoned after timeoutMs, or as soon as signal aborts. */
export interface CallBounds {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * A place to keep a LeaderElectionRecord with optimistic concurrency. `update` writes over the version last
 * returned by `get`, `create` or `update`, and throws LockConflictError if the stored version has moved on.
 * Every call must respect its bounds.
 */
export interface LeaderLock {
  /** The stored record, or undefined when there is none. */
  get(bounds: CallBounds): Promise<ObservedLease | undefined>;
  /** Stores the first record; throws LockConflictError if one already exists. */
  create(record: LeaderElectionRecord, bounds: CallBounds): Promise<ObservedLease>;
  /** Replaces the version last seen; throws if none was seen yet. */
  update(record: LeaderElectionRecord, bounds: CallBounds): Promise<ObservedLease>;
  /** Names the lock in messages, e.g. "lease kube-system/eatr". */
  describe(): string;
}

/** Someone else wrote the lock first (HTTP 409): the round fails and is retried later. */
export class LockConflictError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LockConflictError";
  }
}

/**
 * The lock cannot be created because the namespace meant to hold it does not exist (a Lease create answered
 * 404 for its namespace). Rounds keep failing until someone creates the namespace or points the lock elsewhere.
 */
export class LockNamespaceNotFoundError extends Error {
  readonly namespace: string;

  constructor(namespace: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LockNamespaceNotFoundError";
    this.namespace = namespace;
  }
}
