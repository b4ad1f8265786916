/** Parses "90d", "12h", "30m", "1y" (365 d) or a bare number of days into milliseconds. */
export function parseDuration(v: string | number): number {
  if (typeof v === "number") return v * 86_400_000;
  const m = /^(\d+(?:\.\d+)?)\s*([ymdhs])$/.exec(v.trim());
  if (!m) throw new Error(`bad duration "${v}" (use e.g. 90d, 12h, 1y)`);
  const unit = { y: 365 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[m[2] as "y" | "d" | "h" | "m" | "s"];
  return Math.round(Number(m[1]) * unit);
}
