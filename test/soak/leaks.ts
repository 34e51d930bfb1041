/**
 * Looks for secret material (access keys, secret keys, session tokens, ECR passwords and authorization
 * tokens, wrong keys the nemesis wrote) in text: replica log lines, Events, /metrics. A hit names where and
 * what kind of secret, and shows the place with the value cut out; it never repeats the value.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

export interface Hit {
  where: string;
  what: string;
  excerpt: string;
}

export class LeakScanner {
  private readonly secrets = new Map<string, string>();
  readonly hits: Hit[] = [];
  logLines = 0;
  events = 0;
  metricsScrapes = 0;

  /** Adds a value to look for (values shorter than 8 characters are ignored: too many false hits). */
  add(value: string | undefined, what: string): void {
    if (value !== undefined && value.length >= 8 && !this.secrets.has(value)) this.secrets.set(value, what);
  }

  get known(): number {
    return this.secrets.size;
  }

  /** Records a hit for every known value in `text`. */
  scan(text: string, where: string): void {
    for (const [value, what] of this.secrets) {
      const i = text.indexOf(value);
      if (i < 0) continue;
      const excerpt = `${text.slice(Math.max(0, i - 120), i)}<${what}>${text.slice(i + value.length, i + value.length + 80)}`;
      this.hits.push({ where, what, excerpt: this.redact(excerpt) });
    }
  }

  /** Scans a log file line by line. */
  async scanFile(file: string, where: string): Promise<void> {
    const lines = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Infinity });
    let n = 0;
    for await (const line of lines) {
      n++;
      this.logLines++;
      this.scan(line, `${where}:${String(n)}`);
    }
  }

  private redact(text: string): string {
    let out = text;
    for (const [value, what] of this.secrets) out = out.split(value).join(`<${what}>`);
    return out;
  }
}
