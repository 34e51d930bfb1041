/**
 * Records what the cluster does into the history: every version of every secret in the soak's namespaces
 * (uid, resourceVersion, managed or not, the field manager that wrote it), every namespace version (labels,
 * phase) and every version of the leader election Lease (holder), from admin watches (watch.ts).
 */
import type { V1Secret } from "@kubernetes/client-node";
import type { ControlPlane } from "../env/control-plane.ts";
import { writersOf } from "../e2e/support/observe.ts";
import type { History } from "./history.ts";
import { Reflector, type KubeItem } from "./watch.ts";

const MANAGED_BY = "app.kubernetes.io/managed-by";

/** Namespaces the soak creates (labelled ones and unrelated churn). */
export const isSoakNamespace = (name: string): boolean =>
  name.startsWith("soak-n") || name.startsWith("soak-u");

export class Recorder {
  private readonly reflectors: Reflector[] = [];
  private readonly secrets = new Map<string, { item: KubeItem; writers: string[] }>();
  private readonly namespaces = new Map<string, KubeItem>();
  private readonly leaseRvs = new Set<string>();
  private poller: NodeJS.Timeout | undefined;

  private readonly history: History;
  private readonly leasePath: string;

  constructor(cp: ControlPlane, history: History, hostNamespace: string, leaseName: string) {
    const h = history;
    this.history = history;
    this.leasePath = `/apis/coordination.k8s.io/v1/namespaces/${hostNamespace}/leases/${leaseName}`;
    this.reflectors.push(
      new Reflector(cp, "/api/v1/secrets", {
        onList: (items, listRv, gap) => {
          const mine = items.filter((s) => isSoakNamespace(s.metadata?.namespace ?? ""));
          if (gap)
            h.add({
              kind: "watch-gap",
              resource: "secrets",
              detail: gap.reason,
              fromRv: gap.fromRv,
              toRv: listRv,
            });
          const seen = new Set<string>();
          for (const s of mine) {
            const uid = s.metadata?.uid ?? "";
            seen.add(uid);
            const prev = this.secrets.get(uid);
            if (prev?.item.metadata?.resourceVersion === s.metadata?.resourceVersion) continue;
            this.secret(h, prev === undefined ? "ADDED" : "MODIFIED", s, gap !== undefined);
          }
          for (const [uid, prev] of this.secrets) {
            if (seen.has(uid)) continue;
            const gone = { ...prev.item, metadata: { ...prev.item.metadata, resourceVersion: listRv } };
            this.secret(h, "DELETED", gone, true);
          }
        },
        onEvent: (type, s) => {
          if (isSoakNamespace(s.metadata?.namespace ?? "")) this.secret(h, type, s, false);
        },
      }),
      new Reflector(cp, "/api/v1/namespaces", {
        onList: (items, listRv, gap) => {
          if (gap)
            h.add({
              kind: "watch-gap",
              resource: "namespaces",
              detail: gap.reason,
              fromRv: gap.fromRv,
              toRv: listRv,
            });
          const seen = new Set<string>();
          for (const n of items) {
            const name = n.metadata?.name ?? "";
            if (!isSoakNamespace(name)) continue;
            seen.add(name);
            const prev = this.namespaces.get(name);
            if (prev?.metadata?.resourceVersion === n.metadata?.resourceVersion) continue;
            this.namespace(h, prev === undefined ? "ADDED" : "MODIFIED", n, gap !== undefined);
          }
          for (const [name, prev] of this.namespaces) {
            if (seen.has(name)) continue;
            this.namespace(
              h,
              "DELETED",
              { ...prev, metadata: { ...prev.metadata, resourceVersion: listRv } },
              true,
            );
          }
        },
        onEvent: (type, n) => {
          if (isSoakNamespace(n.metadata?.name ?? "")) this.namespace(h, type, n, false);
        },
      }),
      new Reflector(cp, `/apis/coordination.k8s.io/v1/namespaces/${hostNamespace}/leases`, {
        onList: (items, listRv, gap) => {
          if (gap)
            h.add({
              kind: "watch-gap",
              resource: "leases",
              detail: gap.reason,
              fromRv: gap.fromRv,
              toRv: listRv,
            });
          for (const l of items) if (l.metadata?.name === leaseName) this.lease(h, l, gap !== undefined);
        },
        onEvent: (type, l) => {
          if (type !== "DELETED" && l.metadata?.name === leaseName) this.lease(h, l, false);
        },
      }),
    );
  }

  async start(): Promise<void> {
    await Promise.all(this.reflectors.map((r) => r.start()));
    // The Lease is also read every 250 ms: after an API server restart the watch resumes into 410 and
    // relists, and the versions in between (a takeover) would otherwise be known only by the latest one.
    const leaseReflector = this.reflectors[2];
    let polling = false;
    this.poller = setInterval(() => {
      if (polling || leaseReflector === undefined) return;
      polling = true;
      leaseReflector
        .get(this.leasePath)
        .then((body) => {
          this.lease(this.history, JSON.parse(body) as KubeItem, false, true);
        })
        .catch(() => undefined)
        .finally(() => {
          polling = false;
        });
    }, 250);
  }

  async stop(): Promise<void> {
    clearInterval(this.poller);
    await Promise.all(this.reflectors.map((r) => r.stop()));
  }

  private secret(h: History, type: "ADDED" | "MODIFIED" | "DELETED", s: KubeItem, relisted: boolean): void {
    const m = s.metadata ?? {};
    const uid = m.uid ?? "";
    const prev = this.secrets.get(uid);
    if (
      type !== "DELETED" &&
      prev !== undefined &&
      BigInt(prev.item.metadata?.resourceVersion ?? "0") >= BigInt(m.resourceVersion ?? "0")
    )
      return; // replayed on resume
    let writers: string[] = [];
    if (type === "DELETED") this.secrets.delete(uid);
    else {
      writers = writersOf(s as V1Secret, prev?.item as V1Secret | undefined, prev?.writers ?? []);
      this.secrets.set(uid, { item: s, writers });
    }
    h.add({
      kind: "secret",
      type,
      ns: m.namespace ?? "",
      name: m.name ?? "",
      uid,
      rv: m.resourceVersion ?? "0",
      managed: m.labels?.[MANAGED_BY] === "eatr",
      managers: writers,
      ...(relisted ? { relisted } : {}),
    });
  }

  private namespace(
    h: History,
    type: "ADDED" | "MODIFIED" | "DELETED",
    n: KubeItem,
    relisted: boolean,
  ): void {
    const m = n.metadata ?? {};
    const name = m.name ?? "";
    const prev = this.namespaces.get(name);
    if (
      type !== "DELETED" &&
      prev !== undefined &&
      BigInt(prev.metadata?.resourceVersion ?? "0") >= BigInt(m.resourceVersion ?? "0")
    )
      return;
    if (type === "DELETED") this.namespaces.delete(name);
    else this.namespaces.set(name, n);
    const status = n.status as { phase?: string } | undefined;
    h.add({
      kind: "namespace",
      type,
      name,
      uid: m.uid ?? "",
      rv: m.resourceVersion ?? "0",
      labels: m.labels ?? {},
      phase: m.deletionTimestamp !== undefined ? "Terminating" : (status?.phase ?? "Active"),
      ...(relisted ? { relisted } : {}),
    });
  }

  private lease(h: History, l: KubeItem, relisted: boolean, polled = false): void {
    const rv = l.metadata?.resourceVersion ?? "0";
    if (this.leaseRvs.has(rv)) return;
    this.leaseRvs.add(rv);
    const spec = (l.spec ?? {}) as { holderIdentity?: string; leaseTransitions?: number };
    h.add({
      kind: "lease",
      rv,
      holder: spec.holderIdentity ?? "",
      transitions: spec.leaseTransitions ?? 0,
      ...(relisted ? { relisted } : {}),
      ...(polled ? { polled } : {}),
    });
  }
}
