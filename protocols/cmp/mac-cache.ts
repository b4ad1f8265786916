import { createHash } from "node:crypto";
import { BoundedMap } from "../../src/bounded-map.js";
import type { MacPlan } from "./mac.js";

/**
 * Derived MAC keys (PasswordBasedMac owf^n, PBMAC1 PBKDF2), so one set of parameters costs one derivation:
 * within a transaction the client usually keeps its salt (cr and certConf), and every answer mirrors the
 * request's parameters, so the answer reuses the request's key. A client that sends a fresh salt with every
 * message still costs one derivation per message: the salt is part of the key.
 *
 * Entries are found by a SHA-256 over (kind, hashes, key length, iterations, salt, secret), so no secret is
 * kept as a map key in clear; the map is an LRU of bounded size, so a stream of fresh salts only evicts.
 * Callers add a key only after a MAC verified under it (or for an answer to such a request): failed guesses
 * never take a place, and a hit is always a key a legitimate sender already paid for.
 */
export class MacKeyCache {
  private readonly keys: BoundedMap<string, Buffer>;
  /** Lookups answered from the cache and not (a metric). */
  hits = 0;
  misses = 0;

  constructor(maxEntries: number) {
    this.keys = new BoundedMap(maxEntries);
  }

  get size(): number {
    return this.keys.size;
  }

  /** The cache entry id of `plan` under `secret`: fixed-width fields, the salt length-prefixed, the secret last. */
  static id(plan: MacPlan, secret: Uint8Array): string {
    const fixed = Buffer.alloc(12);
    fixed.writeUInt8(plan.kind === "pbm" ? 1 : 2, 0);
    fixed.writeUInt8(HASH_CODE[plan.kind === "pbm" ? plan.owf : plan.prf], 1);
    fixed.writeUInt16BE(plan.kind === "pbm" ? 0 : plan.keyLength, 2);
    fixed.writeUInt32BE(plan.iterations, 4);
    fixed.writeUInt32BE(plan.salt.length, 8);
    return createHash("sha256").update(fixed).update(plan.salt).update(secret).digest("base64");
  }

  get(id: string): Buffer | undefined {
    const key = this.keys.get(id);
    if (key) this.hits++;
    else this.misses++;
    return key;
  }

  set(id: string, key: Buffer): void {
    this.keys.set(id, key);
  }
}

const HASH_CODE: Record<string, number> = { sha256: 1, sha384: 2, sha512: 3 };
