import type { Clock, TimerHandle } from "../clock.ts";

export interface ResyncOptions {
  readonly clock: Clock;
  /** 0 disables it. */
  readonly intervalMs: number;
  /** The keys to re-queue, read at each tick. */
  readonly keys: () => Iterable<string>;
  readonly add: (key: string) => void;
}

/**
 * Re-queues every key every intervalMs (client-go's resync period): level-based reconciles then catch
 * anything an event did not tell, at no API cost unless something drifted.
 */
export class Resync {
  private readonly o: ResyncOptions;
  private timer: TimerHandle | undefined;
  private running = false;

  constructor(options: ResyncOptions) {
    this.o = options;
  }

  start(): void {
    if (this.running || this.o.intervalMs <= 0) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
  }

  private schedule(): void {
    this.timer = this.o.clock.setTimeout(() => {
      if (!this.running) return;
      for (const key of this.o.keys()) this.o.add(key);
      this.schedule();
    }, this.o.intervalMs);
  }
}
