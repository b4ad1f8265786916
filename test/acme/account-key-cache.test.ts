import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ACCOUNT_KEY_CACHE_SIZE, accountKey } from "../../protocols/acme/signed-request.js";
import type { AcmeAccountRecord } from "../../src/store/acme-types.js";

const jwk = JSON.stringify(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" }));
const account = (id: string): AcmeAccountRecord => ({ id, endpoint: "default", thumbprint: `tp-${id}`, jwk, status: "valid", contact: [], createdAt: "2025-01-01T00:00:00Z" });

describe("ACME account key cache", () => {
  it("keeps the key objects of the most recently used accounts and re-imports the one pushed out", () => {
    const [old, busy] = [account("old"), account("busy")];
    const oldKey = accountKey(old);
    const busyKey = accountKey(busy);
    expect(accountKey(old)).toBe(oldKey); // cached: the same object
    for (let i = 0; i < ACCOUNT_KEY_CACHE_SIZE; i++) {
      accountKey(account(`one-off-${i}`));
      if (i % 100 === 0) expect(accountKey(busy)).toBe(busyKey); // used throughout: never pushed out
    }
    expect(accountKey(busy)).toBe(busyKey);
    const again = accountKey(old);
    expect(again).not.toBe(oldKey); // pushed out by the one-off accounts, imported anew
    expect(again.export({ format: "jwk" })).toEqual(oldKey.export({ format: "jwk" }));
  });
});
