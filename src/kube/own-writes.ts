/**
 * Tells the watch event that echoes one of eatr's own pull secret writes from every other event, so the
 * echo does not queue its namespace again: the cache then holds exactly what the reconcile that wrote it
 * decided. The echo can arrive before the write's answer, so events for a secret being written are held
 * until the answer comes: an event with the answer's resourceVersion was the echo; any other (someone
 * else's change, a later version), or a failed write, queues the namespace then. Entries are dropped by the
 * next event for their secret, whatever it is, and the map is bounded all the same.
 */
export class OwnWrites {
  /** Writes in flight: the resourceVersions of events seen meanwhile. */
  private readonly pending = new Map<string, string[]>();
  /** Answered writes whose echo has not arrived: their resourceVersion. */
  private readonly written = new Map<string, string>();
  private readonly max: number;
  private readonly missed: (namespace: string) => void;

  /** missed(namespace): an event held during a write was someone else's change: reconcile the namespace. */
  constructor(options: { missed?: (namespace: string) => void; max?: number } = {}) {
    this.max = options.max ?? 100_000;
    this.missed = options.missed ?? (() => undefined);
  }

  /** A write of namespace/name is about to be sent. */
  begin(namespace: string, name: string): void {
    this.pending.set(`${namespace}/${name}`, []);
  }

  /**
   * The write ended: with the resourceVersion the server gave it, or undefined when it failed. Calls
   * missed(namespace), and returns true, when an event held meanwhile was not its echo.
   */
  end(namespace: string, name: string, resourceVersion: string | undefined): boolean {
    const key = `${namespace}/${name}`;
    const seen = this.pending.get(key) ?? [];
    this.pending.delete(key);
    let missed: boolean;
    if (resourceVersion === undefined || resourceVersion === "") missed = seen.length > 0;
    else if (seen.length === 0) {
      if (this.written.size >= this.max) this.written.clear(); // only costs a few extra reconciles
      this.written.set(key, resourceVersion);
      missed = false;
    } else missed = seen.some((rv) => rv !== resourceVersion);
    if (missed) this.missed(namespace);
    return missed;
  }

  /**
   * True when this event needs no reconcile now: the echo of our last answered write (forgotten then), or
   * an event held while a write of that secret is in flight (end() decides). Any other event forgets our
   * write and returns false.
   */
  isEcho(namespace: string, name: string, resourceVersion: string | undefined): boolean {
    const key = `${namespace}/${name}`;
    const held = this.pending.get(key);
    if (held !== undefined) {
      held.push(resourceVersion ?? "");
      return true;
    }
    const ours = this.written.get(key);
    if (ours === undefined) return false;
    this.written.delete(key);
    return ours === resourceVersion;
  }

  /** Secrets with a write in flight or an echo still expected. */
  get size(): number {
    return this.pending.size + this.written.size;
  }
}
