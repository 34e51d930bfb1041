import { redactCredentials, redactValue } from "./redact.ts";

/** Where a setting's value came from. */
export type Origin =
  | { readonly kind: "flag"; readonly spelling: string }
  | { readonly kind: "env"; readonly name: string }
  | { readonly kind: "file"; readonly path: string; readonly key: string }
  | { readonly kind: "default" };

/** "flag --port", "env EATR_PORT", "file /etc/eatr.yaml, key \"port\"", "default". */
export function describeOrigin(origin: Origin): string {
  switch (origin.kind) {
    case "flag":
      return `flag ${origin.spelling}`;
    case "env":
      return `env ${origin.name}`;
    case "file":
      return `file ${origin.path}, key ${JSON.stringify(origin.key)}`;
    case "default":
      return "default";
  }
}

/**
 * One line describing a bad value: the option's flag name, where the value came from, the value as
 * written (hidden when sensitive, credentials such as a URL's password redacted) and what was expected, e.g.
 * `port (env EATR_PORT) = "http": expected a port number from 0 to 65535`.
 */
export function valueProblem(
  name: string,
  origin: Origin,
  written: unknown,
  expected: string,
  sensitive = false,
): string {
  const json = written === undefined ? "undefined" : JSON.stringify(written);
  const shown = sensitive
    ? "[redacted]"
    : typeof written === "string"
      ? JSON.stringify(redactValue(written))
      : redactCredentials(json);
  return `${name} (${describeOrigin(origin)}) = ${shown}: expected ${expected}`;
}

/**
 * The configuration cannot be used. The message lists every problem found, one per line, with any
 * credential in them redacted; the process should print it and exit with `exitCode` (2, as Go's flag
 * package does for bad usage).
 */
export class ConfigError extends Error {
  readonly exitCode = 2;
  /** Each problem as one line, without the "invalid configuration" header. */
  readonly problems: readonly string[];

  constructor(found: readonly string[]) {
    const problems = found.map(redactCredentials);
    super(
      problems.length === 1
        ? `invalid configuration: ${problems[0] ?? ""}`
        : `invalid configuration (${problems.length} problems):\n${problems.map((p) => `  ${p}`).join("\n")}`,
    );
    this.name = "ConfigError";
    this.problems = Object.freeze([...problems]);
  }
}
