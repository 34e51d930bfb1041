import { readFileSync } from "node:fs";
import convict from "convict";
import { toConfig, type Config } from "./config.ts";
import { readConfigFile, type ConfigFileContents } from "./config-file.ts";
import { JITTER_FACTOR, timingProblems } from "../leader/timings.ts";
import { ConfigError, describeOrigin, valueProblem, type Origin } from "./config-error.ts";
import { formatDuration } from "./duration.ts";
import { parseFlags, type ParsedFlags } from "./flags.ts";
import { dnsLabel, registerConvictFormats } from "./formats.ts";
import { helpText, versionText } from "./help.ts";
import {
  CONFIG_FILE_OPTION,
  convictSchema,
  isOptionKey,
  OPTION_SPECS,
  OPTIONS,
  type OptionKey,
  type Settings,
} from "./schema.ts";

export interface LoadConfigOptions {
  /** Command-line arguments after the program name (process.argv.slice(2)). */
  readonly argv: readonly string[];
  /** Environment variables; the loader never reads process.env itself. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Returns a file's text or throws; defaults to reading it from disk as UTF-8. */
  readonly readFile?: (path: string) => string;
  /** Shown by --version. */
  readonly version?: string;
}

export type LoadResult =
  | { readonly kind: "run"; readonly config: Config }
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "version"; readonly text: string };

const BOOL_FLAGS: ReadonlySet<string> = new Set(
  OPTIONS.filter((o) => o.format.valueType === "boolean").map((o) => o.flag),
);
const VALUE_FLAGS: ReadonlySet<string> = new Set([
  ...OPTIONS.filter((o) => !BOOL_FLAGS.has(o.flag)).map((o) => o.flag),
  CONFIG_FILE_OPTION.flag,
]);
/** The pod's namespace, from the downward API; the default namespace of the leader election Lease. */
const POD_NAMESPACE_ENV = "POD_NAMESPACE";
const NO_FILE: ConfigFileContents = { settings: new Map(), registries: [], problems: [] };

const readUtf8 = (path: string): string => readFileSync(path, "utf8");

/**
 * Works out the configuration from flags, env vars, a config file and defaults, in that order of
 * precedence. Returns help or version text when asked for it (even alongside bad flags). Throws a
 * ConfigError listing every problem found; has no other effect than reading the config file.
 */
export function loadConfig(options: LoadConfigOptions): LoadResult {
  const flags = parseFlags(options.argv, VALUE_FLAGS, BOOL_FLAGS);
  if (flags.help) return { kind: "help", text: helpText() };
  if (flags.version) return { kind: "version", text: versionText(options.version) };

  const { path: filePath, origin: fileOrigin } = configFilePath(flags, options.env);
  const file = filePath === "" ? NO_FILE : readConfigFile(filePath, fileOrigin, options.readFile ?? readUtf8);
  const env = envSources(options.env);

  registerConvictFormats(OPTIONS.map((o) => o.format));
  // convict reads only the env object given here (each value under the setting's primary variable
  // name) and, with `args: []`, never process.argv.
  const convictEnv = Object.fromEntries(OPTIONS.map((o) => [o.env, env.get(o.key)?.text]));
  const settings = convict<Settings>(convictSchema(), { env: convictEnv, args: [] });
  // load() re-applies env vars over the file; flags are set last, so they win over both.
  settings.load(Object.fromEntries([...file.settings].map(([key, setting]) => [key, setting.text])));
  for (const option of OPTIONS) {
    const flag = flags.values.get(option.flag);
    const key: string = option.key;
    if (flag !== undefined) settings.set(key, flag.text);
  }

  const problems = [...flags.problems, ...file.problems];
  const sources: Sources = { flags, env, file, filePath };
  try {
    settings.validate({ allowed: "strict" });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    problems.push(...message.split("\n").map((line) => explain(line, sources)));
  }
  const properties = settings.getProperties();
  const timingProblem = leaderElectionTimingProblem(properties, sources);
  if (timingProblem !== undefined) problems.push(timingProblem);
  const podNamespace = options.env[POD_NAMESPACE_ENV] ?? "";
  if (properties.leaderElectionNamespace === "" && podNamespace !== "" && !dnsLabel.parse(podNamespace).ok) {
    problems.push(
      valueProblem(
        POD_NAMESPACE_ENV,
        { kind: "env", name: POD_NAMESPACE_ENV },
        podNamespace,
        dnsLabel.expected,
      ),
    );
  }
  if (properties.restrictToDeclaredRegistries && file.registries.length === 0 && file.problems.length === 0)
    problems.push(
      "restrict-to-declared-registries is on but no registry is declared: eatr would serve nothing. " +
        'List the registries under "registries" in the config file (-config; chart value registries), ' +
        "or turn the restriction off",
    );
  if (problems.length > 0) throw new ConfigError(problems);
  return { kind: "run", config: toConfig(properties, filePath, podNamespace, file.registries) };
}

/**
 * The leader election timings must satisfy lease duration > renew deadline > 1.2 × retry period (client-go's
 * rule); one line naming all three, with their sources, when they do not. Undefined when they do, or when
 * one of them is itself invalid (already reported).
 */
function leaderElectionTimingProblem(settings: Settings, sources: Sources): string | undefined {
  // Values that failed validation are still their text here.
  const lease: unknown = settings.leaderElectionLeaseDuration;
  const renew: unknown = settings.leaderElectionRenewDeadline;
  const retry: unknown = settings.leaderElectionRetryPeriod;
  if (typeof lease !== "number" || typeof renew !== "number" || typeof retry !== "number") return undefined;
  // The rule itself is the leader elector's (src/leader/timings.ts); this only says it with the sources.
  if (timingProblems({ leaseDurationMs: lease, renewDeadlineMs: renew, retryPeriodMs: retry }).length === 0)
    return undefined;
  const shown = (key: OptionKey, ms: number): string =>
    `${formatDuration(ms)} (${describeOrigin(sourceOf(key, sources).origin)})`;
  const [leaseFlag, renewFlag, retryFlag] = [
    OPTION_SPECS.leaderElectionLeaseDuration.flag,
    OPTION_SPECS.leaderElectionRenewDeadline.flag,
    OPTION_SPECS.leaderElectionRetryPeriod.flag,
  ];
  return (
    `leader election timings: expected ${leaseFlag} > ${renewFlag} > ${JITTER_FACTOR} × ${retryFlag}, ` +
    `got ${shown("leaderElectionLeaseDuration", lease)} > ${shown("leaderElectionRenewDeadline", renew)} > ` +
    `${JITTER_FACTOR} × ${shown("leaderElectionRetryPeriod", retry)} = ${formatDuration(JITTER_FACTOR * retry)}`
  );
}

function configFilePath(
  flags: ParsedFlags,
  env: LoadConfigOptions["env"],
): { readonly path: string; readonly origin: Origin } {
  const flag = flags.values.get(CONFIG_FILE_OPTION.flag);
  if (flag !== undefined) return { path: flag.text, origin: { kind: "flag", spelling: flag.spelling } };
  const fromEnv = env[CONFIG_FILE_OPTION.env];
  if (fromEnv !== undefined) return { path: fromEnv, origin: { kind: "env", name: CONFIG_FILE_OPTION.env } };
  return { path: "", origin: { kind: "default" } };
}

/** Where each setting's env value came from: its own variable, or else its fallback (KUBECONFIG). */
function envSources(
  env: LoadConfigOptions["env"],
): Map<OptionKey, { readonly name: string; readonly text: string }> {
  const chosen = new Map<OptionKey, { name: string; text: string }>();
  for (const option of OPTIONS) {
    for (const name of option.envFallback === undefined ? [option.env] : [option.env, option.envFallback]) {
      const text = env[name];
      if (text !== undefined) {
        chosen.set(option.key, { name, text });
        break;
      }
    }
  }
  return chosen;
}

interface Sources {
  readonly flags: ParsedFlags;
  readonly env: ReadonlyMap<OptionKey, { readonly name: string; readonly text: string }>;
  readonly file: ConfigFileContents;
  readonly filePath: string;
}

/** The source that supplied a setting's value, by precedence, with the value as written there. */
function sourceOf(key: OptionKey, sources: Sources): { origin: Origin; written: unknown; text: string } {
  const option = OPTION_SPECS[key];
  const flag = sources.flags.values.get(option.flag);
  if (flag !== undefined) {
    return { origin: { kind: "flag", spelling: flag.spelling }, written: flag.text, text: flag.text };
  }
  const env = sources.env.get(key);
  if (env !== undefined) {
    return { origin: { kind: "env", name: env.name }, written: env.text, text: env.text };
  }
  const file = sources.file.settings.get(key);
  if (file !== undefined) {
    return { origin: { kind: "file", path: sources.filePath, key }, written: file.written, text: file.text };
  }
  return { origin: { kind: "default" }, written: option.default, text: option.default };
}

/**
 * Turns one line of convict's validation error ("port: expected ...: value was ...") into our message,
 * naming the source of the value. A line about no known setting is kept as it is.
 */
function explain(line: string, sources: Sources): string {
  const key = /^(\w+): /.exec(line)?.[1];
  if (key === undefined || !isOptionKey(key)) return line;
  const option = OPTION_SPECS[key];
  const { origin, written, text } = sourceOf(key, sources);
  const parsed = option.format.parse(text);
  const expected = parsed.ok ? option.format.expected : parsed.expected;
  return valueProblem(option.flag, origin, written, expected, option.sensitive);
}
