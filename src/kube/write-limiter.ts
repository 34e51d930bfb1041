import { sleep, type Clock } from "../clock.ts";
import { TokenBucket } from "../token-bucket.ts";

export interface WriteLimiterOptions {
  /** Sustained writes per second (-kube-api-qps). */
  readonly qps: number;
  /** Writes allowed in a burst above qps (-kube-api-burst). */
  readonly burst: number;
  readonly clock: Clock;
}

/**
 * The client-side limit on writes to the API server (client-go's QPS/burst), shared by every writer: pull
 * secrets and Events. Lease renewals do not take it: they must never wait behind a burst of secret writes.
 */
export class WriteLimiter {
  private readonly bucket: TokenBucket;
  private readonly clock: Clock;

  constructor(options: WriteLimiterOptions) {
    this.bucket = new TokenBucket(options, "WriteLimiter");
    this.clock = options.clock;
  }

  /** Resolves when one more write may be sent; rejects with signal's reason when it aborts first. */
  async take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const wait = this.bucket.reserve();
    if (wait > 0) await sleep(this.clock, wait, signal);
    signal?.throwIfAborted();
  }
}
