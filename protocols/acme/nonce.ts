import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from "node:crypto";
import type { AcmeStore } from "../../src/store/acme-types.js";

/*
 * Self-authenticating nonces (as Boulder's): expiry (6 bytes, ms, big-endian) ‖ random (11 bytes) ‖ HMAC-SHA256
 * over both, truncated to 16 bytes; 33 bytes, so exactly 44 base64url characters with no spare bits (one string per
 * nonce). Issuing costs one HMAC and no write; any instance holding the shared key verifies one, and redeeming claims
 * it with one INSERT keyed by (expiry, random) — a conflict means it was used, on this instance or another.
 * The expiry, not the issue time, is inside the nonce: every instance agrees when a nonce dies whatever its own
 * lifetime setting, and a claimed row may be purged once that time (plus the clock margin) has passed.
 */
const TIME = 6;
const RANDOM = 11;
const MAC = 16;
const BODY = TIME + RANDOM;
const LENGTH = 44;

/** Clocks of the instances may differ by this much: claims are kept this long past expiry before the purge. */
export const NONCE_CLOCK_MARGIN_MS = 5 * 60_000;
/** Claimed nonces deleted per purge statement (about 1–2 ms of SQLite); the purge yields to requests between batches. */
export const NONCE_PURGE_BATCH = 1000;
/** A nonce claiming to live longer than the largest configurable lifetime is refused (only a leaked key makes one). */
const MAX_LIFETIME_MS = 86_400_000 + NONCE_CLOCK_MARGIN_MS;

export class NonceMint {
  private key?: KeyObject;
  private loading?: Promise<void>;
  private readonly buf = Buffer.alloc(BODY + MAC);
  private lastPurge = Number.NEGATIVE_INFINITY;
  private purging = false;

  constructor(private readonly store: AcmeStore, private readonly lifetimeMs: number, private readonly random: (bytes: Buffer) => void) {}

  /** True once the shared key is loaded: issue() and redeem() need it. */
  get ready(): boolean {
    return this.key !== undefined;
  }

  /** Loads the shared key from the store (once; tried again on the next call after a failure). */
  load(): Promise<void> {
    return (this.loading ??= this.store.nonceKey().then(
      (k) => void (this.key = createSecretKey(k)),
      (e: unknown) => {
        this.loading = undefined;
        throw e;
      },
    ));
  }

  /** A fresh nonce. At most once a minute it also schedules the purge of expired claims, after the current request. */
  issue(now = Date.now()): string {
    if (now - this.lastPurge > 60_000 && !this.purging) {
      this.lastPurge = now;
      this.purging = true;
      setImmediate(() => void this.purge());
    }
    const b = this.buf;
    b.writeUIntBE(now + this.lifetimeMs, 0, TIME);
    this.random(b.subarray(TIME, BODY));
    this.mac(b.subarray(0, BODY)).copy(b, BODY, 0, MAC);
    return b.toString("base64url");
  }

  /**
   * True exactly once for a nonce this gateway (any instance) issued and that has not expired: checks length, MAC
   * (constant time) and expiry before it spends a write, then claims it.
   */
  async redeem(nonce: string, now = Date.now()): Promise<boolean> {
    if (nonce.length !== LENGTH) return false;
    const b = Buffer.from(nonce, "base64url");
    if (b.length !== BODY + MAC) return false;
    if (!timingSafeEqual(this.mac(b.subarray(0, BODY)).subarray(0, MAC), b.subarray(BODY))) return false;
    const expires = b.readUIntBE(0, TIME);
    if (expires <= now || expires > now + MAX_LIFETIME_MS) return false;
    return this.store.claimNonce(expires, b.subarray(TIME, BODY));
  }

  /** Deletes expired claims in bounded batches, one per event-loop turn; idempotent, so every instance may run it. */
  async purge(now = Date.now()): Promise<void> {
    let n: number;
    try {
      n = await this.store.purgeUsedNonces(now - NONCE_CLOCK_MARGIN_MS, NONCE_PURGE_BATCH);
    } catch {
      n = 0; // store closed (shutdown) or busy: the next purge catches up
    }
    // purge never rejects (errors end it above), so it may run unawaited.
    if (n === NONCE_PURGE_BATCH) setImmediate(() => void this.purge(now));
    else this.purging = false;
  }

  private mac(body: Buffer): Buffer {
    if (!this.key) throw new Error("the nonce key is not loaded yet (NonceMint.load)");
    return createHmac("sha256", this.key).update(body).digest();
  }
}
