// Store conformance, CMP transactions: transactionID claims, open/advance/finish compare-and-set, settle claims of
// expired transactions under a lease, purge and the open count. Every engine (test/store/engines.ts).
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { CmpTransactionRecord } from "../../../src/store/cmp-types.js";
import { ENGINES } from "../engines.js";
import { at, tag } from "./fixtures.js";

const bytes = (n: number) => new Uint8Array(randomBytes(n));
const txn = (over: Partial<CmpTransactionRecord> = {}): CmpTransactionRecord => ({
  id: `tx-${tag()}`, label: "CN=device-1", lastNonce: bytes(16), protection: { kind: "mac", kid: "kid-1" }, state: "waitingConfirm",
  certReqId: 0n, bodyType: "ip", certDer: bytes(300), serial: `0c${tag()}`, expiresAt: at(1), ...over,
});
const pendingTxn = (over: Partial<CmpTransactionRecord> = {}) =>
  txn({ state: "pending", certDer: undefined, serial: undefined, requestId: `r-${tag()}`, bodyType: "cp", ...over });
const ids = (ts: CmpTransactionRecord[]) => ts.map((t) => t.id).sort();

describe.each(ENGINES)("conformance: CMP transactions ($name)", (engine) => {
  afterAll(() => engine.close());

  it("claim takes a transactionID once; open answers its first message once; get returns the whole record", async () => {
    const s = await engine.open();
    const t = txn({ certReqId: 2n ** 63n - 1n });
    expect(await s.cmp.claim(t.id, at(0), at(1))).toBe(true);
    expect(await s.cmp.claim(t.id, at(0.5), at(2))).toBe(false);
    expect(await s.cmp.get(t.id)).toBeUndefined(); // claimed, nothing to follow up yet
    expect(await s.cmp.open(t, at(2))).toBe(true);
    expect(await s.cmp.open(t, at(2))).toBe(false);
    expect(await s.cmp.get(t.id)).toEqual(t);
    expect(await s.cmp.claim(t.id, at(5), at(6))).toBe(false); // open: never taken over, even past its window
    expect(await s.cmp.open(txn(), at(2))).toBe(false); // not claimed
    expect(await s.cmp.get(`tx-${tag()}`)).toBeUndefined();

    const p = pendingTxn({ protection: { kind: "signature", signerCert: bytes(400) } });
    expect(await s.cmp.claim(p.id, at(0), at(1))).toBe(true);
    expect(await s.cmp.open(p, at(2))).toBe(true);
    const got = await s.cmp.get(p.id);
    expect(got).toEqual(p);
    expect(got!.certDer).toBeUndefined();
    expect(got!.serial).toBeUndefined();
  });

  it("advance and finish are compare-and-set on (state, last nonce): one caller wins", async () => {
    const s = await engine.open();
    const p = pendingTxn();
    await s.cmp.claim(p.id, at(0), at(1));
    await s.cmp.open(p, at(2));
    const polled = { ...p, lastNonce: bytes(16), expiresAt: at(1.5) };
    expect(await s.cmp.advance(polled, { state: "pending", lastNonce: p.lastNonce }, at(3))).toBe(true);
    expect(await s.cmp.advance({ ...polled, lastNonce: bytes(16) }, { state: "pending", lastNonce: p.lastNonce }, at(3))).toBe(false); // stale nonce
    expect(await s.cmp.get(p.id)).toEqual(polled);
    const issued: CmpTransactionRecord = { ...polled, state: "waitingConfirm", lastNonce: bytes(16), certDer: bytes(200), serial: "0cafe" };
    expect(await s.cmp.advance(issued, { state: "waitingConfirm", lastNonce: polled.lastNonce }, at(3))).toBe(false); // wrong state
    expect(await s.cmp.advance(issued, { state: "pending", lastNonce: polled.lastNonce }, at(3))).toBe(true);
    expect(await s.cmp.get(p.id)).toEqual(issued);
    expect(await s.cmp.finish(p.id, { state: "waitingConfirm", lastNonce: polled.lastNonce })).toBe(false);
    expect(await s.cmp.finish(p.id, { state: "waitingConfirm", lastNonce: issued.lastNonce })).toBe(true);
    expect(await s.cmp.finish(p.id, { state: "waitingConfirm", lastNonce: issued.lastNonce })).toBe(false);
    expect(await s.cmp.get(p.id)).toBeUndefined();
    expect(await s.cmp.advance(issued, { state: "waitingConfirm", lastNonce: issued.lastNonce }, at(3))).toBe(false);
    // A finished ID stays remembered until its window ends, then may be claimed again.
    expect(await s.cmp.claim(p.id, at(2.5), at(4))).toBe(false);
    expect(await s.cmp.claim(p.id, at(3), at(4))).toBe(true);
    // A remembered, never opened ID too.
    const q = `tx-${tag()}`;
    expect(await s.cmp.claim(q, at(0), at(1))).toBe(true);
    expect(await s.cmp.claim(q, at(1), at(2))).toBe(true);
  });

  it("claimExpired hands each expired transaction to one claimant under a lease; a lapsed lease is claimed again; settled once", async () => {
    const s = await engine.fresh();
    const a = txn({ expiresAt: at(1) });
    const b = pendingTxn({ expiresAt: at(2) });
    const c = txn({ expiresAt: at(10) });
    for (const t of [a, b, c]) {
      expect(await s.cmp.claim(t.id, at(0), at(1))).toBe(true);
      expect(await s.cmp.open(t, at(20))).toBe(true);
    }
    expect(await s.cmp.countOpen()).toBe(3);
    const first = await s.cmp.claimExpired(at(3), at(4), 10);
    expect(ids(first)).toEqual(ids([a, b]));
    // The records as they were, leased until leaseUntil; the state says what they were waiting for.
    expect(first.find((t) => t.id === a.id)).toEqual({ ...a, expiresAt: at(4) });
    expect(first.find((t) => t.id === b.id)).toEqual({ ...b, expiresAt: at(4) });
    expect(await s.cmp.claimExpired(at(3.5), at(5), 10)).toEqual([]);
    // Being settled: a late confirmation cannot finish it, and it still counts as open.
    expect(await s.cmp.finish(a.id, { state: "waitingConfirm", lastNonce: a.lastNonce })).toBe(false);
    expect(await s.cmp.countOpen()).toBe(3);
    // The settling instance died: its lease lapses and another claims them, at most `limit` at a time.
    const again = await s.cmp.claimExpired(at(4), at(6), 1);
    expect(again).toHaveLength(1);
    const rest = await s.cmp.claimExpired(at(4), at(6), 10);
    expect(ids([...again, ...rest])).toEqual(ids([a, b]));
    expect(await s.cmp.settled(a.id)).toBe(true);
    expect(await s.cmp.settled(a.id)).toBe(false);
    expect(await s.cmp.settled(c.id)).toBe(false); // not being settled
    expect(await s.cmp.countOpen()).toBe(2);
    expect(ids(await s.cmp.claimExpired(at(11), at(12), 10))).toEqual(ids([b, c]));
  });

  it("purge deletes a bounded batch of claimed or finished rows past their window, never open ones", async () => {
    const s = await engine.fresh();
    for (let i = 0; i < 3; i++) expect(await s.cmp.claim(`tx-r${i}`, at(0), at(1 + i))).toBe(true);
    const f = txn();
    await s.cmp.claim(f.id, at(0), at(1));
    await s.cmp.open(f, at(2));
    await s.cmp.finish(f.id, { state: f.state, lastNonce: f.lastNonce });
    const open = txn({ expiresAt: at(1) });
    await s.cmp.claim(open.id, at(0), at(1));
    await s.cmp.open(open, at(1));
    expect(await s.cmp.purge(at(2.5), 2)).toBe(2);
    expect(await s.cmp.purge(at(2.5), 10)).toBe(1); // tx-r2 (window to at(3)) stays
    expect(await s.cmp.purge(at(2.5), 10)).toBe(0);
    expect(await s.cmp.claim("tx-r2", at(2.5), at(4))).toBe(false);
    expect(await s.cmp.purge(at(100), 10)).toBe(1);
    expect(await s.cmp.get(open.id)).toEqual(open);
    expect(await s.cmp.countOpen()).toBe(1);
    // Purged IDs are free.
    expect(await s.cmp.claim("tx-r0", at(2.5), at(4))).toBe(true);
  });
});
