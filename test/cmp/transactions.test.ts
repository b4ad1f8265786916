import { describe, expect, it } from "vitest";
import { TransactionTable, type OpenTransaction } from "../../protocols/cmp/transactions.js";

const tx = (id: string, expiresAt: number, state: OpenTransaction["state"] = "waitingConfirm"): OpenTransaction => ({
  id, label: "default", lastNonce: new Uint8Array(16), protection: { kind: "mac", kid: "k", secret: new Uint8Array(8) },
  state, certReqId: 0n, bodyType: "cp", serial: `serial-${id}`, expiresAt,
});

describe("CMP transaction table", () => {
  it("refuses a transactionID used within the memory window, and accepts it after", () => {
    const t = new TransactionTable(1_000);
    expect(t.claim("a", 0)).toBe(true);
    expect(t.claim("a", 999)).toBe(false);
    expect(t.claim("b", 1_000)).toBe(true); // prunes a on the way
    expect(t.claim("a", 1_001)).toBe(true);
  });

  it("remembers at most maxRemembered IDs, forgetting the oldest first", () => {
    const t = new TransactionTable(86_400_000, { maxOpen: 10, maxRemembered: 3 });
    for (const id of ["a", "b", "c", "d", "e"]) expect(t.claim(id, 0)).toBe(true);
    expect(t.claim("e", 0)).toBe(false);
    expect(t.claim("c", 0)).toBe(false);
    expect(t.claim("a", 0)).toBe(true); // pushed out by d and e: usable again
  });

  it("holds at most maxOpen transactions; the oldest pushed out is settled like an expired one", () => {
    const t = new TransactionTable(60_000, { maxOpen: 2, maxRemembered: 10 });
    t.put(tx("a", 10_000));
    t.put(tx("b", 10_000));
    expect(t.get("a")?.id).toBe("a"); // a used: b is the least recent
    t.put(tx("c", 10_000));
    expect(t.get("b")).toBeUndefined();
    expect(t.get("a")?.id).toBe("a");
    expect(t.get("c")?.id).toBe("c");
    // Not yet expired, but pushed out: the sweep must still see it (to revoke an unconfirmed certificate).
    expect(t.expired(0).map((x) => x.id)).toEqual(["b"]);
    expect(t.expired(0)).toEqual([]);
    expect(t.expired(10_000).map((x) => x.id).sort()).toEqual(["a", "c"]);
    expect(t.get("a")).toBeUndefined();
  });

  it("keeps the ID of an open transaction remembered while it is open", () => {
    const t = new TransactionTable(1_000);
    expect(t.claim("a", 0)).toBe(true);
    t.put(tx("a", 5_000, "pending"));
    expect(t.claim("a", 5_500)).toBe(false); // open until 5000, remembered 1000 after
    t.close("a");
    expect(t.claim("a", 6_001)).toBe(true);
  });
});
