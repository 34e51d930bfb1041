/**
 * Namespace name patterns (`excludeNamespaces`): a name, or a glob in which `*` stands for any run of
 * characters, possibly none (`kube-*`, `*-sandbox`, `*`). Pure functions.
 */

/** Why a pattern can never match a namespace name, or undefined when it is usable. */
export function namePatternProblem(pattern: string): string | undefined {
  if (pattern === "") return "is empty";
  if (!/^[a-z0-9*-]+$/.test(pattern))
    return "can never match a namespace name: use lowercase letters, digits, '-' and '*' (any run of characters)";
  if (pattern.replaceAll("*", "").length > 63) return "is longer than a namespace name (63 characters)";
  return undefined;
}

/** Compiles patterns into one test of a namespace name. */
export function compileNamePatterns(patterns: readonly string[]): (name: string) => boolean {
  if (patterns.length === 0) return () => false;
  const exact = new Set(patterns.filter((p) => !p.includes("*")));
  const globs = patterns
    .filter((p) => p.includes("*"))
    .map((p) => new RegExp(`^${p.split("*").map(escape).join(".*")}$`));
  return (name) => exact.has(name) || globs.some((g) => g.test(name));
}

function escape(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
}
