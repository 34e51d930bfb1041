/**
 * Kubernetes label selectors in their string form (`team in (a,b)`, `!no-ecr`, `env=prod,tier!=db`),
 * parsed and matched with the rules of k8s.io/apimachinery/pkg/labels (labels.Parse): a comma-separated
 * AND of requirements; `key` and `!key` test presence; `=`, `==`, `!=` compare one value; `in`/`notin`
 * take a parenthesised set; `>`/`<` compare integers. `!=` and `notin` also match a namespace without
 * the key. Keys are qualified names, values label values (both validated). Pure functions.
 */

export type SelectorOperator = "in" | "notin" | "=" | "==" | "!=" | "exists" | "!" | "gt" | "lt";

/** One requirement of a selector: all of a selector's requirements must match. */
export interface Requirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  /** The values (sorted, distinct); empty for exists and !. */
  readonly values: readonly string[];
}

/** A parsed selector; `text` is what was written. */
export interface LabelSelector {
  readonly text: string;
  readonly requirements: readonly Requirement[];
}

/** A selector that does not parse: `position` is the 1-based character where the problem was found. */
export class LabelSelectorError extends Error {
  override readonly name = "LabelSelectorError";
  readonly position: number;
  readonly detail: string;

  constructor(detail: string, position: number) {
    super(`${detail} at position ${String(position)}`);
    this.detail = detail;
    this.position = position;
  }
}

type Kind = "end" | "ident" | "in" | "notin" | "(" | ")" | "," | "!" | "=" | "==" | "!=" | ">" | "<";

interface Token {
  readonly kind: Kind;
  readonly text: string;
  /** 0-based offset in the selector. */
  readonly at: number;
}

const SYMBOLS = new Set(["=", "!", "(", ")", ",", ">", "<"]);
const SYMBOL_TOKENS: ReadonlySet<string> = new Set([")", ",", "!", "==", "=", ">", "<", "!=", "("]);
const WHITESPACE = new Set([" ", "\t", "\r", "\n"]);

/** Splits a selector into tokens: identifiers end at whitespace or a symbol; symbols match greedily. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && WHITESPACE.has(text.charAt(i))) i++;
    if (i >= text.length) {
      tokens.push({ kind: "end", text: "", at: text.length });
      return tokens;
    }
    const start = i;
    if (SYMBOLS.has(text.charAt(i))) {
      // The longest run of symbols that is an operator: "!=" and "==" before "!" and "=".
      let best = "";
      let run = "";
      while (i < text.length && SYMBOLS.has(text.charAt(i))) {
        run += text.charAt(i);
        if (SYMBOL_TOKENS.has(run)) best = run;
        else if (best !== "") break;
        i++;
      }
      i = start + best.length;
      tokens.push({ kind: best as Kind, text: best, at: start });
      continue;
    }
    while (i < text.length && !SYMBOLS.has(text.charAt(i)) && !WHITESPACE.has(text.charAt(i))) i++;
    const word = text.slice(start, i);
    tokens.push({ kind: word === "in" || word === "notin" ? word : "ident", text: word, at: start });
  }
}

/** The empty value, found where `t` is. */
const empty = (t: Token): Token => ({ kind: "ident", text: "", at: t.at });

const describe = (t: Token): string => (t.kind === "end" ? "end of string" : `'${t.text}'`);

class Parser {
  private readonly tokens: Token[];
  private pos = 0;

  constructor(text: string) {
    this.tokens = tokenize(text);
  }

  /** The next token; `in` and `notin` are identifiers where a key or value is expected. */
  private peek(asValue = true): Token {
    const t = this.tokens[this.pos] ??
      this.tokens[this.tokens.length - 1] ?? { kind: "end", text: "", at: 0 };
    return asValue && (t.kind === "in" || t.kind === "notin") ? { ...t, kind: "ident" } : t;
  }

  private next(asValue = true): Token {
    const t = this.peek(asValue);
    if (this.pos < this.tokens.length - 1) this.pos++;
    return t;
  }

  private fail(t: Token, detail: string): never {
    throw new LabelSelectorError(`found ${describe(t)}, expected ${detail}`, t.at + 1);
  }

  parse(): Requirement[] {
    const out: Requirement[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === "end") return out;
      if (t.kind !== "ident" && t.kind !== "!") this.fail(t, "'!', a key or end of string");
      out.push(this.requirement());
      const after = this.next();
      if (after.kind === "end") return out;
      if (after.kind !== ",") this.fail(after, "',' or end of string");
      const following = this.peek();
      if (following.kind !== "ident" && following.kind !== "!")
        this.fail(following, "'!' or a key after ','");
    }
  }

  private requirement(): Requirement {
    let negated = false;
    let t = this.next();
    if (t.kind === "!") {
      negated = true;
      t = this.next();
    }
    if (t.kind !== "ident") this.fail(t, "a key");
    const key = t.text;
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem !== undefined) throw new LabelSelectorError(`key '${key}' ${keyProblem}`, t.at + 1);
    const look = this.peek();
    if (negated || look.kind === "end" || look.kind === ",") {
      // "!key" takes nothing more; what follows must be ',' or the end (checked by parse()).
      return { key, operator: negated ? "!" : "exists", values: [] };
    }
    const op = this.next(false);
    switch (op.kind) {
      case "in":
      case "notin":
        return this.checked(key, op.kind, this.valueSet());
      case "=":
      case "==":
      case "!=":
        return this.checked(key, op.kind, [this.exactValue()]);
      case ">":
      case "<":
        return this.checked(key, op.kind === ">" ? "gt" : "lt", [this.exactValue()]);
      default:
        return this.fail(op, "one of in, notin, =, ==, !=, >, <");
    }
  }

  private checked(key: string, operator: SelectorOperator, values: Token[]): Requirement {
    for (const v of values) {
      const problem = labelValueProblem(v.text);
      if (problem !== undefined)
        throw new LabelSelectorError(`value '${v.text}' of key '${key}' ${problem}`, v.at + 1);
    }
    const bound = values[0];
    if ((operator === "gt" || operator === "lt") && parseInt64(bound?.text ?? "") === undefined)
      throw new LabelSelectorError(
        `value '${bound?.text ?? ""}' of key '${key}' must be an integer for '${operator === "gt" ? ">" : "<"}'`,
        (bound?.at ?? 0) + 1,
      );
    return { key, operator, values: [...new Set(values.map((v) => v.text))].sort() };
  }

  /**
   * `(a,b)`. Empty members are the empty value, with Kubernetes' exact rules: `()`, `(,a)`, `(a,)`,
   * `(a,,b)` and `(,,,)` hold "", but `(,,)` and `(a,,)` do not parse.
   */
  private valueSet(): Token[] {
    const open = this.next();
    if (open.kind !== "(") this.fail(open, "'('");
    const first = this.peek();
    if (first.kind === ")") {
      this.next();
      return [empty(first)];
    }
    if (first.kind !== "ident" && first.kind !== ",") this.fail(first, "a value, ',' or ')'");
    const values: Token[] = [];
    for (;;) {
      const t = this.next();
      if (t.kind === "ident") {
        values.push(t);
        const look = this.peek();
        if (look.kind === ")") break;
        if (look.kind !== ",") this.fail(look, "',' or ')'");
      } else if (t.kind === ",") {
        if (values.length === 0) values.push(empty(t));
        const look = this.peek();
        if (look.kind === ")") {
          values.push(empty(look));
          break;
        }
        if (look.kind === ",") {
          this.next();
          values.push(empty(look));
        }
      } else {
        this.fail(t, "',' or a value");
      }
    }
    this.next(); // the ')'
    return values;
  }

  /** The value after `=`, `==`, `!=`, `>`, `<`: empty when a ',' or the end follows at once. */
  private exactValue(): Token {
    const look = this.peek();
    if (look.kind === "end" || look.kind === ",") return empty(look);
    const t = this.next();
    if (t.kind !== "ident") this.fail(t, "a value");
    return t;
  }
}

/** Parses a selector string; throws LabelSelectorError naming what was found, what was expected and where. */
export function parseLabelSelector(text: string): LabelSelector {
  return Object.freeze({ text, requirements: Object.freeze(new Parser(text).parse()) });
}

/** Whether labels satisfy every requirement (an empty selector matches everything). */
export function selectorMatches(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const ls = labels ?? {};
  return selector.requirements.every((r) => requirementMatches(r, ls));
}

function requirementMatches(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case "exists":
      return has;
    case "!":
      return !has;
    case "in":
    case "=":
    case "==":
      return value !== undefined && r.values.includes(value);
    case "notin":
    case "!=":
      return value === undefined || !r.values.includes(value);
    case "gt":
    case "lt": {
      if (value === undefined) return false;
      const actual = parseInt64(value);
      const bound = parseInt64(r.values[0] ?? "");
      if (actual === undefined || bound === undefined) return false;
      return r.operator === "gt" ? actual > bound : actual < bound;
    }
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A base-10 64-bit integer with an optional sign (Go's strconv.ParseInt), or undefined. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why a label key is not a qualified name (`[prefix/]name`), or undefined when it is one. */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2)
    return "is not a label key: at most one '/' (an optional DNS subdomain prefix, then a name)";
  const name = parts.length === 2 ? (parts[1] ?? "") : key;
  if (parts.length === 2) {
    const prefix = parts[0] ?? "";
    if (prefix === "") return "is not a label key: the prefix before '/' is empty";
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))
      return "is not a label key: the prefix before '/' must be a lowercase DNS subdomain of at most 253 characters";
  }
  if (name === "") return "is not a label key: the name part is empty";
  if (name.length > 63) return "is not a label key: the name part is longer than 63 characters";
  if (!NAME.test(name))
    return "is not a label key: the name part must consist of letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  return undefined;
}

/** Why a string is not a label value, or undefined when it is one (the empty value is one). */
export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63) return "is not a label value: longer than 63 characters";
  if (!NAME.test(value))
    return "is not a label value: letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  return undefined;
}

/** The label keys a selector reads (a namespace cache must keep these labels). */
export function selectorKeys(selector: LabelSelector): string[] {
  return [...new Set(selector.requirements.map((r) => r.key))];
}
