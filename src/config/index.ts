/** Configuration: flags, env vars, a config file and defaults, validated into a frozen Config. */
export { loadConfig, type LoadConfigOptions, type LoadResult } from "./load-config.ts";
export { redactedConfig, type Config, type LogLevel } from "./config.ts";
export { ConfigError } from "./config-error.ts";
export { describeOptions, type OptionDescription } from "./schema.ts";
export { helpText, versionText } from "./help.ts";
export { formatDuration, parseDuration } from "./duration.ts";
