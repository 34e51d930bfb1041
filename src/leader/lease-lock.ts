import {
  Observable,
  V1MicroTime,
  type ConfigurationOptions,
  type CoordinationV1Api,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
  type V1LeaseSpec,
} from "@kubernetes/client-node";
import { callOptions, describeApiError, statusBody, statusOf } from "../kube/api.ts";
import {
  LockConflictError,
  LockNamespaceNotFoundError,
  type CallBounds,
  type LeaderElectionRecord,
  type LeaderLock,
  type ObservedLease,
} from "./lock.ts";

/** The calls LeaseLock makes; CoordinationV1Api provides them. */
export type LeaseApi = Pick<
  CoordinationV1Api,
  "readNamespacedLease" | "createNamespacedLease" | "replaceNamespacedLease"
>;

export interface LeaseLockOptions {
  readonly api: LeaseApi;
  readonly namespace: string;
  readonly name: string;
  /** Labels put on the Lease when this lock creates it. */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * A LeaderLock over a coordination.k8s.io/v1 Lease (client-go's resourcelock.LeaseLock). It remembers the
 * Lease it last read or wrote and updates that version, so a concurrent writer makes the update fail with
 * LockConflictError. Times are written as V1MicroTime, which the API server requires.
 */
export class LeaseLock implements LeaderLock {
  private readonly api: LeaseApi;
  private readonly namespace: string;
  private readonly name: string;
  private readonly labels: Readonly<Record<string, string>> | undefined;
  private lease: V1Lease | undefined;

  constructor(options: LeaseLockOptions) {
    if (options.namespace === "") throw new Error("LeaseLock: namespace is required");
    if (options.name === "") throw new Error("LeaseLock: name is required");
    this.api = options.api;
    this.namespace = options.namespace;
    this.name = options.name;
    this.labels = options.labels;
  }

  describe(): string {
    return `lease ${this.namespace}/${this.name}`;
  }

  async get(bounds: CallBounds): Promise<ObservedLease | undefined> {
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease(
        { name: this.name, namespace: this.namespace },
        leaseCallOptions(bounds),
      );
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.failure("reading", err);
    }
    return this.remember(lease);
  }

  async create(record: LeaderElectionRecord, bounds: CallBounds): Promise<ObservedLease> {
    const body: V1Lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: this.name,
        namespace: this.namespace,
        ...(this.labels === undefined ? {} : { labels: { ...this.labels } }),
      },
      spec: toLeaseSpec(record, undefined),
    };
    try {
      return this.remember(
        await this.api.createNamespacedLease({ namespace: this.namespace, body }, leaseCallOptions(bounds)),
      );
    } catch (err) {
      if (isNamespaceNotFound(err, this.namespace)) {
        throw new LockNamespaceNotFoundError(
          this.namespace,
          `creating ${this.describe()}: namespace ${this.namespace} does not exist (${describeApiError(err)})`,
          { cause: err },
        );
      }
      throw this.failure("creating", err);
    }
  }

  async update(record: LeaderElectionRecord, bounds: CallBounds): Promise<ObservedLease> {
    const last = this.lease;
    if (last === undefined) throw new Error(`${this.describe()}: update before get or create`);
    const body: V1Lease = { ...last, spec: toLeaseSpec(record, last.spec) };
    try {
      return this.remember(
        await this.api.replaceNamespacedLease(
          { name: this.name, namespace: this.namespace, body },
          leaseCallOptions(bounds),
        ),
      );
    } catch (err) {
      throw this.failure("updating", err);
    }
  }

  private remember(lease: V1Lease): ObservedLease {
    this.lease = lease;
    return observeLease(lease);
  }

  private failure(doing: string, err: unknown): Error {
    const message = `${doing} ${this.describe()}: ${describeApiError(err)}${networkCause(err)}`;
    return statusOf(err) === 409
      ? new LockConflictError(message, { cause: err })
      : new Error(message, { cause: err });
  }
}

/** A create's 404 about the namespace itself (details.kind "namespaces"), not about the API group. */
function isNamespaceNotFound(err: unknown, namespace: string): boolean {
  if (statusOf(err) !== 404) return false;
  const details = (statusBody(err) as { details?: { kind?: string; name?: string } }).details;
  return details?.kind === "namespaces" && (details.name === undefined || details.name === namespace);
}

/**
 * " (connect ECONNREFUSED 127.0.0.1:6443)": what fetch's bare "fetch failed" hides in its cause, so a log
 * says why the API server could not be reached. Empty for errors with an HTTP status.
 */
function networkCause(err: unknown): string {
  if (statusOf(err) !== undefined) return "";
  let cause = err instanceof Error ? err.cause : undefined;
  let text = "";
  for (let depth = 0; cause instanceof Error && depth < 3; depth++, cause = cause.cause) text = cause.message;
  return text === "" ? "" : ` (${text})`;
}

/**
 * client-node options bounding one call by bounds.timeoutMs (rounded up: AbortSignal.timeout throws on a
 * fractional delay) and, if given, bounds.signal.
 */
function leaseCallOptions(bounds: CallBounds): ConfigurationOptions {
  const options = callOptions(Math.max(1, Math.ceil(bounds.timeoutMs)));
  const { signal } = bounds;
  if (signal === undefined) return options;
  const alsoOnSignal = {
    pre: (ctx: RequestContext) => {
      const timeout = ctx.getSignal();
      ctx.setSignal(timeout === undefined ? signal : AbortSignal.any([timeout, signal]));
      return new Observable(Promise.resolve(ctx));
    },
    post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
  };
  return { ...options, middleware: [...(options.middleware ?? []), alsoOnSignal] };
}

/** The Lease spec holding record, keeping fields eatr does not manage (strategy, preferredHolder). */
export function toLeaseSpec(record: LeaderElectionRecord, previous: V1LeaseSpec | undefined): V1LeaseSpec {
  return {
    ...previous,
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: microTime(record.acquireTime),
    renewTime: microTime(record.renewTime),
    leaseTransitions: record.leaseTransitions,
  };
}

function microTime(time: Date | undefined): V1MicroTime | undefined {
  return time === undefined ? undefined : new V1MicroTime(time.getTime());
}

/** The record in a Lease as read back (times arrive as strings, or Dates), with its version and raw form. */
export function observeLease(lease: V1Lease): ObservedLease {
  const spec: V1LeaseSpec = lease.spec ?? {};
  const record: LeaderElectionRecord = {
    holderIdentity: spec.holderIdentity ?? "",
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: readTime(spec.acquireTime),
    renewTime: readTime(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
  const raw = JSON.stringify([
    record.holderIdentity,
    record.leaseDurationSeconds,
    timeText(spec.acquireTime),
    timeText(spec.renewTime),
    record.leaseTransitions,
  ]);
  return { record, resourceVersion: lease.metadata?.resourceVersion ?? "", raw };
}

function readTime(value: unknown): Date | undefined {
  const ms =
    value instanceof Date ? value.getTime() : typeof value === "string" ? Date.parse(value) : Number.NaN;
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

function timeText(value: unknown): string | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  return typeof value === "string" ? value : null;
}
