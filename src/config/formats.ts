import convict from "convict";
import { ECR_TOKEN_LIFETIME_MS, MIN_REFRESH_INTERVAL_MS } from "../ecr/token-cache.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { isCredentialParam } from "./redact.ts";

/** The outcome of reading one setting's text: its value, or what the text should have looked like. */
export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };

/**
 * How one kind of setting is written and read. Every source (flag, env var, config file, default)
 * supplies text; `parse` is the single place that turns it into a value or rejects it.
 */
export interface ValueFormat<T extends number | string | boolean> {
  /** The convict format name. */
  readonly name: string;
  /** The value's kind as shown in help, e.g. "duration". */
  readonly typeName: string;
  /** The JavaScript type of a parsed value. */
  readonly valueType: T extends number ? "number" : T extends boolean ? "boolean" : "string";
  /** What a valid value looks like, completing "expected ...". */
  readonly expected: string;
  parse(text: string): Parsed<T>;
}

/** Timers in Node overflow (and fire at once) above 2^31-1 ms, so no duration may exceed it. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(expected: string): Parsed<T> => ({ ok: false, expected });

const DURATION_EXAMPLE = "a duration like 20s, 6h or 1h30m";

function durationFormat(name: string, allowZero: boolean): ValueFormat<number> {
  return {
    name,
    typeName: "duration",
    valueType: "number",
    expected: DURATION_EXAMPLE,
    parse(text) {
      let ms: number;
      try {
        ms = parseDuration(text);
      } catch {
        return fail(DURATION_EXAMPLE);
      }
      if (allowZero ? ms < 0 : ms <= 0) {
        return fail(
          allowZero
            ? "a duration of 0 or more, like 0, 3s or 1h30m"
            : "a duration above 0, like 20s, 6h or 1h30m",
        );
      }
      if (ms > MAX_DURATION_MS) return fail(`a duration of at most ${formatDuration(MAX_DURATION_MS)}`);
      return ok(ms);
    },
  };
}

/** A Go-style duration of zero or more (see parseDuration), in milliseconds. */
export const duration = durationFormat("duration", true);

/** A Go-style duration above zero, in milliseconds. */
export const positiveDuration = durationFormat("positive-duration", false);

/** The duration `text` says in ms (even if negative or too long), or NaN when it is not a duration. */
function parsedMs(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    return NaN;
  }
}

const MIN_RENEWAL = formatDuration(MIN_REFRESH_INTERVAL_MS);
const TOKEN_LIFE = formatDuration(ECR_TOKEN_LIFETIME_MS);
const RENEWAL_EXPECTED = `a duration of at least ${MIN_RENEWAL}, like 6h or 1h30m`;

/**
 * -auth-token-renewal-interval: a duration of at least MIN_REFRESH_INTERVAL_MS (20s). Each renewal costs an
 * ECR call, which AWS throttles per account, and a rewrite of every pull secret of the registry.
 */
export const renewalInterval: ValueFormat<number> = {
  name: "renewal-interval",
  typeName: "duration",
  valueType: "number",
  expected: RENEWAL_EXPECTED,
  parse(text) {
    if (!(parsedMs(text) < MIN_REFRESH_INTERVAL_MS)) return duration.parse(text);
    return fail(
      `${RENEWAL_EXPECTED}: each renewal is an ECR call (AWS throttles GetAuthorizationToken per account) ` +
        "and rewrites every pull secret of the registry",
    );
  },
};

/**
 * -token-safety-margin: a duration of 0 or more, shorter than an ECR token lives (12h). A margin of a
 * token's whole life or more would make every token due for refresh as soon as it is fetched.
 */
export const safetyMargin: ValueFormat<number> = {
  name: "safety-margin",
  typeName: "duration",
  valueType: "number",
  expected: `a duration of 0 or more and shorter than ${TOKEN_LIFE}, like 1h or 90m`,
  parse(text) {
    const parsed = duration.parse(text);
    if (!parsed.ok || parsed.value < ECR_TOKEN_LIFETIME_MS) return parsed;
    return fail(
      `a duration shorter than ${TOKEN_LIFE}, like 1h or 90m: ECR tokens live ${TOKEN_LIFE}, so a longer ` +
        `margin makes every token due as soon as it is fetched (a refresh every ${MIN_RENEWAL})`,
    );
  },
};

/** A Go-style duration of a whole number of seconds above zero (a Lease stores leaseDurationSeconds). */
export const wholeSecondsDuration: ValueFormat<number> = {
  name: "whole-seconds-duration",
  typeName: "duration",
  valueType: "number",
  expected: "a whole number of seconds above 0, like 15s or 1m",
  parse(text) {
    const parsed = positiveDuration.parse(text);
    if (!parsed.ok) return parsed;
    return parsed.value % 1000 === 0 ? parsed : fail(this.expected);
  },
};

const TRUE_TEXT: ReadonlySet<string> = new Set(["1", "t", "T", "true", "TRUE", "True"]);
const FALSE_TEXT: ReadonlySet<string> = new Set(["0", "f", "F", "false", "FALSE", "False"]);

/** A boolean with the syntax of Go's strconv.ParseBool: true/false, also 1/0, t/f, TRUE/FALSE, True/False. */
export const goBool: ValueFormat<boolean> = {
  name: "go-bool",
  typeName: "bool",
  valueType: "boolean",
  expected: "true or false",
  parse(text) {
    if (TRUE_TEXT.has(text)) return ok(true);
    return FALSE_TEXT.has(text) ? ok(false) : fail(this.expected);
  },
};

const INTEGER = /^[+-]?\d+$/;

/** A whole number within [min, max], written in decimal (Go's strconv.Atoi syntax). */
export function integerFormat(
  name: string,
  min: number,
  max: number,
  expected?: string,
): ValueFormat<number> {
  const wanted =
    expected ??
    (max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`);
  return {
    name,
    typeName: "int",
    valueType: "number",
    expected: wanted,
    parse(text) {
      if (!INTEGER.test(text)) return fail(wanted);
      const value = Number(text);
      return Number.isSafeInteger(value) && value >= min && value <= max ? ok(value) : fail(wanted);
    },
  };
}

/** A TCP port; 0 asks the operating system for a free one. */
export const tcpPort = integerFormat("tcp-port", 0, 65535, "a port number from 0 to 65535");

const DECIMAL = /^\+?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A decimal number above zero, e.g. a rate per second. */
export const positiveNumber: ValueFormat<number> = {
  name: "positive-number",
  typeName: "number",
  valueType: "number",
  expected: "a number above 0, like 50 or 2.5",
  parse(text) {
    const value = DECIMAL.test(text) ? Number(text) : NaN;
    return Number.isFinite(value) && value > 0 ? ok(value) : fail(this.expected);
  },
};

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_LABEL_EXPECTED =
  "a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)";

/** A DNS-1123 label, the form of a Kubernetes namespace name. */
export const dnsLabel: ValueFormat<string> = {
  name: "dns-1123-label",
  typeName: "string",
  valueType: "string",
  expected: DNS_LABEL_EXPECTED,
  parse(text) {
    return DNS_LABEL.test(text) ? ok(text) : fail(this.expected);
  },
};

/** A DNS-1123 label, or empty for "not set". */
export const optionalDnsLabel: ValueFormat<string> = {
  name: "optional-dns-1123-label",
  typeName: "string",
  valueType: "string",
  expected: `${DNS_LABEL_EXPECTED}, or empty`,
  parse(text) {
    return text === "" || DNS_LABEL.test(text) ? ok(text) : fail(this.expected);
  },
};

/** Longest prefix that still leaves room for "-<registry host>" in a 253-character object name. */
const MAX_PREFIX_LENGTH = 180;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/** The start of a Secret name `<prefix>-<registry host>`: a DNS-1123 subdomain of at most 180 characters. */
export const secretNamePrefix: ValueFormat<string> = {
  name: "secret-name-prefix",
  typeName: "string",
  valueType: "string",
  expected: `a DNS-1123 subdomain (lowercase letters, digits, '-' or '.', starting and ending with a letter or digit) of at most ${MAX_PREFIX_LENGTH} characters`,
  parse(text) {
    return text.length <= MAX_PREFIX_LENGTH && DNS_SUBDOMAIN.test(text) ? ok(text) : fail(this.expected);
  },
};

/** A DNS-1123 subdomain of at most 253 characters, the form of most Kubernetes object names (a Lease's). */
export const dnsSubdomain: ValueFormat<string> = {
  name: "dns-1123-subdomain",
  typeName: "string",
  valueType: "string",
  expected:
    "a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit)",
  parse(text) {
    return text.length <= 253 && DNS_SUBDOMAIN.test(text) ? ok(text) : fail(this.expected);
  },
};

/** Any file path; empty means "not set". */
export const filePath: ValueFormat<string> = {
  name: "file-path",
  typeName: "string",
  valueType: "string",
  expected: "a file path, or empty",
  parse: (text) => ok(text),
};

/**
 * An http(s) URL without credentials (no user name or password, no credential-like query parameter such
 * as X-Amz-Signature or token), or empty for "not set".
 */
export const endpointUrl: ValueFormat<string> = {
  name: "endpoint-url",
  typeName: "url",
  valueType: "string",
  expected: "an http or https URL like https://api.ecr.eu-west-1.amazonaws.com, or empty",
  parse(text) {
    if (text === "") return ok(text);
    const url = URL.parse(text);
    if (url === null || (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
      return fail(this.expected);
    }
    if (url.username !== "" || url.password !== "") {
      return fail("a URL without a user name or password (it is logged at startup)");
    }
    if ([...url.searchParams.keys()].some(isCredentialParam)) {
      return fail("a URL without credentials in its query string (it is logged at startup)");
    }
    return ok(text);
  },
};

/** A format of any value type. */
export type AnyValueFormat = ValueFormat<number> | ValueFormat<string> | ValueFormat<boolean>;

/** A convict format with both hooks present. */
export interface ConvictFormat extends convict.Format {
  readonly name: string;
  coerce(value: unknown): unknown;
  validate(value: unknown): void;
}

/**
 * Adapts a ValueFormat to convict. coerce keeps text it cannot read unchanged, so that validate (not
 * coerce, which convict calls outside validation) reports it with the format's own message.
 */
export function toConvictFormat(format: AnyValueFormat): ConvictFormat {
  return {
    name: format.name,
    coerce(value: unknown): unknown {
      if (typeof value !== "string") return value;
      const parsed = format.parse(value);
      return parsed.ok ? parsed.value : value;
    },
    validate(value: unknown): void {
      // Numbers and booleans only come from a successful coerce; strings are (re)checked here.
      if (format.valueType === "number" && typeof value === "number") return;
      if (format.valueType === "boolean" && typeof value === "boolean") return;
      if (typeof value === "string") {
        const parsed = format.parse(value);
        if (parsed.ok && format.valueType === "string") return;
        throw new Error(`expected ${parsed.ok ? format.expected : parsed.expected}`);
      }
      throw new Error(`expected ${format.expected}`);
    },
  };
}

/**
 * Registers the formats with convict. convict keeps formats in a process-wide table; registering the
 * same definitions again is harmless, so callers may do it on every load. Two different formats with
 * one name would silently replace each other there, so that is an error.
 */
export function registerConvictFormats(formats: Iterable<AnyValueFormat>): void {
  const byName = new Map<string, AnyValueFormat>();
  for (const format of formats) {
    const seen = byName.get(format.name);
    if (seen !== undefined && seen !== format) throw new Error(`two config formats are named ${format.name}`);
    byName.set(format.name, format);
  }
  for (const format of byName.values()) convict.addFormat(toConvictFormat(format));
}
