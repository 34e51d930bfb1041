/** Reading the Prometheus text exposition format, for tests and the benchmark. No side effects. */

/** The labels of one sample, from the text between its braces (escapes \\, \" and \n undone). */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    const key = m[1];
    const value = m[2];
    if (key !== undefined && value !== undefined) {
      out[key] = value.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
  }
  return out;
}

/**
 * Sum of the samples of metric `name` in Prometheus text exposition whose labels include `labels`
 * (0 when there is none). `name` is the full sample name, e.g. `eatr_pull_secret_writes_total`.
 */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    let labelText = "";
    let valueText: string;
    if (rest.startsWith("{")) {
      const close = rest.lastIndexOf("}");
      labelText = rest.slice(1, close);
      valueText = rest.slice(close + 1).trim();
    } else if (rest.startsWith(" ")) {
      valueText = rest.trim();
    } else {
      continue; // another metric whose name starts with this one
    }
    const sample = parseLabels(labelText);
    if (Object.entries(labels).every(([k, v]) => sample[k] === v)) {
      const value = Number(valueText.split(" ")[0]);
      if (!Number.isNaN(value)) sum += value;
    }
  }
  return sum;
}
