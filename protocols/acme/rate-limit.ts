import { GatewayError } from "../../src/errors.js";

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets in memory, keyed by account or address; idle buckets are swept so the map stays bounded. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = Date.now();

  constructor(private readonly perSecond: number, private readonly burst: number, private readonly maxKeys = 100_000) {}

  /** Takes one token or throws `rateLimited` with the wait until the next token. */
  take(key: string, now = Date.now()): void {
    if (now - this.lastSweep > 60_000 || this.buckets.size > this.maxKeys) this.sweep(now);
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      const wait = Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
      throw new GatewayError("RA_ERR_RATE_LIMITED", `too many requests for ${key.split(":")[0]}; retry after ${wait} s`, { key }, { retryAfterSeconds: wait });
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    const full = this.burst / this.perSecond;
    for (const [k, b] of this.buckets) if ((now - b.at) / 1000 >= full) this.buckets.delete(k);
    // Still too many live keys: forget the oldest rather than grow without bound.
    if (this.buckets.size > this.maxKeys) for (const k of [...this.buckets.keys()].slice(0, this.buckets.size - this.maxKeys)) this.buckets.delete(k);
  }
}
