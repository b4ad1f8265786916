import { isIPv6 } from "node:net";
import { BoundedMap } from "../../src/bounded-map.js";

export interface MacThrottleOptions {
  /** Failed MAC protections per senderKID within the window before that KID is refused (0: never). */
  perKid: number;
  /** The same per source address (IPv6 by /64) (0: never). */
  perAddress: number;
  windowSeconds: number;
  /** Buckets kept per scope; the least recently used is forgotten first. */
  maxTracked: number;
}

export type ThrottleScope = "senderKID" | "address";

/** A refusal: which bucket and when it opens again. */
export interface Throttled {
  scope: ThrottleScope;
  key: string;
  retryAfterSeconds: number;
}

interface Bucket {
  failures: number;
  since: number;
}

/** Failures per key in a fixed window from the first failure, in an LRU map of bounded size. */
class FailureWindow {
  // Least recently used goes first beyond the cap, so spraying keys cannot grow memory.
  private readonly buckets: BoundedMap<string, Bucket>;

  constructor(private readonly limit: number, private readonly windowMs: number, maxTracked: number) {
    this.buckets = new BoundedMap(maxTracked);
  }

  /** Seconds until `key` may try again, or undefined when it is not throttled. */
  retryAfter(key: string, now: number): number | undefined {
    if (this.limit === 0) return undefined;
    const b = this.live(key, now);
    if (!b || b.failures < this.limit) return undefined;
    return Math.max(1, Math.ceil((b.since + this.windowMs - now) / 1000));
  }

  /** Counts a failure; the seconds of the refusal when this failure is the one that starts it. */
  fail(key: string, now: number): number | undefined {
    if (this.limit === 0) return undefined;
    const b = this.live(key, now) ?? { failures: 0, since: now };
    b.failures++;
    this.buckets.set(key, b);
    return b.failures === this.limit ? Math.max(1, Math.ceil((b.since + this.windowMs - now) / 1000)) : undefined;
  }

  private live(key: string, now: number): Bucket | undefined {
    const b = this.buckets.get(key);
    if (b && now - b.since >= this.windowMs) {
      this.buckets.delete(key);
      return undefined;
    }
    return b;
  }
}

/**
 * Refuses MAC-protected messages after too many failed MACs by one senderKID or from one address, before any
 * key derivation, so guessing secrets or burning CPU with maximal iteration counts stops early. In memory:
 * each gateway instance counts on its own.
 */
export class MacThrottle {
  private readonly kids: FailureWindow;
  private readonly addresses: FailureWindow;

  constructor(o: MacThrottleOptions) {
    const ms = o.windowSeconds * 1000;
    this.kids = new FailureWindow(o.perKid, ms, o.maxTracked);
    this.addresses = new FailureWindow(o.perAddress, ms, o.maxTracked);
  }

  /** The refusal in force for this senderKID or address, if any (the longer wait when both are). */
  check(kid: string, address: string, now = Date.now()): Throttled | undefined {
    const k = this.kids.retryAfter(kid, now);
    const a = this.addresses.retryAfter(addressKey(address), now);
    if (a !== undefined && (k === undefined || a >= k)) return { scope: "address", key: addressKey(address), retryAfterSeconds: a };
    return k === undefined ? undefined : { scope: "senderKID", key: kid, retryAfterSeconds: k };
  }

  /** Counts one failed MAC; the refusals that this failure starts (each is announced once). */
  failed(kid: string, address: string, now = Date.now()): Throttled[] {
    const out: Throttled[] = [];
    const k = this.kids.fail(kid, now);
    if (k !== undefined) out.push({ scope: "senderKID", key: kid, retryAfterSeconds: k });
    const a = this.addresses.fail(addressKey(address), now);
    if (a !== undefined) out.push({ scope: "address", key: addressKey(address), retryAfterSeconds: a });
    return out;
  }
}

/** IPv4 (also IPv4-mapped) as is; IPv6 by its /64, the block one subscriber usually holds. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(":") || !isIPv6(address)) return address; // isIPv6 is one large regex: skip it for IPv4
  const [head, tail = ""] = address.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(":")}::/64`;
}
