// Store conformance, transactions: commit makes every write visible (to other instances too), a throw rolls all of
// them back, a nested transaction is a savepoint, and other callers' writes never land in someone's open
// transaction. Every engine (test/store/engines.ts).
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/types.js";
import { ENGINES } from "../engines.js";
import { at, certRecord, der, requestRecord, sha256, tag } from "./fixtures.js";

/** One write of each kind, all through `tx`; returns what to look for afterwards. */
async function writeAll(tx: Store) {
  const c = certRecord();
  await tx.insertCertificateIntent(c);
  await tx.completeIssuance(c.serial, der(c.serial));
  const r = requestRecord({ lookupKey: `k-${tag()}` });
  await tx.insertRequest(r);
  const e = await tx.appendAudit({ ts: at(0), type: "tx.test", actor: "t", target: r.id, data: {} });
  const sink = `sink-${tag()}`;
  await tx.outbox.enqueue(sink, e.seq, "{}", at(0));
  const cmpId = `tx-${tag()}`;
  await tx.cmp.claim(cmpId, at(0), at(1));
  const ca = `ca-${tag()}`;
  await tx.crl.markDirty(ca, at(0));
  return { c, r, e, sink, cmpId, ca };
}

async function present(s: Store, w: Awaited<ReturnType<typeof writeAll>>) {
  return {
    cert: (await s.getCertificate(w.c.serial))?.stage,
    request: (await s.findRequestByLookupKey(w.r.lookupKey!))?.id,
    audit: (await s.queryAudit({ target: w.r.id })).length,
    outbox: (await s.outbox.list({ sink: w.sink })).length,
    cmp: await s.cmp.claim(w.cmpId, at(0.5), at(2)), // false while the commit remembers it
    crl: (await s.crl.state(w.ca)).generation,
  };
}

describe.each(ENGINES)("conformance: transactions ($name)", (engine) => {
  afterAll(() => engine.close());

  it("commit: the value is returned and every write is visible, to this instance and another", async () => {
    const s = await engine.open();
    const other = await engine.openSecond();
    let written: Awaited<ReturnType<typeof writeAll>> | undefined;
    expect(await s.ping()).toBe(true);
    const v = await s.transaction(async (tx) => {
      expect(await tx.ping()).toBe(true);
      written = await writeAll(tx);
      // Inside, the transaction sees its own writes; another instance does not, before the commit.
      expect((await tx.getRequest(written.r.id))?.id).toBe(written.r.id);
      expect(await other.getRequest(written.r.id)).toBeUndefined();
      return 42;
    });
    expect(v).toBe(42);
    expect(await present(other, written!)).toEqual({ cert: "issued", request: written!.r.id, audit: 1, outbox: 1, cmp: false, crl: 1 });
    expect((await s.getRequest(written!.r.id))?.id).toBe(written!.r.id);
  });

  it("a throw rolls every write back and rejects with the same error", async () => {
    const s = await engine.open();
    const boom = new Error("boom");
    let written: Awaited<ReturnType<typeof writeAll>> | undefined;
    const headBefore = (await s.pageAudit({}, { limit: 1000 })).items.at(-1)?.seq ?? 0;
    await expect(s.transaction(async (tx) => {
      written = await writeAll(tx);
      throw boom;
    })).rejects.toBe(boom);
    expect(await present(s, written!)).toEqual({ cert: undefined, request: undefined, audit: 0, outbox: 0, cmp: true, crl: 0 });
    // A failing statement inside rolls back what came before it too.
    const r = requestRecord();
    await s.insertRequest(r);
    const fresh = requestRecord();
    await expect(s.transaction(async (tx) => {
      await tx.insertRequest(fresh);
      await tx.insertRequest(r); // duplicate id
    })).rejects.toThrow();
    expect(await s.getRequest(fresh.id)).toBeUndefined();
    // The chain goes on from where it was.
    const next = await s.appendAudit({ ts: at(0), type: "after", actor: "t", data: {} });
    expect(next.seq).toBe(headBefore + 1);
  });

  it("a nested transaction is a savepoint: its throw undoes only its writes, the outer commits the rest", async () => {
    const s = await engine.open();
    const [a, b, c, d] = [requestRecord(), requestRecord(), requestRecord(), requestRecord()];
    const out = await s.transaction(async (tx) => {
      await tx.insertRequest(a);
      await expect(tx.transaction(async (inner) => {
        await inner.insertRequest(b);
        await inner.decideRequest(a.id, "approved", "inner");
        throw new Error("inner");
      })).rejects.toThrow("inner");
      expect(await tx.getRequest(b.id)).toBeUndefined();
      expect((await tx.getRequest(a.id))?.status).toBe("pending");
      const kept = await tx.transaction(async (inner) => {
        await inner.insertRequest(c);
        // Two levels deep.
        await inner.transaction(async (deeper) => deeper.insertRequest(d)).catch(() => undefined);
        return "kept";
      });
      return kept;
    });
    expect(out).toBe("kept");
    expect((await s.getRequest(a.id))?.status).toBe("pending");
    expect(await s.getRequest(b.id)).toBeUndefined();
    expect((await s.getRequest(c.id))?.id).toBe(c.id);
    expect((await s.getRequest(d.id))?.id).toBe(d.id);
    // The outer's throw undoes the committed savepoints too.
    const e = requestRecord();
    await expect(s.transaction(async (tx) => {
      await tx.transaction(async (inner) => inner.insertRequest(e));
      throw new Error("outer");
    })).rejects.toThrow("outer");
    expect(await s.getRequest(e.id)).toBeUndefined();
  });

  it("sub-store methods that are transactions of their own join the caller's transaction and roll back with it", async () => {
    const s = await engine.open();
    const ca = `ca-${tag()}`;
    const sink = `sink-${tag()}`;
    const dead = await s.outbox.enqueue(sink, 1, "{}", at(0));
    await s.outbox.claimNext(sink, at(0), at(1));
    await s.outbox.markDead(dead, "x");
    const fp = sha256(tag());
    const sighting = { fingerprint: fp, subject: "CN=x", issuer: "CN=i", serial: "01", notBefore: at(-1), notAfter: at(1), keyAlgorithm: "EC P-256",
      signatureAlgorithm: "ecdsa-with-SHA256", sans: [], der: new Uint8Array(3) };
    const session = { idHash: sha256(tag()), adminId: "a", adminName: "a", createdAt: at(0), lastSeen: at(0), expiresAt: at(1) };
    const writes = async (tx: Store) => {
      await tx.sessions.create(session, { now: at(0), idleBefore: at(-1) }, 1000, 10);
      await tx.crl.save({ caName: ca, number: 7, thisUpdate: at(0), nextUpdate: at(1), der: new Uint8Array(5) }, 3);
      expect(await tx.crl.claim(ca, "me", at(0), at(1))).toBe(true);
      await tx.discovery.upsert(sighting, ["tls://x:443"], at(0));
      expect(await tx.outbox.redeliverDead([sink], at(0))).toBe(1);
    };
    await expect(s.transaction(async (tx) => {
      await writes(tx);
      throw new Error("abort");
    })).rejects.toThrow("abort");
    expect(await s.sessions.get(session.idHash)).toBeUndefined();
    expect(await s.crl.latestMeta(ca)).toBeUndefined();
    expect(await s.discovery.get(fp)).toBeUndefined();
    expect((await s.outbox.get(dead))?.status).toBe("dead");
    expect(await s.crl.claim(ca, "other", at(0), at(1))).toBe(true); // the rolled-back lease was never held
    await s.crl.release(ca, "other");
    await s.transaction(writes);
    expect(await s.sessions.get(session.idHash)).toEqual(session);
    expect((await s.crl.latestMeta(ca))?.number).toBe(7);
    expect((await s.discovery.get(fp))?.locations).toEqual(["tls://x:443"]);
    expect((await s.outbox.get(dead))?.status).toBe("pending");
    expect(await s.crl.claim(ca, "other", at(0.5), at(1))).toBe(false);
  });

  it("a statement failing inside a nested transaction leaves the outer usable (PostgreSQL aborts a transaction on any error)", async () => {
    const s = await engine.open();
    const taken = requestRecord({ lookupKey: `k-${tag()}` });
    await s.insertRequest(taken);
    const [a, b, c] = [requestRecord(), requestRecord({ lookupKey: taken.lookupKey }), requestRecord()];
    await s.transaction(async (tx) => {
      await tx.insertRequest(a);
      await expect(tx.transaction((inner) => inner.insertRequest(b))).rejects.toThrow(); // lookup key in use
      await expect(tx.transaction((inner) => inner.insertCertificateIntent(certRecord({ serial: "zz-not-checked", sans: [] })).then(() => inner.completeIssuance("nope", der("x"))))).rejects.toThrow();
      await tx.insertRequest(c);
    });
    expect((await s.getRequest(a.id))?.id).toBe(a.id);
    expect(await s.getRequest(b.id)).toBeUndefined();
    expect(await s.getCertificate("zz-not-checked")).toBeUndefined();
    expect((await s.getRequest(c.id))?.id).toBe(c.id);
  });

  it("a tx kept past its transaction is refused, so it never writes into another", async () => {
    const s = await engine.open();
    let kept: Store | undefined;
    await s.transaction(async (tx) => {
      kept = tx;
    });
    const r = requestRecord();
    await expect(kept!.insertRequest(r)).rejects.toThrow();
    await expect(kept!.acme.claimNonce(1, Buffer.alloc(16))).rejects.toThrow();
    expect(await s.getRequest(r.id)).toBeUndefined();
  });

  it("a write made outside an open transaction is not rolled back with it; concurrent transactions all commit", async () => {
    const s = await engine.open();
    const inside = requestRecord();
    const outside = requestRecord();
    let entered!: () => void;
    const isOpen = new Promise<void>((r) => (entered = r));
    let finish!: () => void;
    const held = new Promise<void>((r) => (finish = r));
    const t = s.transaction(async (tx) => {
      await tx.insertRequest(inside);
      entered();
      await held;
      throw new Error("abort");
    });
    await isOpen;
    const w = s.insertRequest(outside); // waits for the transaction (SQLite) or runs beside it (PostgreSQL)
    finish();
    await expect(t).rejects.toThrow("abort");
    await w;
    expect(await s.getRequest(inside.id)).toBeUndefined();
    expect((await s.getRequest(outside.id))?.id).toBe(outside.id);

    const rs = Array.from({ length: 8 }, () => requestRecord());
    await Promise.all(rs.map((r) => s.transaction(async (tx) => {
      await tx.insertRequest(r);
      await tx.updateRequest(r.id, { reason: "in tx" });
    })));
    for (const r of rs) expect((await s.getRequest(r.id))?.reason).toBe("in tx");
  });
});
