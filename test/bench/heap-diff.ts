import { readFileSync } from "node:fs";

/*
 * Compares two V8 heap snapshots by what they retain: count and self size per constructor (objects) or
 * per node type (strings, arrays, code…), largest growth first.
 *   node --import tsx test/bench/heap-diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot [top=30]
 * The soak writes snapshots with BENCH_SOAK_SNAPSHOT_DIR.
 */

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

type Tally = Map<string, { count: number; bytes: number }>;

function tally(path: string): Tally {
  const s = JSON.parse(readFileSync(path, "utf8")) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const out: Tally = new Map();
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const type = types[s.nodes[i + typeAt]];
    // Objects and native objects by constructor; everything else by its type (string contents are noise).
    const key = type === "object" || type === "native" ? s.strings[s.nodes[i + nameAt]] : `(${type})`;
    const t = out.get(key) ?? { count: 0, bytes: 0 };
    t.count++;
    t.bytes += s.nodes[i + sizeAt];
    out.set(key, t);
  }
  return out;
}

function main(): void {
  const [before, after, topArg] = process.argv.slice(2);
  if (!before || !after) throw new Error("usage: heap-diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot [top]");
  const top = Number(topArg ?? 30);
  const a = tally(before);
  const b = tally(after);
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((k) => {
    const x = a.get(k) ?? { count: 0, bytes: 0 };
    const y = b.get(k) ?? { count: 0, bytes: 0 };
    return { constructor: k.slice(0, 60), countBefore: x.count, countAfter: y.count, countDelta: y.count - x.count, kbDelta: Math.round((y.bytes - x.bytes) / 102.4) / 10 };
  });
  const total = (t: Tally) => [...t.values()].reduce((n, v) => n + v.bytes, 0);
  console.log(`self size: ${(total(a) / 1048576).toFixed(1)} MB → ${(total(b) / 1048576).toFixed(1)} MB`);
  console.table(rows.sort((p, q) => q.kbDelta - p.kbDelta).slice(0, top));
  console.table(rows.sort((p, q) => q.countDelta - p.countDelta).slice(0, top));
}

main();
