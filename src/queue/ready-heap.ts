/** A key waiting in a delaying queue, with the monotonic time at which it becomes ready. */
export interface WaitingKey {
  key: string;
  readyAt: number;
  /** Insertion order, so keys ready at the same time come out in the order they were offered. */
  seq: number;
}

/**
 * A min-heap of keys by ready time, holding each key at most once. Offering a key that is already
 * waiting keeps the earlier of the two ready times.
 */
export class ReadyHeap {
  private readonly items: WaitingKey[] = [];
  private readonly index = new Map<string, number>();
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  /** Adds key ready at readyAt, or moves an already waiting key earlier (never later). */
  offer(key: string, readyAt: number): void {
    const at = this.index.get(key);
    if (at === undefined) {
      this.items.push({ key, readyAt, seq: this.seq++ });
      this.index.set(key, this.items.length - 1);
      this.up(this.items.length - 1);
      return;
    }
    const existing = this.item(at);
    if (readyAt < existing.readyAt) {
      existing.readyAt = readyAt;
      this.up(at);
    }
  }

  /** The key that becomes ready first, without removing it. */
  peek(): WaitingKey | undefined {
    return this.items[0];
  }

  /** Removes and returns the key that becomes ready first. */
  pop(): WaitingKey | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (top === undefined || last === undefined) return undefined;
    this.index.delete(top.key);
    if (last !== top) {
      this.items[0] = last;
      this.index.set(last.key, 0);
      this.down(0);
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
    this.index.clear();
  }

  private item(i: number): WaitingKey {
    const item = this.items[i];
    if (item === undefined) throw new RangeError(`ReadyHeap: no item at ${i}`);
    return item;
  }

  private less(i: number, j: number): boolean {
    const a = this.item(i);
    const b = this.item(j);
    return a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    const a = this.item(i);
    const b = this.item(j);
    this.items[i] = b;
    this.items[j] = a;
    this.index.set(b.key, i);
    this.index.set(a.key, j);
  }

  private up(i: number): void {
    let child = i;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (!this.less(child, parent)) return;
      this.swap(child, parent);
      child = parent;
    }
  }

  private down(i: number): void {
    let parent = i;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < this.items.length && this.less(left, smallest)) smallest = left;
      if (right < this.items.length && this.less(right, smallest)) smallest = right;
      if (smallest === parent) return;
      this.swap(parent, smallest);
      parent = smallest;
    }
  }
}
