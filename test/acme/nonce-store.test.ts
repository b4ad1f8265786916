import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteAcmeStore } from "../../src/store/acme-sqlite.js";
import { SqliteStore } from "../../src/store/sqlite.js";
import { tempDir } from "../helpers/openssl.js";

const store = new SqliteStore(join(tempDir(), "nonces.db"));
afterAll(() => store.close());

describe("ACME nonces in the store", () => {
  it("are redeemed once, refused when expired, and purged oldest first", () => {
    const now = Date.now();
    store.acme.insertNonce("a", now + 1000);
    store.acme.insertNonce("b", now - 1);
    expect(store.acme.redeemNonce("a", now)).toBe(true);
    expect(store.acme.redeemNonce("a", now)).toBe(false);
    expect(store.acme.redeemNonce("b", now)).toBe(false); // expired, and gone after the attempt
    store.acme.insertNonce("c", now + 10);
    store.acme.insertNonce("d", now + 5000);
    expect(store.acme.purgeNonces(now + 100)).toBe(1);
    expect(store.acme.redeemNonce("c", now)).toBe(false);
    expect(store.acme.redeemNonce("d", now)).toBe(true);
  });

  it("keep at most MAX_OUTSTANDING_NONCES: a flood of newNonce drops the oldest unused ones", () => {
    const max = SqliteAcmeStore.MAX_OUTSTANDING_NONCES;
    const exp = Date.now() + 60_000;
    for (let i = 0; i < max + 3; i++) store.acme.insertNonce(`n${i}`, exp);
    expect(store.acme.redeemNonce("n0", Date.now())).toBe(false);
    expect(store.acme.redeemNonce("n2", Date.now())).toBe(false);
    expect(store.acme.redeemNonce("n3", Date.now())).toBe(true);
    expect(store.acme.redeemNonce(`n${max + 2}`, Date.now())).toBe(true);
    expect(store.acme.purgeNonces(exp + 1)).toBe(max - 2);
  });
});
