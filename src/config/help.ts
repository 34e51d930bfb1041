import { describeOptions, type OptionDescription } from "./schema.ts";

function showDefault(option: OptionDescription): string {
  const quoted = option.type === "string" || option.type === "url" || option.type === "path";
  return `default ${quoted ? JSON.stringify(option.default) : option.default}`;
}

function describe(option: OptionDescription): string {
  const envs = option.envFallback === undefined ? option.env : `${option.env} (or ${option.envFallback})`;
  const fileKey = option.key === "configFile" ? "" : `; file key ${option.key}`;
  // Go's flag package shows a boolean flag without a type: it takes no separate value.
  const usage =
    option.type === "bool" ? `-${option.flag} (or -${option.flag}=false)` : `-${option.flag} ${option.type}`;
  return [
    `  ${usage}`,
    `        ${option.doc}`,
    `        ${showDefault(option)}; env ${envs}${fileKey}`,
  ].join("\n");
}

/**
 * The --help text, generated from the option table: usage, every flag (in the original single-dash
 * spelling) with its env var, config-file key, default and description, then precedence and file format.
 * Ends with a newline.
 */
export function helpText(): string {
  const options = describeOptions();
  return [
    "Usage: eatr [flags]",
    "       eatr status [flags]   (report which namespaces have current pull secrets; eatr status --help)",
    "",
    "eatr keeps AWS ECR image pull secrets fresh in every namespace that asks for them.",
    "",
    "Flags take a value as -flag value or -flag=value; --flag works the same as -flag.",
    "Boolean flags are set by -flag alone or -flag=true|false (not -flag false, as in Go).",
    "",
    ...options.map(describe),
    "  -h, -help",
    "        Show this help and exit.",
    "  -version",
    "        Print the version and exit.",
    "",
    "Precedence: flags > environment variables > config file > defaults.",
    "",
    "Config file: a JSON (.json) or YAML (.yaml, .yml) mapping whose keys are the file keys above,",
    "with string or number values (booleans may be true or false). An unknown key is an error. Example:",
    "    authTokenRenewalInterval: 6h",
    "    hostNamespace: ci-cd",
    "    port: 5000",
    "",
    "Durations use Go syntax: numbers with units ns, us, ms, s, m or h, e.g. 300ms, 20s, 1h30m, 1.5h;",
    "a bare 0 is allowed. There is no unit for days.",
    "",
    "Leader election timings must satisfy lease-duration > renew-deadline > 1.2 × retry-period.",
    "",
  ].join("\n");
}

/** The --version text. Ends with a newline. */
export function versionText(version: string | undefined): string {
  return `eatr ${version ?? "(version unknown)"}\n`;
}
