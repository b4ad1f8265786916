import { BoundedMap } from "../../src/bounded-map.js";
import { GatewayError } from "../../src/errors.js";

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept per limiter by default: beyond it the least recently used key is forgotten (it starts full again). */
export const RATE_LIMIT_MAX_KEYS = 100_000;

/**
 * Token buckets in memory, keyed by account or address, at most `maxKeys` of them (least recently used
 * forgotten first); buckets that have refilled are swept once a minute, so an idle map shrinks again.
 * Per instance (per worker) on purpose: a bucket row in the store would be one more write per take (two per signed
 * request, one on newNonce, which otherwise writes nothing), measured at ~20 µs CPU and ~70 µs of the database's
 * single write lock each against ~2.5 µs here. N instances therefore allow up to N × the configured rates.
 */
export class RateLimiter {
  private readonly buckets: BoundedMap<string, Bucket>;
  /** Set by the first take, so the sweep runs on the caller's clock. */
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(private readonly perSecond: number, private readonly burst: number, maxKeys = RATE_LIMIT_MAX_KEYS) {
    this.buckets = new BoundedMap(maxKeys);
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token or throws `rateLimited` with the wait until the next token. */
  take(key: string, now = Date.now()): void {
    if (now - this.lastSweep > 60_000) this.sweep(now);
    // get() already makes a known bucket the most recent; only a new one needs set().
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: this.burst, at: now }));
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    if (b.tokens < 1) {
      const wait = Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
      throw new GatewayError("RA_ERR_RATE_LIMITED", `too many requests for ${key.split(":")[0]}; retry after ${wait} s`, { key }, { retryAfterSeconds: wait });
    }
    b.tokens -= 1;
  }

  /** Drops buckets that are full again: forgetting them changes nothing. */
  private sweep(now: number): void {
    this.lastSweep = now;
    const full = this.burst / this.perSecond;
    for (const [k, b] of this.buckets) if ((now - b.at) / 1000 >= full) this.buckets.delete(k);
  }
}
