/**
 * A Prometheus counter with two labels and one series per pair of values (the seed's
 * secrets_created_total{namespace,name}: one series per pull secret), rendered straight to the text format.
 *
 * prom-client keeps a labels object per series and renders a scrape as one string built from several
 * temporary strings per series: at 30,000 pull secrets a single scrape cost tens of MiB of transient memory
 * and the largest spike of a controller's RSS. Here a series is one Map entry (nested by the first label: no
 * composite key string per series) and a scrape is written out in chunks of lines.
 */
export class PairCounter {
  readonly name: string;
  private readonly help: string;
  private readonly labels: readonly [string, string];
  /** a → b → value: no composite key string per series. */
  private readonly values = new Map<string, Map<string, number>>();
  private count = 0;

  constructor(options: { name: string; help: string; labelNames: readonly [string, string] }) {
    this.name = options.name;
    this.help = options.help;
    this.labels = options.labelNames;
  }

  inc(a: string, b: string, by = 1): void {
    let inner = this.values.get(a);
    if (inner === undefined) this.values.set(a, (inner = new Map<string, number>()));
    const before = inner.get(b);
    if (before === undefined) this.count++;
    inner.set(b, (before ?? 0) + by);
  }

  /** The series' value (0 when it does not exist). */
  get(a: string, b: string): number {
    return this.values.get(a)?.get(b) ?? 0;
  }

  /** The number of series. */
  get size(): number {
    return this.count;
  }

  /** The metric in Prometheus text format, in chunks of at most linesPerChunk lines, each ending in "\n". */
  *chunks(linesPerChunk = 1000): Generator<string> {
    const [la, lb] = this.labels;
    let chunk = `# HELP ${this.name} ${this.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${this.name} counter\n`;
    let lines = 0;
    for (const [a, inner] of this.values) {
      const prefix = `${this.name}{${la}="${escapeLabel(a)}",${lb}="`;
      for (const [b, value] of inner) {
        chunk += `${prefix}${escapeLabel(b)}"} ${String(value)}\n`;
        if (++lines === linesPerChunk) {
          yield chunk;
          chunk = "";
          lines = 0;
        }
      }
    }
    if (chunk !== "") yield chunk;
  }
}

/** Escapes a label value for the text format (Kubernetes names never need it; anything else might). */
function escapeLabel(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : v;
}
