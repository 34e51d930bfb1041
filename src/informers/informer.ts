import type { KubernetesObject } from "@kubernetes/client-node";
import { backoffDelay, validateBackoff, type BackoffPolicy } from "../backoff.ts";
import { sleep, type Clock, type TimerHandle } from "../clock.ts";
import type { ListPage } from "../kube/rest.ts";
import { Outage, type OutageReport } from "../outage.ts";
import {
  describeError,
  displayServer,
  formatDuration,
  GONE,
  isGone,
  isUnreachable,
  MIN_WATCH_DURATION_MS,
  RESUME,
  sortWatchEnd,
  WatchEventError,
  type InformerStatus,
  type WatchEnd,
} from "./informer-status.ts";

export {
  describeError,
  informersReadiness,
  MIN_WATCH_DURATION_MS,
  type InformerStatus,
} from "./informer-status.ts";

/** What an informer tells the outside about itself: events for handlers, state for metrics and probes. */
export interface InformerHandlers<T> {
  /** Called for a new object, and for each object seen in a (re)list that was not cached. */
  onAdd?(obj: T): void;
  /** Called when a cached object's resourceVersion changed. */
  onUpdate?(oldObj: T, newObj: T): void;
  /** Called when an object is deleted, or is absent from a relist. */
  onDelete?(obj: T): void;
}

export interface InformerObserver {
  watchError?(informer: string, error: unknown, retryInMs: number): void;
  relisted?(informer: string): void;
}

export interface InformerLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  /** A short name for logs and metrics, e.g. "namespaces". */
  readonly name: string;
  /** The collection's API path, e.g. /api/v1/namespaces or /api/v1/namespaces/ci-cd/secrets. */
  readonly path: string;
  /**
   * Lists the collection with the SAME selectors as the watch, page by page (every page of one list
   * carries the snapshot's resourceVersion; the first page's is used).
   */
  readonly list: (options: { labelSelector?: string; fieldSelector?: string }) => AsyncIterable<ListPage<T>>;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly clock: Clock;
  readonly handlers?: InformerHandlers<T>;
  /** Named index functions: byIndex(name, value) returns the objects whose function returned value. */
  readonly indexers?: Readonly<Record<string, (obj: T) => readonly string[]>>;
  readonly observer?: InformerObserver;
  readonly logger?: InformerLogger;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  readonly random?: () => number;
  /**
   * Trims each object before it is cached (client-go's TransformFunc): keep only what reconciles read,
   * so the cache's memory does not grow with fields nobody uses. Must not mutate its argument.
   */
  readonly transform?: (obj: T) => T;
  /** The watch client: src/kube/rest.ts's RestClient (tests inject a fake). */
  readonly watch: WatchClient;
  /**
   * The watch's Accept header, e.g. METADATA_ONLY for PartialObjectMetadata events (the list function
   * then asks for a PartialObjectMetadataList itself). Default: the client's (whole objects).
   */
  readonly watchAccept?: string;
}

/**
 * client-node's Watch.watch contract: streams events to callback, calls done once when the watch ends.
 * The promise resolves once the server answered (the stream is open); when opening fails, done is called
 * before it settles.
 */
export interface WatchClient {
  /** The API server's URL, named in logs and /readyz when it cannot be reached. */
  readonly server?: string;
  watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
    options?: { readonly accept?: string },
  ): Promise<AbortController>;
}

/** A failure as the informer keeps it: described once, and sorted by whether the server answered. */
interface Failure {
  readonly text: string;
  readonly unreachable: boolean;
}

/**
 * A reflector + indexed store for one collection, client-go style: list, then watch from the list's
 * resourceVersion with bookmarks and a server-side timeout; 410 Gone relists; every other failure (an HTTP
 * error, no answer, a timeout, a non-410 ERROR event, a watch closed sooner than MIN_WATCH_DURATION_MS with
 * no event) retries with capped, jittered exponential backoff, counts in watchError and makes the informer
 * unhealthy. An outage is logged when it starts, at growing intervals while it lasts (src/outage.ts) and
 * when it ends. It never stops on its own: only stop() ends it.
 */
export class Informer<T extends KubernetesObject> {
  private readonly o: InformerOptions<T>;
  private readonly store = new Map<string, T>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly indexers: Readonly<Record<string, (obj: T) => readonly string[]>>;
  private readonly watcher: WatchClient;
  private readonly server: string | undefined;
  private resourceVersion = "";
  private hasSyncedOnce = false;
  private healthy = false;
  private readonly outage: Outage<Failure>;
  private abort: AbortController | undefined;
  private stopped = false;
  /** Aborted by stop(): ends a backoff sleep at once. */
  private readonly stopping = new AbortController();
  private readonly backoffPolicy: BackoffPolicy;
  private loop: Promise<void> | undefined;

  constructor(options: InformerOptions<T>) {
    this.backoffPolicy = {
      baseMs: options.backoffBaseMs ?? 800,
      maxMs: options.backoffMaxMs ?? 30_000,
      jitter: 0.5,
    };
    validateBackoff(`informer ${options.name}`, this.backoffPolicy);
    this.o = options;
    this.watcher = options.watch;
    this.server = options.watch.server === undefined ? undefined : displayServer(options.watch.server);
    this.outage = new Outage(options.clock);
    this.indexers = {
      [NAMESPACE_INDEX]: (obj) => [obj.metadata?.namespace ?? ""],
      ...(options.indexers ?? {}),
    };
    for (const name of Object.keys(this.indexers)) this.indices.set(name, new Map());
  }

  get name(): string {
    return this.o.name;
  }

  /** True once the first list has filled the store; stays true (the cache stays usable) across relists. */
  hasSynced(): boolean {
    return this.hasSyncedOnce;
  }

  /**
   * True since the last successful list, watch event or watch that stayed open MIN_WATCH_DURATION_MS;
   * false before the first list and from a failure until then.
   */
  isHealthy(): boolean {
    return this.healthy;
  }

  /** Synced, healthy, and while failing since when, how often and why (for /readyz and logs). */
  state(): InformerStatus {
    const failure = this.outage.lastError;
    return {
      name: this.o.name,
      synced: this.hasSyncedOnce,
      healthy: this.healthy,
      server: this.server,
      failingSinceMs: this.outage.sinceMs,
      failures: this.outage.failures,
      lastError: failure?.text,
      unreachable: failure?.unreachable ?? false,
    };
  }

  /** The cached object, by namespace and name (namespace "" for cluster-scoped objects). Do not mutate it. */
  get(name: string, namespace = ""): T | undefined {
    return this.store.get(keyOf(namespace, name));
  }

  /** Every cached object, optionally in one namespace. Do not mutate them. */
  list(namespace?: string): T[] {
    return namespace === undefined ? [...this.store.values()] : this.byIndex(NAMESPACE_INDEX, namespace);
  }

  /** The cached objects whose index function `index` returned `value`. */
  byIndex(index: string, value: string): T[] {
    const keys = this.indices.get(index)?.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const obj = this.store.get(k);
      if (obj) out.push(obj);
    }
    return out;
  }

  /** Starts the list-watch loop in the background. */
  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Ends the loop and the open watch. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.stopping.abort();
    await this.loop;
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  private async run(): Promise<void> {
    while (!this.isStopped()) {
      const end = await this.listAndWatch();
      if (this.isStopped()) break;
      if (end.kind === "gone") {
        this.o.logger?.debug({ informer: this.o.name }, "resourceVersion too old (410 Gone): relisting");
        this.resourceVersion = "";
      } else if (end.kind === "failed") {
        await this.backoff(end.error);
      }
    }
  }

  /** Lists when there is no resourceVersion to resume from, then runs one watch. */
  private async listAndWatch(): Promise<WatchEnd> {
    if (this.resourceVersion === "") {
      try {
        await this.relist();
      } catch (err) {
        // An expired continue token is the server's 410: start the list over. Anything else, a timeout
        // included, is a failure.
        return isGone(err) ? GONE : { kind: "failed", error: err };
      }
      if (this.isStopped()) return RESUME;
    }
    return this.watchOnce();
  }

  private async relist(): Promise<void> {
    const selectors: { labelSelector?: string; fieldSelector?: string } = {};
    if (this.o.labelSelector !== undefined) selectors.labelSelector = this.o.labelSelector;
    if (this.o.fieldSelector !== undefined) selectors.fieldSelector = this.o.fieldSelector;
    // Pages are applied as they arrive (each object is trimmed at once, so a large collection is never
    // held whole); objects no page mentioned are removed once the last page is in. A list that fails
    // midway leaves current objects in the cache, and the next relist completes it.
    const seen = new Set<string>();
    let resourceVersion: string | undefined;
    for await (const page of this.o.list(selectors)) {
      if (this.stopped) return;
      resourceVersion ??= page.resourceVersion;
      for (const obj of page.items) {
        const key = keyOfObject(obj);
        seen.add(key);
        this.upsert(key, obj);
      }
    }
    if (this.stopped) return;
    for (const [key, obj] of [...this.store]) {
      if (!seen.has(key)) this.remove(key, obj);
    }
    this.resourceVersion = resourceVersion ?? "";
    this.markHealthy();
    this.hasSyncedOnce = true;
    this.o.observer?.relisted?.(this.o.name);
  }

  /**
   * Runs one watch until it ends, and sorts how it ended. A clean end (the server's timeoutSeconds) or the
   * client's no-data timeout after the watch opened resumes at once, unless it came sooner than
   * MIN_WATCH_DURATION_MS after the start with no event: that, a timeout while opening, any other error and
   * a non-410 ERROR event are failures; 410 (as an answer or an ERROR event) relists.
   */
  private watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve) => {
      const timeoutSeconds = 300 + Math.floor((this.o.random ?? Math.random)() * 300);
      const params: Record<string, string | boolean | number> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      };
      if (this.o.labelSelector !== undefined) params.labelSelector = this.o.labelSelector;
      if (this.o.fieldSelector !== undefined) params.fieldSelector = this.o.fieldSelector;
      const clock = this.o.clock;
      const startedAt = clock.monotonic();
      let events = 0;
      let opened = false;
      let ended = false;
      let streamError: unknown;
      let controller: AbortController | undefined;
      let stayedOpen: TimerHandle | undefined;
      const end = (err: unknown): void => {
        if (ended) return;
        ended = true;
        stayedOpen?.cancel();
        this.abort = undefined;
        const lastedMs = clock.monotonic() - startedAt;
        resolve(
          this.stopped
            ? RESUME
            : sortWatchEnd({ path: this.o.path, err, streamError, opened, events, lastedMs }),
        );
      };
      this.watcher
        .watch(
          this.o.path,
          params,
          (type: string, apiObj: unknown) => {
            if (ended) return;
            opened = true;
            if (type === "ERROR") {
              // The server ends the watch after an ERROR event; end it here too, in case it does not.
              streamError ??= new WatchEventError(this.o.path, apiObj);
              controller?.abort();
              return;
            }
            events++;
            this.markHealthy();
            this.apply(type, apiObj as T);
          },
          end,
          this.o.watchAccept === undefined ? undefined : { accept: this.o.watchAccept },
        )
        .then((c) => {
          if (ended) return; // opening failed: done came first
          opened = true;
          controller = c;
          this.abort = c;
          if (this.stopped || streamError !== undefined) {
            c.abort();
            return;
          }
          stayedOpen = clock.setTimeout(() => {
            if (!ended) this.markHealthy();
          }, MIN_WATCH_DURATION_MS);
        })
        .catch(end);
    });
  }

  private apply(type: string, obj: T): void {
    const rv = obj.metadata?.resourceVersion;
    switch (type) {
      case "ADDED":
      case "MODIFIED":
        this.upsert(keyOfObject(obj), obj);
        break;
      case "DELETED": {
        const key = keyOfObject(obj);
        this.remove(key, this.store.get(key) ?? obj);
        break;
      }
      case "BOOKMARK":
        break;
      default:
        return;
    }
    if (rv !== undefined && rv !== "") this.resourceVersion = rv;
  }

  private upsert(key: string, received: T): void {
    const old = this.store.get(key);
    if (old && old.metadata?.resourceVersion === received.metadata?.resourceVersion) return;
    const obj = this.o.transform ? this.o.transform(received) : received;
    if (old) this.unindex(key, old);
    this.store.set(key, obj);
    this.index(key, obj);
    if (old) this.o.handlers?.onUpdate?.(old, obj);
    else this.o.handlers?.onAdd?.(obj);
  }

  private remove(key: string, obj: T): void {
    if (!this.store.has(key)) return;
    this.unindex(key, obj);
    this.store.delete(key);
    this.o.handlers?.onDelete?.(obj);
  }

  private index(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indices.get(name);
      if (!idx) continue;
      for (const value of fn(obj)) {
        let keys = idx.get(value);
        if (!keys) idx.set(value, (keys = new Set()));
        keys.add(key);
      }
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indices.get(name);
      if (!idx) continue;
      for (const value of fn(obj)) {
        const keys = idx.get(value);
        keys?.delete(key);
        if (keys?.size === 0) idx.delete(value);
      }
    }
  }

  /** A list, an event or a watch that stayed open: healthy again, and an ongoing outage ends (logged). */
  private markHealthy(): void {
    this.healthy = true;
    const ended = this.outage.recover();
    if (ended === undefined) return;
    this.o.logger?.info(
      {
        informer: this.o.name,
        server: this.server,
        since: new Date(ended.sinceMs).toISOString(),
        downForMs: Math.round(ended.downForMs),
        failures: ended.failures,
      },
      `${this.o.name}: list/watch works again after ${formatDuration(ended.downForMs)} (${ended.failures} failed attempts)`,
    );
  }

  /** Counts and (when due) logs a failure, then sleeps the capped, jittered backoff for it. */
  private async backoff(err: unknown): Promise<void> {
    this.healthy = false;
    const delay = backoffDelay(this.backoffPolicy, this.outage.failures, this.o.random);
    const failure: Failure = { text: describeError(err), unreachable: isUnreachable(err) };
    const report = this.outage.fail(failure);
    this.o.observer?.watchError?.(this.o.name, err, delay);
    this.logFailure(report, failure, delay);
    await sleep(this.o.clock, delay, this.stopping.signal);
  }

  /** The first failure of an outage and due reminders at warn, every other retry at debug. */
  private logFailure(report: OutageReport, failure: Failure, retryInMs: number): void {
    const fields = {
      informer: this.o.name,
      server: this.server,
      err: failure.text,
      unreachable: failure.unreachable,
      since: new Date(this.outage.sinceMs ?? 0).toISOString(),
      failures: this.outage.failures,
      retryInMs,
    };
    const server = this.server ?? "(unknown)";
    if (report === undefined) {
      this.o.logger?.debug(fields, "list/watch failed; retrying");
      return;
    }
    const what = failure.unreachable
      ? `cannot reach the API server ${server}`
      : `list/watch failing on API server ${server}`;
    this.o.logger?.warn(
      fields,
      report === "started"
        ? `${this.o.name}: ${what} (${failure.text}); retrying with backoff, logging again at growing intervals while it lasts`
        : `${this.o.name}: still failing since ${fields.since} after ${fields.failures} attempts: ${what} (${failure.text}); retrying`,
    );
  }
}

/** The built-in index of objects by namespace, used by list(namespace). */
const NAMESPACE_INDEX = "__namespace";

function keyOf(namespace: string, name: string): string {
  return namespace === "" ? name : `${namespace}/${name}`;
}

function keyOfObject(obj: KubernetesObject): string {
  return keyOf(obj.metadata?.namespace ?? "", obj.metadata?.name ?? "");
}
