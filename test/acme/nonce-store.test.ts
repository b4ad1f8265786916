import { join } from "node:path";
import { randomFillSync } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { NONCE_CLOCK_MARGIN_MS, NONCE_PURGE_BATCH, NonceMint } from "../../protocols/acme/nonce.js";
import { SqliteStore } from "../../src/store/sqlite/tables.js";
import { tempDir } from "../helpers/openssl.js";

// Two connections on one file: two instances (or a restarted one) sharing the database.
const path = join(tempDir(), "nonces.db");
const a = new SqliteStore(path);
const b = new SqliteStore(path);
afterAll(() => {
  a.close();
  b.close();
});
const HOUR = 3_600_000;
const mintA = new NonceMint(a.acme, HOUR, randomFillSync);
const mintB = new NonceMint(b.acme, HOUR, randomFillSync);
const nextTurn = () => new Promise<void>((r) => setImmediate(r));
/** Flips one bit of the decoded nonce at `byte` and re-encodes it. */
const flip = (nonce: string, byte: number) => {
  const buf = Buffer.from(nonce, "base64url");
  buf[byte] ^= 1;
  return buf.toString("base64url");
};

describe("ACME nonces shared through the store", () => {
  it("use one MAC key per database, created once whoever asks first", () => {
    expect(a.acme.nonceKey().equals(b.acme.nonceKey())).toBe(true);
    expect(a.acme.nonceKey().length).toBe(32);
  });

  it("a nonce issued by instance A is accepted once by B and never again by either", () => {
    const n = mintA.issue();
    expect(n).toMatch(/^[A-Za-z0-9_-]{44}$/);
    expect(mintB.redeem(n)).toBe(true);
    expect(mintA.redeem(n)).toBe(false);
    expect(mintB.redeem(n)).toBe(false);
    const m = mintB.issue();
    expect(mintA.redeem(m)).toBe(true);
    expect(mintA.redeem(m)).toBe(false);
    expect(mintB.redeem(m)).toBe(false);
  });

  it("a nonce survives a restart: a new connection and mint accept it once", () => {
    const n = mintA.issue();
    const c = new SqliteStore(path);
    try {
      const mintC = new NonceMint(c.acme, HOUR, randomFillSync);
      expect(mintC.redeem(n)).toBe(true);
      expect(mintC.redeem(n)).toBe(false);
      expect(mintA.redeem(n)).toBe(false);
    } finally {
      c.close();
    }
  });

  it("refuses forged and altered nonces without writing anything", () => {
    const before = a.acme.countUsedNonces();
    const n = mintA.issue();
    for (const byte of [0, 5, 6, 16, 17, 32]) expect(mintB.redeem(flip(n, byte)), `byte ${byte}`).toBe(false);
    expect(mintB.redeem(n.slice(0, 43))).toBe(false);
    expect(mintB.redeem(`${n}A`)).toBe(false);
    expect(mintB.redeem("bm90LWEtbm9uY2UtZnJvbS11cw")).toBe(false);
    const stranger = new NonceMint({ ...a.acme, nonceKey: () => Buffer.alloc(32, 7) } as unknown as typeof a.acme, HOUR, randomFillSync);
    expect(mintB.redeem(stranger.issue())).toBe(false);
    expect(a.acme.countUsedNonces()).toBe(before);
    expect(mintB.redeem(n)).toBe(true); // the original was never spent by the attempts
  });

  it("refuses an expired nonce, on any instance", () => {
    const now = Date.now();
    const old = mintA.issue(now - HOUR - 1);
    expect(mintB.redeem(old, now)).toBe(false);
    expect(mintA.redeem(old, now)).toBe(false);
    const live = mintA.issue(now - HOUR + 1000);
    expect(mintB.redeem(live, now)).toBe(true);
  });

  it("stays bounded: claims are purged in batches once expired (plus the clock margin), live ones kept", async () => {
    const now = Date.now();
    const expired = NONCE_PURGE_BATCH * 2 + 7;
    b.transaction(() => {
      for (let i = 0; i < expired; i++) b.acme.claimNonce(now - NONCE_CLOCK_MARGIN_MS - 1 - i, Buffer.from(`old-${i}`));
    });
    const live = mintA.issue(now);
    expect(mintB.redeem(live, now)).toBe(true);
    const total = a.acme.countUsedNonces();
    // One statement deletes at most its limit.
    expect(a.acme.purgeUsedNonces(now - NONCE_CLOCK_MARGIN_MS, 100)).toBe(100);
    expect(a.acme.countUsedNonces()).toBe(total - 100);
    // The mint's purge takes the rest one batch per event-loop turn; the purge on B afterwards finds nothing.
    mintA.purge(now);
    expect(a.acme.countUsedNonces()).toBe(total - 100 - NONCE_PURGE_BATCH);
    for (let i = 0; i < 5; i++) await nextTurn();
    expect(a.acme.countUsedNonces()).toBe(total - expired);
    mintB.purge(now);
    expect(b.acme.countUsedNonces()).toBe(total - expired);
    // Not yet past the margin: a claim that another instance's slow clock still treats as live is kept.
    expect(mintB.redeem(live, now)).toBe(false);
    mintB.purge(now + HOUR + NONCE_CLOCK_MARGIN_MS - 1);
    expect(mintB.redeem(live, now)).toBe(false);
  });
});
