import { parseDocument } from "yaml";
import { parseDeclaredRegistries, type DeclaredRegistry } from "../ecr/declared-registries.ts";
import { describeOrigin, valueProblem, type Origin } from "./config-error.ts";
import { isOptionKey, OPTION_SPECS, OPTIONS, type OptionKey } from "./schema.ts";

/** A value read from the config file: the text every format parses, and the value as written. */
export interface FileSetting {
  readonly text: string;
  readonly written: unknown;
}

export interface ConfigFileContents {
  readonly settings: ReadonlyMap<OptionKey, FileSetting>;
  /** The `registries` list (file only: no flag or env var), validated. */
  readonly registries: readonly DeclaredRegistry[];
  /** Problems found in the file, one line each. */
  readonly problems: readonly string[];
}

/**
 * Reads a JSON (.json) or YAML (.yaml, .yml) config file whose top level maps config keys (the
 * camelCase option names) to strings or numbers, or booleans for boolean options. Unknown keys and values
 * of other types are problems; so are a file that cannot be read or parsed. `readFile` returns the
 * file's text or throws.
 */
export function readConfigFile(
  path: string,
  pathOrigin: Origin,
  readFile: (path: string) => string,
): ConfigFileContents {
  const settings = new Map<OptionKey, FileSetting>();
  const problems: string[] = [];
  const registries: DeclaredRegistry[] = [];
  const where = `config file ${path} (${describeOrigin(pathOrigin)})`;

  const language = /\.json$/i.test(path) ? "JSON" : /\.ya?ml$/i.test(path) ? "YAML" : undefined;
  if (language === undefined) {
    return {
      settings,
      registries,
      problems: [`${where}: expected a file name ending in .json, .yaml or .yml`],
    };
  }
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    return { settings, registries, problems: [`${where}: cannot be read: ${firstLine(error)}`] };
  }
  let document: unknown;
  try {
    document = language === "JSON" ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    return { settings, registries, problems: [`${where}: not valid ${language}: ${firstLine(error)}`] };
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    return { settings, registries, problems: [`${where}: expected a mapping of settings at the top level`] };
  }

  for (const [key, written] of Object.entries(document)) {
    if (key === REGISTRIES_KEY) {
      const declared = parseDeclaredRegistries(written, `config file ${path}`);
      registries.push(...declared.registries);
      problems.push(...declared.problems);
      continue;
    }
    if (!isOptionKey(key)) {
      problems.push(`config file ${path}: unknown key ${JSON.stringify(key)} (${suggestKey(key)})`);
      continue;
    }
    const option = OPTION_SPECS[key];
    if (typeof written === "string") settings.set(key, { text: written, written });
    else if (typeof written === "number" && Number.isFinite(written)) {
      settings.set(key, { text: String(written), written });
    } else if (typeof written === "boolean" && option.format.valueType === "boolean") {
      settings.set(key, { text: String(written), written });
    } else {
      const origin: Origin = { kind: "file", path, key };
      problems.push(valueProblem(option.flag, origin, written, option.format.expected, option.sensitive));
    }
  }
  return { settings, registries, problems };
}

/** The file-only key listing registries and their credential sources. */
export const REGISTRIES_KEY = "registries";

/** An empty YAML file is an empty mapping. */
function parseYaml(text: string): unknown {
  const document = parseDocument(text, { prettyErrors: false, logLevel: "silent" });
  const [error] = document.errors;
  if (error !== undefined) throw error;
  return document.toJS() ?? {};
}

const normalize = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, "");

function suggestKey(key: string): string {
  const match = OPTIONS.find(
    (o) => normalize(o.key) === normalize(key) || normalize(o.flag) === normalize(key),
  );
  return match === undefined
    ? `known keys: ${OPTIONS.map((o) => o.key).join(", ")}`
    : `did you mean ${JSON.stringify(match.key)}?`;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n", 1)[0] ?? "";
}
