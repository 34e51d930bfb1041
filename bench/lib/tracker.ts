/**
 * Watches the pull secrets (label app.kubernetes.io/managed-by=eatr, or any selector) and keeps, for each
 * one, whether it is "current": it holds a token the local ECR server minted for that registry, no older
 * than a baseline. Records the arrival time of every event, so waits are timestamped by the watch itself
 * rather than by a poll period.
 */
import type { EcrServer } from "../../test/env/ecr-server.ts";
import type { Kube, KubeObject } from "./kube.ts";

export interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export interface Registry {
  host: string;
  accountId: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The token (registry password) a pull secret holds for `host`, or undefined when it holds none. */
export function passwordOf(secret: SecretObject, host: string): string | undefined {
  const raw = secret.data?.[".dockerconfigjson"];
  if (raw === undefined) return undefined;
  try {
    const config = JSON.parse(Buffer.from(raw, "base64").toString("utf8")) as {
      auths?: Record<string, { auth?: string }>;
    };
    const auth = config.auths?.[`https://${host}`]?.auth;
    if (auth === undefined) return undefined;
    const decoded = Buffer.from(auth, "base64").toString("utf8");
    return decoded.startsWith("AWS:") ? decoded.slice(4) : undefined;
  } catch {
    return undefined;
  }
}

export interface Waiter {
  keys: Set<string>;
  resolve: (at: number) => void;
}

export class SecretTracker {
  /** Arrival times (performance.now()) of ADDED/MODIFIED events since start or resetTimes(). */
  readonly writeTimes: number[] = [];
  private readonly current = new Map<string, boolean>();
  private readonly byHost = new Map<string, Registry>();
  private minSeq = 0;
  private currentCount = 0;
  private watch: { stop(): void } | undefined;
  private error: Error | undefined;
  private waiters: Waiter[] = [];
  private countWaiters: { count: number; resolve: (at: number) => void }[] = [];
  private passwordSeq = new Map<string, number>();
  /** performance.now() of the last event that made a secret current. */
  lastCurrentAt = 0;
  firstCurrentAt = 0;

  private readonly kube: Kube;
  private readonly ecr: EcrServer;
  private readonly labelSelector: string;
  private readonly accept: ((secret: SecretObject) => boolean) | undefined;

  /** `accept` overrides the "holds a token minted after the baseline" check (e.g. for the ceiling's secrets). */
  constructor(
    kube: Kube,
    ecr: EcrServer,
    registries: readonly Registry[],
    labelSelector = "app.kubernetes.io/managed-by=eatr",
    accept?: (secret: SecretObject) => boolean,
  ) {
    this.kube = kube;
    this.ecr = ecr;
    this.labelSelector = labelSelector;
    this.accept = accept;
    for (const r of registries) this.byHost.set(r.host, r);
  }

  /** Lists the secrets, then watches from the list's resourceVersion. */
  async start(): Promise<void> {
    const list = await this.kube.listAll<SecretObject>("/api/v1/secrets", {
      labelSelector: this.labelSelector,
    });
    for (const s of list.items) this.observe("ADDED", s, performance.now(), false);
    this.watch = this.kube.watch(
      "/api/v1/secrets",
      { labelSelector: this.labelSelector },
      list.metadata?.resourceVersion ?? "",
      (type, obj, at) => {
        this.observe(type, obj, at, true);
      },
      (err) => {
        this.error = err;
      },
    );
  }

  stop(): void {
    this.watch?.stop();
    this.watch = undefined;
  }

  /** From now on a secret is current only with a token minted after every token minted so far. */
  raiseBaseline(): void {
    this.minSeq = Math.max(0, ...this.ecr.tokens().map((t) => t.seq)) + 1;
    this.recount();
  }

  resetTimes(): void {
    this.writeTimes.length = 0;
    this.firstCurrentAt = 0;
    this.lastCurrentAt = 0;
  }

  count(): number {
    return this.currentCount;
  }

  size(): number {
    return this.current.size;
  }

  keys(): string[] {
    return [...this.current.keys()];
  }

  isCurrentKey(key: string): boolean {
    return this.current.get(key) === true;
  }

  failure(): Error | undefined {
    return this.error;
  }

  /** Resolves with the arrival time of the event that made all `keys` current. */
  whenCurrent(keys: readonly string[]): Promise<number> {
    const pending = new Set(keys.filter((k) => this.current.get(k) !== true));
    if (pending.size === 0) return Promise.resolve(performance.now());
    return new Promise((resolve) => this.waiters.push({ keys: pending, resolve }));
  }

  /** Resolves with the arrival time of the event that brought the number of current secrets to `count`. */
  whenCount(count: number): Promise<number> {
    if (this.currentCount >= count) return Promise.resolve(performance.now());
    return new Promise((resolve) => this.countWaiters.push({ count, resolve }));
  }

  private isCurrent(secret: SecretObject): boolean {
    if (this.accept) return this.accept(secret);
    const host = secret.metadata?.name ?? "";
    const registry = this.byHost.get(host);
    if (!registry) return false;
    const password = passwordOf(secret, host);
    if (password === undefined) return false;
    let seq = this.passwordSeq.get(password);
    if (seq === undefined) {
      const token = this.ecr.findToken(password);
      if (!token) return false;
      // Minted with the registry's own key, or (AssumeRole) with temporary credentials of its account.
      const ours =
        token.accessKeyId === registry.accessKeyId ||
        (token.accountId === registry.accountId && token.region === registry.region);
      if (!ours) return false;
      seq = token.seq;
      this.passwordSeq.set(password, seq);
    }
    return seq >= this.minSeq;
  }

  /** No token minted yet is above the new baseline: every secret is not current until rewritten. */
  private recount(): void {
    for (const key of this.current.keys()) this.current.set(key, false);
    this.currentCount = 0;
  }

  private observe(type: string, secret: SecretObject, at: number, live: boolean): void {
    const key = `${secret.metadata?.namespace ?? ""}/${secret.metadata?.name ?? ""}`;
    const was = this.current.get(key) === true;
    if (type === "DELETED") {
      this.current.delete(key);
      if (was) this.currentCount--;
      return;
    }
    if (live) this.writeTimes.push(at);
    const now = this.isCurrent(secret);
    this.current.set(key, now);
    if (now === was) return;
    this.currentCount += now ? 1 : -1;
    if (!now) return;
    if (this.firstCurrentAt === 0) this.firstCurrentAt = at;
    this.lastCurrentAt = at;
    if (this.waiters.length > 0) {
      this.waiters = this.waiters.filter((w) => {
        w.keys.delete(key);
        if (w.keys.size > 0) return true;
        w.resolve(at);
        return false;
      });
    }
    if (this.countWaiters.length > 0) {
      this.countWaiters = this.countWaiters.filter((w) => {
        if (this.currentCount < w.count) return true;
        w.resolve(at);
        return false;
      });
    }
  }
}
