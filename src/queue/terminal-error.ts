/**
 * An error a reconciler throws when retrying cannot help (bad input, a forbidden operation). The worker
 * pool counts it as an error and as a terminal error, forgets the key and does not requeue it. It is
 * recognised anywhere in an error's cause chain.
 */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TerminalError";
  }
}

/** True if err, or any error in its `cause` chain, is a TerminalError (Go's errors.Is). */
export function isTerminalError(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = err; e instanceof Error && !seen.has(e); e = e.cause) {
    if (e instanceof TerminalError) return true;
    seen.add(e);
  }
  return false;
}
