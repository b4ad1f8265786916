/** Just enough of PromQL and the Prometheus text format for checking dashboards and alert rules against /metrics. */

/** The gateway_ metric names an expression selects (string literals removed first, so label values never count). */
export function promqlMetricNames(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...new Set([...code.matchAll(/\bgateway_[A-Za-z0-9_]*[A-Za-z0-9]\b/g)].map((m) => m[0]))];
}

/** Every series name /metrics can be queried by: each # TYPE, with a histogram's _bucket/_sum/_count. */
export function scrapedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    names.add(name);
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
    if (type === "summary") for (const s of ["_sum", "_count"]) names.add(name + s);
  }
  return names;
}

export interface Series {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one series name. */
export function seriesOf(text: string, name: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^(\S+?)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}
