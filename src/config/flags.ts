/** A flag's value and how the user spelled the flag ("-port" or "--port"), for messages. */
export interface FlagValue {
  readonly text: string;
  readonly spelling: string;
}

export interface ParsedFlags {
  /** -h, -help or --help was given. */
  readonly help: boolean;
  /** -version or --version was given. */
  readonly version: boolean;
  /** Values by flag name without dashes; a repeated flag keeps its last value, as in Go. */
  readonly values: ReadonlyMap<string, FlagValue>;
  /** Unknown flags, missing values and positional arguments, one message each. */
  readonly problems: readonly string[];
}

const HELP_FLAGS: ReadonlySet<string> = new Set(["h", "help"]);
const VERSION_FLAG = "version";
const FLAG = /^(--?)([^=]*)(?:=(.*))?$/s;
/** Words Go's strconv.ParseBool accepts: after a boolean flag they were surely meant as its value. */
const BOOL_WORD = /^(?:1|0|t|f|true|false)$/i;

/**
 * Reads command-line flags with the syntax of Go's flag package, accepting one or two dashes:
 * `-flag value`, `-flag=value`, `--flag value`, `--flag=value`. Every flag in `valueFlags` takes a value;
 * every flag in `boolFlags` is a boolean, written `-flag` (true) or `-flag=value` only, as in Go; the others
 * known are -h/-help and -version. `--` ends the flags. Never throws: problems are returned.
 *
 * Go reads `-flag false` as -flag (true) followed by the argument "false", which silently does the opposite
 * of what was meant; here a boolean flag followed by a separate true/false-like argument is a problem that
 * says to write `-flag=false`. Any other argument after a boolean flag is reported as unexpected.
 */
export function parseFlags(
  argv: readonly string[],
  valueFlags: ReadonlySet<string>,
  boolFlags: ReadonlySet<string> = new Set(),
): ParsedFlags {
  const values = new Map<string, FlagValue>();
  const problems: string[] = [];
  let help = false;
  let version = false;

  const isKnownFlag = (arg: string): boolean => {
    const match = FLAG.exec(arg);
    const name = match?.[2] ?? "";
    return (
      match !== null &&
      (valueFlags.has(name) || boolFlags.has(name) || HELP_FLAGS.has(name) || name === VERSION_FLAG)
    );
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      for (const positional of argv.slice(i + 1)) problems.push(unexpectedArgument(positional));
      break;
    }
    const match = arg === "-" ? null : FLAG.exec(arg);
    if (match === null) {
      problems.push(unexpectedArgument(arg));
      continue;
    }
    const [, dashes = "", name = "", inlineValue] = match;
    const spelling = `${dashes}${name}`;
    if (name === "" || name.startsWith("-")) {
      problems.push(`bad flag syntax: ${arg}`);
      continue;
    }
    if (HELP_FLAGS.has(name) || name === VERSION_FLAG) {
      if (inlineValue !== undefined) problems.push(`flag ${spelling} takes no value`);
      else if (name === VERSION_FLAG) version = true;
      else help = true;
      continue;
    }
    const next = argv[i + 1];
    if (boolFlags.has(name)) {
      if (inlineValue !== undefined) values.set(name, { text: inlineValue, spelling });
      else if (next !== undefined && BOOL_WORD.test(next)) {
        problems.push(`flag ${spelling} is a boolean: write ${spelling}=${next}, not ${spelling} ${next}`);
        i++;
      } else values.set(name, { text: "true", spelling });
      continue;
    }
    if (!valueFlags.has(name)) {
      problems.push(`unknown flag ${spelling} (see eatr --help)`);
      // Skip what is probably its value, so it is not also reported as an unexpected argument.
      if (inlineValue === undefined && next !== undefined && !next.startsWith("-")) i++;
      continue;
    }
    if (inlineValue !== undefined) {
      values.set(name, { text: inlineValue, spelling });
    } else if (next !== undefined && next !== "--" && !isKnownFlag(next)) {
      // As in Go, the next argument is the value even if it starts with "-" (e.g. a negative duration).
      values.set(name, { text: next, spelling });
      i++;
    } else {
      problems.push(`flag ${spelling} needs a value`);
    }
  }
  return { help, version, values, problems };
}

function unexpectedArgument(arg: string): string {
  return `unexpected argument ${JSON.stringify(arg)}: eatr takes only flags`;
}
