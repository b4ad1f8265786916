import type { z } from "zod";

/** Edit distance (insert, delete, substitute, swap two neighbours; case-insensitive), cut off early above `max`. */
export function editDistance(a: string, b: string, max = 3): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  if (Math.abs(s.length - t.length) > max) return max + 1;
  let before: number[] = [];
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= t.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) cur[j] = Math.min(cur[j], before[j - 2] + 1);
      best = Math.min(best, cur[j]);
    }
    if (best > max) return max + 1;
    before = prev;
    prev = cur;
  }
  return prev[t.length];
}

/** The closest candidate within distance 2 (1 for short words, where 2 edits make anything match), if any. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const limit = word.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestD = limit + 1;
  for (const c of candidates) {
    if (c === word) continue;
    const d = editDistance(word, c, limit);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** The zod-internal definition of a schema node: only the fields the walk below reads. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
  valueType?: z.ZodType;
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The object schemas a value at `path` may be checked against (several under a union). */
function objectsAt(schema: z.ZodType, path: readonly PropertyKey[]): Def[] {
  const d = defOf(schema);
  if (d.innerType) return objectsAt(d.innerType, path);
  if (d.type === "pipe" && d.in) return objectsAt(d.in, path);
  if (d.options) return d.options.flatMap((o) => objectsAt(o, path));
  if (path.length === 0) return d.type === "object" ? [d] : [];
  const [head, ...rest] = path;
  if (d.type === "object" && d.shape && typeof head === "string" && d.shape[head]) return objectsAt(d.shape[head], rest);
  if (d.type === "array" && d.element) return objectsAt(d.element, rest);
  if (d.type === "record" && d.valueType) return objectsAt(d.valueType, rest);
  return [];
}

/** The keys a strict object at `path` of `schema` accepts. */
export function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  return [...new Set(objectsAt(schema, path).flatMap((d) => Object.keys(d.shape ?? {})))];
}

/** " (did you mean X?)" for an unknown key close to a known one at the same place, else "". */
export function didYouMean(schema: z.ZodType, path: readonly PropertyKey[], key: string): string {
  const near = closest(key, knownKeys(schema, path));
  return near ? ` (did you mean ${near}?)` : "";
}
