import type { KubernetesObject } from "@kubernetes/client-node";
import { backoffDelay, validateBackoff, type BackoffPolicy } from "../backoff.ts";
import { sleep, type Clock } from "../clock.ts";
import type { ListPage } from "../kube/rest.ts";

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
}

/** client-node's Watch.watch contract: streams events to callback, calls done once when the watch ends. */
export interface WatchClient {
  watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

/** Error carried by a watch stream or the list call, with an HTTP status when there was one. */
interface StatusError {
  statusCode?: number;
  code?: number;
  name?: string;
}

/**
 * A reflector + indexed store for one collection, client-go style: list, then watch from the list's
 * resourceVersion with bookmarks and a server-side timeout; 410 Gone relists; every other failure retries
 * with capped, jittered exponential backoff. It never stops on its own: only stop() ends it.
 */
export class Informer<T extends KubernetesObject> {
  private readonly o: InformerOptions<T>;
  private readonly store = new Map<string, T>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly indexers: Readonly<Record<string, (obj: T) => readonly string[]>>;
  private readonly watcher: WatchClient;
  private resourceVersion = "";
  private hasSyncedOnce = false;
  private healthy = false;
  private failures = 0;
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

  /** True while the last list or watch succeeded; false while retrying after an error. */
  isHealthy(): boolean {
    return this.healthy;
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
      let err: unknown;
      try {
        if (this.resourceVersion === "") await this.relist();
        if (this.isStopped()) break;
        err = await this.watchOnce();
      } catch (listErr) {
        err = listErr;
      }
      if (this.isStopped()) break;
      // A clean end (the server's timeoutSeconds) or the client's inactivity timeout: resume from resourceVersion.
      if (err === undefined || isTimeout(err)) continue;
      if (isGone(err)) {
        this.o.logger?.debug({ informer: this.o.name }, "resourceVersion too old (410 Gone): relisting");
        this.resourceVersion = "";
        continue;
      }
      await this.backoff(err);
    }
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

  /** Runs one watch until it ends; resolves with its error, or undefined when it ended cleanly. */
  private watchOnce(): Promise<unknown> {
    return new Promise<unknown>((resolve) => {
      const timeoutSeconds = 300 + Math.floor((this.o.random ?? Math.random)() * 300);
      const params: Record<string, string | boolean | number> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      };
      if (this.o.labelSelector !== undefined) params.labelSelector = this.o.labelSelector;
      if (this.o.fieldSelector !== undefined) params.fieldSelector = this.o.fieldSelector;
      let goneInStream = false;
      this.watcher
        .watch(
          this.o.path,
          params,
          (type: string, apiObj: unknown) => {
            const obj = apiObj as T & { code?: number };
            if (type === "ERROR") {
              if (obj.code === 410) goneInStream = true;
              return;
            }
            this.markHealthy();
            this.apply(type, obj);
          },
          (err: unknown) => {
            this.abort = undefined;
            resolve(goneInStream ? { statusCode: 410 } : (err ?? undefined));
          },
        )
        .then((controller) => {
          this.abort = controller;
          if (this.stopped) controller.abort();
        })
        .catch(resolve);
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

  private markHealthy(): void {
    this.healthy = true;
    this.failures = 0;
  }

  private async backoff(err: unknown): Promise<void> {
    this.healthy = false;
    const delay = backoffDelay(this.backoffPolicy, this.failures, this.o.random);
    this.failures++;
    this.o.observer?.watchError?.(this.o.name, err, delay);
    this.o.logger?.warn(
      { informer: this.o.name, err: describeError(err), retryInMs: delay },
      "list/watch failed; retrying",
    );
    await sleep(this.o.clock, delay, this.stopping.signal);
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

function isGone(err: unknown): boolean {
  const e = err as StatusError | undefined;
  return e?.statusCode === 410 || e?.code === 410;
}

function isTimeout(err: unknown): boolean {
  return (err as StatusError | undefined)?.name === "TimeoutError";
}

/** A short, secret-free description of a list/watch error for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const status = (err as StatusError).statusCode ?? (err as StatusError).code;
    return status === undefined ? `${err.name}: ${err.message}` : `HTTP ${status}: ${err.message}`;
  }
  return String(err);
}
