import { describe, expect, it } from "vitest";
import { TransactionTable, type OpenTransaction } from "../../protocols/cmp/transactions.js";
import { twoStores } from "../helpers/stores.js";

// Two connections on one SQLite file stand for two gateway instances.
const { a, b } = twoStores("cmp-tx-");
const limits = { maxOpen: 1000, rememberMs: 1_000 };
const A = new TransactionTable(a, limits);
const B = new TransactionTable(b, limits);

let n = 0;
const tx = (id: string, expiresAt: number, state: OpenTransaction["state"] = "waitingConfirm"): OpenTransaction => ({
  id, label: "default", lastNonce: new Uint8Array(16).fill(++n), protection: { kind: "mac", kid: "k" },
  state, certReqId: 0n, bodyType: "cp", serial: state === "waitingConfirm" ? `serial-${id}` : undefined, certDer: new Uint8Array([1, 2]), expiresAt,
});

describe("CMP transactions in the store, across instances", () => {
  it("a transactionID claimed on one instance is in use on the other, and free again after its window", async () => {
    expect(await A.claim("t1", 0)).toBe(true);
    expect(await B.claim("t1", 999)).toBe(false);
    expect(await A.claim("t1", 999)).toBe(false);
    expect(await B.claim("t1", 1_000)).toBe(true);
  });

  it("opened on A, read and confirmed on B exactly once (compare-and-set on state and nonce); never a MAC secret", async () => {
    expect(await A.claim("t2", 0)).toBe(true);
    const t = tx("t2", Date.now() + 60_000);
    expect(await A.open({ ...t, protection: { kind: "mac", kid: "k", secret: new Uint8Array([9, 9, 9]) } as never })).toBe(true);
    expect(await A.open(t)).toBe(false); // only a claimed row opens
    const onB = (await B.get("t2"))!;
    expect(onB).toMatchObject({ id: "t2", state: "waitingConfirm", serial: "serial-t2", protection: { kind: "mac", kid: "k" } });
    expect(onB.protection).not.toHaveProperty("secret");
    expect(Buffer.from(onB.lastNonce).equals(Buffer.from(t.lastNonce))).toBe(true);
    expect(await B.finish({ ...onB, lastNonce: new Uint8Array(16) })).toBe(false); // a stale nonce does not finish it
    expect(await B.finish(onB)).toBe(true);
    expect(await A.finish(t)).toBe(false);
    expect(await A.get("t2")).toBeUndefined();
    expect(await B.claim("t2", Date.now())).toBe(false); // remembered after it ended
  });

  it("a pending transaction moves on once (pollRep), then to waitingConfirm", async () => {
    expect(await A.claim("t3")).toBe(true);
    const p = { ...tx("t3", Date.now() + 60_000, "pending"), requestId: "r1" };
    expect(await A.open(p)).toBe(true);
    const polled = { ...p, lastNonce: new Uint8Array(16).fill(200) };
    expect(await B.advance(polled, p)).toBe(true);
    expect(await A.advance({ ...p, lastNonce: new Uint8Array(16).fill(201) }, p)).toBe(false); // same nonce, lost the race
    const issued = { ...polled, state: "waitingConfirm" as const, serial: "s3", lastNonce: new Uint8Array(16).fill(202) };
    expect(await A.advance(issued, polled)).toBe(true);
    expect(await B.get("t3")).toMatchObject({ state: "waitingConfirm", serial: "s3", requestId: "r1" });
  });

  it("an expired transaction is handed to one instance only; a lapsed settle claim is taken over; settled ones are purged after their window", async () => {
    const now = Date.now();
    for (const id of ["e1", "e2", "e3"]) {
      expect(await A.claim(id, now)).toBe(true);
      expect(await A.open(tx(id, now - 1))).toBe(true);
    }
    const first = await A.expired(2, 60_000, now);
    const second = await B.expired(10, 60_000, now);
    const ids = [...first, ...second].map((t) => t.id).filter((id) => id.startsWith("e")).sort();
    expect(ids).toEqual(["e1", "e2", "e3"]); // each once
    expect(first.length).toBe(2);
    expect(first[0]).toMatchObject({ state: "waitingConfirm" });
    expect(await A.get("e1")).toBeUndefined(); // being settled: a late certConf no longer finds it
    expect(await A.expired(10, 60_000, now)).toEqual([]);
    // e3's settler died: after its lease another instance takes it.
    for (const t of first) await A.settled(t.id);
    expect((await B.expired(10, 60_000, now + 60_001)).map((t) => t.id).filter((id) => id.startsWith("e"))).toEqual(second.filter((t) => t.id.startsWith("e")).map((t) => t.id));
    await B.settled("e3");
    expect((await A.expired(10, 60_000, now + 200_000)).filter((t) => t.id.startsWith("e"))).toEqual([]);
    expect(await A.purge(100, now + 24 * 3600_000 + 120_000)).toBeGreaterThanOrEqual(3);
    expect(await B.claim("e1", now + 24 * 3600_000 + 120_000)).toBe(true);
  });

  it("counts open transactions for the cap", async () => {
    const small = new TransactionTable(b, { maxOpen: 1, rememberMs: 1_000 });
    await small.refreshCount();
    const before = await b.cmp.countOpen();
    expect(small.full()).toBe(before >= 1);
    expect(await small.claim("c1")).toBe(true);
    expect(await small.open(tx("c1", Date.now() + 60_000))).toBe(true);
    expect(small.full()).toBe(true);
    expect(await b.cmp.countOpen()).toBe(before + 1);
  });
});
