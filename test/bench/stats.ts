/** Small helpers every benchmark shares: settings from the environment and latency figures. */

/** A numeric setting from the environment, `fallback` when unset; anything below `min` or not a number stops the run. */
export function numberEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const v = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(v) || v < min) throw new Error(`${name}=${raw}: expected a number >= ${min}`);
  return v;
}

/** Nearest-rank percentile of ascending values; null when there are none. */
export function percentile(sorted: number[], p: number): number | null {
  return sorted.length ? sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] : null;
}

export const round1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
