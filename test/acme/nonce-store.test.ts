import { join } from "node:path";
import { randomFillSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NONCE_CLOCK_MARGIN_MS, NONCE_PURGE_BATCH, NonceMint } from "../../protocols/acme/nonce.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { tempDir } from "../helpers/openssl.js";

// Two connections on one file: two instances (or a restarted one) sharing the database.
const path = join(tempDir(), "nonces.db");
const a = new SqliteStore(path);
const b = new SqliteStore(path);
afterAll(async () => {
  await a.close();
  await b.close();
});
const HOUR = 3_600_000;
const mintA = new NonceMint(a.acme, HOUR, randomFillSync);
const mintB = new NonceMint(b.acme, HOUR, randomFillSync);
beforeAll(async () => {
  await mintA.load();
  await mintB.load();
});
const nextTurn = () => new Promise<void>((r) => setImmediate(r));
/** Flips one bit of the decoded nonce at `byte` and re-encodes it. */
const flip = (nonce: string, byte: number) => {
  const buf = Buffer.from(nonce, "base64url");
  buf[byte] ^= 1;
  return buf.toString("base64url");
};

describe("ACME nonces shared through the store", () => {
  it("use one MAC key per database, created once whoever asks first", async () => {
    expect((await a.acme.nonceKey()).equals(await b.acme.nonceKey())).toBe(true);
    expect((await a.acme.nonceKey()).length).toBe(32);
  });

  it("a mint reads the shared key once before its first nonce, and again after a failed read", async () => {
    let reads = 0;
    const flaky = { ...a.acme, nonceKey: async () => {
      if (++reads === 1) throw new Error("store down");
      return a.acme.nonceKey();
    } } as unknown as typeof a.acme;
    const m = new NonceMint(flaky, HOUR, randomFillSync);
    expect(m.ready).toBe(false);
    expect(() => m.issue()).toThrow(/not loaded/);
    await expect(m.load()).rejects.toThrow("store down");
    expect(m.ready).toBe(false);
    await Promise.all([m.load(), m.load()]);
    expect(reads).toBe(2);
    expect(m.ready).toBe(true);
    expect(await mintB.redeem(m.issue())).toBe(true);
  });

  it("a nonce issued by instance A is accepted once by B and never again by either", async () => {
    const n = mintA.issue();
    expect(n).toMatch(/^[A-Za-z0-9_-]{44}$/);
    expect(await mintB.redeem(n)).toBe(true);
    expect(await mintA.redeem(n)).toBe(false);
    expect(await mintB.redeem(n)).toBe(false);
    const m = mintB.issue();
    expect(await mintA.redeem(m)).toBe(true);
    expect(await mintA.redeem(m)).toBe(false);
    expect(await mintB.redeem(m)).toBe(false);
  });

  it("a nonce survives a restart: a new connection and mint accept it once", async () => {
    const n = mintA.issue();
    const c = new SqliteStore(path);
    try {
      const mintC = new NonceMint(c.acme, HOUR, randomFillSync);
      await mintC.load();
      expect(await mintC.redeem(n)).toBe(true);
      expect(await mintC.redeem(n)).toBe(false);
      expect(await mintA.redeem(n)).toBe(false);
    } finally {
      await c.close();
    }
  });

  it("refuses forged and altered nonces without writing anything", async () => {
    const before = await a.acme.countUsedNonces();
    const n = mintA.issue();
    for (const byte of [0, 5, 6, 16, 17, 32]) expect(await mintB.redeem(flip(n, byte)), `byte ${byte}`).toBe(false);
    expect(await mintB.redeem(n.slice(0, 43))).toBe(false);
    expect(await mintB.redeem(`${n}A`)).toBe(false);
    expect(await mintB.redeem("bm90LWEtbm9uY2UtZnJvbS11cw")).toBe(false);
    const stranger = new NonceMint({ ...a.acme, nonceKey: async () => Buffer.alloc(32, 7) } as unknown as typeof a.acme, HOUR, randomFillSync);
    await stranger.load();
    expect(await mintB.redeem(stranger.issue())).toBe(false);
    expect(await a.acme.countUsedNonces()).toBe(before);
    expect(await mintB.redeem(n)).toBe(true); // the original was never spent by the attempts
  });

  it("refuses an expired nonce, on any instance", async () => {
    const now = Date.now();
    const old = mintA.issue(now - HOUR - 1);
    expect(await mintB.redeem(old, now)).toBe(false);
    expect(await mintA.redeem(old, now)).toBe(false);
    const live = mintA.issue(now - HOUR + 1000);
    expect(await mintB.redeem(live, now)).toBe(true);
  });

  it("stays bounded: claims are purged in batches once expired (plus the clock margin), live ones kept", async () => {
    const now = Date.now();
    const expired = NONCE_PURGE_BATCH * 2 + 7;
    await b.transaction(async (tx) => {
      for (let i = 0; i < expired; i++) await tx.acme.claimNonce(now - NONCE_CLOCK_MARGIN_MS - 1 - i, Buffer.from(`old-${i}`));
    });
    const live = mintA.issue(now);
    expect(await mintB.redeem(live, now)).toBe(true);
    const total = await a.acme.countUsedNonces();
    // One statement deletes at most its limit.
    expect(await a.acme.purgeUsedNonces(now - NONCE_CLOCK_MARGIN_MS, 100)).toBe(100);
    expect(await a.acme.countUsedNonces()).toBe(total - 100);
    // The mint's purge takes the rest one batch per event-loop turn; the purge on B afterwards finds nothing.
    await mintA.purge(now);
    expect(await a.acme.countUsedNonces()).toBe(total - 100 - NONCE_PURGE_BATCH);
    for (let i = 0; i < 5; i++) await nextTurn();
    expect(await a.acme.countUsedNonces()).toBe(total - expired);
    await mintB.purge(now);
    expect(await b.acme.countUsedNonces()).toBe(total - expired);
    // Not yet past the margin: a claim that another instance's slow clock still treats as live is kept.
    expect(await mintB.redeem(live, now)).toBe(false);
    await mintB.purge(now + HOUR + NONCE_CLOCK_MARGIN_MS - 1);
    expect(await mintB.redeem(live, now)).toBe(false);
  });
});
