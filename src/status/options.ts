/**
 * The command line of `eatr status`: `-o table|json` plus the controller's own options that decide what
 * status looks at (the same flags, env vars and config file, read by the same loader, so status finds
 * what the controller would). Any other flag is refused: status has no use for it.
 */
import { ConfigError, loadConfig, type Config } from "../config/index.ts";
import { valueProblem } from "../config/config-error.ts";
import { parseFlags } from "../config/flags.ts";
import { CONFIG_FILE_OPTION, OPTION_SPECS } from "../config/schema.ts";
import { OUTPUT_FORMATS, type OutputFormat } from "./render.ts";
import { STATUS_OPTION_KEYS, statusHelpText } from "./help.ts";

/** `-o` / `-output`, as kubectl spells it. */
export const OUTPUT_FLAGS: readonly string[] = ["o", "output"];

export type StatusArgs =
  | { readonly kind: "run"; readonly config: Config; readonly output: OutputFormat }
  | { readonly kind: "help" | "version"; readonly text: string };

export interface StatusArgsOptions {
  /** Arguments after `status`. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile?: (path: string) => string;
  readonly version?: string;
}

const VALUE_FLAGS: ReadonlySet<string> = new Set([
  ...STATUS_OPTION_KEYS.map((key) => OPTION_SPECS[key].flag),
  CONFIG_FILE_OPTION.flag,
]);
const OUTPUT = /^(--?)(o|output)(?:=(.*))?$/s;

/** Reads status's arguments; throws ConfigError listing every problem (exit code 2). */
export function parseStatusArgs(options: StatusArgsOptions): StatusArgs {
  const rest: string[] = [];
  const problems: string[] = [];
  let output: OutputFormat = "table";
  for (let i = 0; i < options.argv.length; i++) {
    const arg = options.argv[i] ?? "";
    const match = OUTPUT.exec(arg);
    if (match === null) {
      rest.push(arg);
      continue;
    }
    const spelling = `${match[1] ?? ""}${match[2] ?? ""}`;
    let text = match[3];
    if (text === undefined) {
      text = options.argv[i + 1];
      if (text === undefined || text.startsWith("-")) {
        problems.push(`flag ${spelling} needs a value: ${OUTPUT_FORMATS.join(" or ")}`);
        continue;
      }
      i++;
    }
    if ((OUTPUT_FORMATS as readonly string[]).includes(text)) output = text as OutputFormat;
    else problems.push(valueProblem("o", { kind: "flag", spelling }, text, OUTPUT_FORMATS.join(" or ")));
  }
  const flags = parseFlags(rest, VALUE_FLAGS);
  if (flags.help) return { kind: "help", text: statusHelpText() };
  problems.push(
    ...flags.problems.map((p) =>
      p
        .replace("(see eatr --help)", "(see eatr status --help)")
        .replace("eatr takes only flags", "eatr status takes only flags"),
    ),
  );
  if (problems.length > 0) throw new ConfigError(problems);
  const loaded = loadConfig({ ...options, argv: rest });
  if (loaded.kind !== "run") return loaded;
  return { kind: "run", config: loaded.config, output };
}
