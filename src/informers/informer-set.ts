import type { KubernetesObject } from "@kubernetes/client-node";
import type { Informer, InformerStatus } from "./informer.ts";

/** What runs and reports an informer, whatever it caches (for start/stop, probes and metrics). */
export interface InformerControl {
  readonly name: string;
  hasSynced(): boolean;
  isHealthy(): boolean;
  state(): InformerStatus;
  start(): void;
  stop(): Promise<void>;
}

/** The read side of a cache, as reconcilers use it. Returned objects are shared: never mutate them. */
export interface Store<T> {
  /** The cached object, by name and namespace ("" for cluster-scoped objects). */
  get(name: string, namespace?: string): T | undefined;
  /** Every cached object, optionally in one namespace. */
  list(namespace?: string): T[];
}

/**
 * Informers that each watch the objects of one name (`fieldSelector=metadata.name=<name>`, in every
 * namespace or one), read as one store: get() asks the informer of that name, list() concatenates them.
 * An object of a name no informer watches is never there.
 */
export class NamedInformers<T extends KubernetesObject> implements Store<T> {
  private readonly byName: ReadonlyMap<string, Informer<T>>;

  /** byName: the informer watching each name. */
  constructor(byName: ReadonlyMap<string, Informer<T>>) {
    this.byName = byName;
  }

  get(name: string, namespace = ""): T | undefined {
    return this.byName.get(name)?.get(name, namespace);
  }

  list(namespace?: string): T[] {
    const out: T[] = [];
    for (const informer of this.byName.values()) out.push(...informer.list(namespace));
    return out;
  }

  /** The informers, in the order of the names given. */
  informers(): Informer<T>[] {
    return [...this.byName.values()];
  }
}
