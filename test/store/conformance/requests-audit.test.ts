// Store conformance, enrollment requests and the audit chain. Same expectations for every engine (test/store/engines.ts).
import { afterAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../../src/store/types.js";
import { ENGINES } from "../engines.js";
import { eventHash } from "../../../src/audit/event-hash.js";
import { at, auditChain, requestRecord, tag, type AuditInput } from "./fixtures.js";

const chain = auditChain;
const event = (over: Partial<AuditInput> = {}): AuditInput => ({ ts: at(0), type: "test.event", actor: "tester", data: { n: 1 }, ...over });

describe.each(ENGINES)("conformance: requests ($name)", (engine) => {
  afterAll(() => engine.close());

  it("a request round-trips; its lookup key finds it and is unique", async () => {
    const s = await engine.open();
    const key = `est:${tag()}`;
    const r = requestRecord({ lookupKey: key, reason: "queued", errorCode: undefined });
    await s.insertRequest(r);
    expect(await s.getRequest(r.id)).toEqual(r);
    expect(await s.findRequestByLookupKey(key)).toEqual(r);
    expect(await s.findRequestByLookupKey(`est:${tag()}`)).toBeUndefined();
    expect(await s.getRequest(`r-${tag()}`)).toBeUndefined();
    await expect(s.insertRequest(requestRecord({ lookupKey: key }))).rejects.toThrow();
    await expect(s.insertRequest(requestRecord({ id: r.id }))).rejects.toThrow();
    // Requests without a key do not collide.
    await s.insertRequest(requestRecord());
    await s.insertRequest(requestRecord());
  });

  it("decideRequest moves a pending request once; the decision, who and when are kept", async () => {
    const s = await engine.open();
    const r = requestRecord({ reason: "needs approval" });
    await s.insertRequest(r);
    expect(await s.decideRequest(r.id, "approved", "admin:alice")).toBe(true);
    expect(await s.decideRequest(r.id, "rejected", "admin:bob", "no")).toBe(false);
    expect(await s.decideRequest(r.id, "approved", "admin:bob")).toBe(false);
    const d = await s.getRequest(r.id);
    expect(d).toMatchObject({ status: "approved", decidedBy: "admin:alice", reason: "needs approval" });
    expect(Date.parse(d!.decidedAt!)).not.toBeNaN();
    const x = requestRecord();
    await s.insertRequest(x);
    expect(await s.decideRequest(x.id, "rejected", "admin:bob", "policy")).toBe(true);
    expect(await s.getRequest(x.id)).toMatchObject({ status: "rejected", decidedBy: "admin:bob", reason: "policy" });
    expect(await s.decideRequest(`r-${tag()}`, "approved", "admin:alice")).toBe(false);
  });

  it("updateRequest sets the given fields; 'failed' releases the lookup key so the client may try again", async () => {
    const s = await engine.open();
    const key = `scep:${tag()}`;
    const r = requestRecord({ lookupKey: key });
    await s.insertRequest(r);
    await s.updateRequest(r.id, { status: "issued", certificateSerial: "0abc" });
    expect(await s.findRequestByLookupKey(key)).toMatchObject({ id: r.id, status: "issued", certificateSerial: "0abc", lookupKey: key });
    await s.updateRequest(r.id, { reason: "later note" });
    expect(await s.getRequest(r.id)).toMatchObject({ status: "issued", certificateSerial: "0abc", reason: "later note" });

    const f = requestRecord({ lookupKey: `scep:${tag()}` });
    await s.insertRequest(f);
    await s.updateRequest(f.id, { status: "failed", errorCode: "RA_ERR_CA", reason: "signer down" });
    const failed = await s.getRequest(f.id);
    expect(failed).toMatchObject({ status: "failed", errorCode: "RA_ERR_CA", reason: "signer down" });
    expect(failed!.lookupKey).toBeUndefined();
    expect(await s.findRequestByLookupKey(f.lookupKey!)).toBeUndefined();
    const retry = requestRecord({ lookupKey: f.lookupKey });
    await s.insertRequest(retry);
    expect((await s.findRequestByLookupKey(f.lookupKey!))?.id).toBe(retry.id);
  });

  it("listRequests, pageRequests (oldest first, keyset walk while requests arrive) and countPending", async () => {
    const s = await engine.fresh();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = requestRecord({ createdAt: at(-20 + i), status: i % 3 === 2 ? "approved" : "pending" });
      await s.insertRequest(r);
      ids.push(r.id);
    }
    const pending = ids.filter((_, i) => i % 3 !== 2);
    expect(await s.countPending()).toBe(8);
    expect((await s.listRequests("pending")).map((r) => r.id)).toEqual(pending);
    expect((await s.listRequests("pending", 3)).map((r) => r.id)).toEqual(pending.slice(0, 3));
    expect((await s.listRequests(undefined, 4)).map((r) => r.id)).toEqual([...ids].reverse().slice(0, 4));
    expect((await s.listRequests("approved")).map((r) => r.id)).toEqual(ids.filter((_, i) => i % 3 === 2));
    const seen: string[] = [];
    const arrived: string[] = [];
    let cursor: string | undefined;
    do {
      const p = await s.pageRequests(undefined, { limit: 5, cursor });
      seen.push(...p.items.map((r) => r.id));
      cursor = p.next;
      if (cursor && arrived.length < 3) {
        const r = requestRecord({ createdAt: at(1) });
        await s.insertRequest(r);
        arrived.push(r.id);
      }
    } while (cursor);
    // Oldest first: the requests that arrived during the walk come after every earlier one, each once.
    expect(seen).toEqual([...ids, ...arrived]);
    expect(new Set(seen).size).toBe(seen.length);
    const approved = await s.pageRequests("approved", { limit: 1000 });
    expect(approved.items.map((r) => r.id)).toEqual(ids.filter((_, i) => i % 3 === 2));
    expect(approved.next).toBeUndefined();
    await expect(s.pageRequests(undefined, { limit: 5, cursor: "%%bad" })).rejects.toMatchObject({ code: "RA_ERR_MALFORMED" });
    await s.decideRequest(pending[0], "approved", "admin");
    expect(arrived.length).toBeGreaterThan(0);
    expect(await s.countPending()).toBe(7 + arrived.length); // those that arrived during the walk are pending
  });
});

describe.each(ENGINES)("conformance: audit ($name)", (engine) => {
  afterAll(() => engine.close());

  it("appendAudit links each event to the one before and hashes it with eventHash", async () => {
    const s = await engine.fresh();
    const first = await s.appendAudit(event({ target: "t1", data: { nested: { a: [1, 2] }, s: "x" } }));
    expect(first).toMatchObject({ seq: 1, prevHash: "0".repeat(64), target: "t1", data: { nested: { a: [1, 2] }, s: "x" } });
    expect(first.hash).toBe(eventHash(first.prevHash, 1, first));
    const second = await s.appendAudit(event());
    expect(second).toMatchObject({ seq: 2, prevHash: first.hash });
    expect(await s.queryAudit({})).toEqual([first, second]);
    expect((await s.queryAudit({}))[1].target).toBeUndefined();
    // An append rolled back with its transaction leaves no gap: the next one takes its place in the chain.
    await expect(s.transaction(async (tx) => {
      await tx.appendAudit(event({ type: "rolled.back" }));
      throw new Error("abort");
    })).rejects.toThrow("abort");
    const third = await s.appendAudit(event());
    expect(third).toMatchObject({ seq: 3, prevHash: second.hash });
    expect(await chain(s)).toHaveLength(3);
  });

  it("text the canonical form escapes or nests hashes the same way in every engine", async () => {
    const s = await engine.fresh();
    const awkward = [
      event({ target: 'quote " and \\ backslash', data: { seq: 0, inner: { '"seq":0': "x", seq: [0] }, u: "Zürich ✓ 𝄞 \u0001", e: "" } }),
      event({ type: "t.\u00e9", actor: "ä", data: { n: 1.5, big: 2 ** 53 - 1, neg: -0.25, t: true, z: null, arr: [] } }),
      event({ data: {} }),
    ];
    for (const e of awkward) {
      const stored = await s.appendAudit(e);
      expect(stored.hash).toBe(eventHash(stored.prevHash, stored.seq, e));
    }
    expect(await chain(s)).toHaveLength(awkward.length);
  });

  it("concurrent appends from two instances make one unbroken chain", async () => {
    const [a, b] = await engine.freshPair();
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).appendAudit(event({ data: { i } }))));
    const all = await chain(a);
    expect(all).toHaveLength(40);
    expect(all.map((e) => e.data.i).sort((x, y) => Number(x) - Number(y))).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it("queryAudit filters by type, target, time range and sequence, in sequence order; pageAudit pages it", async () => {
    const s = await engine.fresh();
    const e: AuditEvent[] = [];
    for (let i = 0; i < 10; i++) {
      e.push(await s.appendAudit(event({ ts: at(i), type: i % 2 ? "cert.issued" : "cert.revoked", target: i % 3 ? `c${i % 3}` : undefined, data: { i } })));
    }
    const seqs = (x: AuditEvent[]) => x.map((v) => v.seq);
    expect(seqs(await s.queryAudit({ type: "cert.issued" }))).toEqual([2, 4, 6, 8, 10]);
    expect(seqs(await s.queryAudit({ target: "c1" }))).toEqual([2, 5, 8]);
    expect(seqs(await s.queryAudit({ from: at(3), to: at(6) }))).toEqual([4, 5, 6]);
    expect(seqs(await s.queryAudit({ afterSeq: 7 }))).toEqual([8, 9, 10]);
    expect(seqs(await s.queryAudit({ type: "cert.revoked", afterSeq: 1, limit: 2 }))).toEqual([3, 5]);
    expect(await s.queryAudit({ type: "none" })).toEqual([]);
    const p1 = await s.pageAudit({ type: "cert.issued" }, { limit: 2 });
    expect(seqs(p1.items)).toEqual([2, 4]);
    expect(p1.next).toBe("4");
    const p2 = await s.pageAudit({ type: "cert.issued" }, { limit: 2, cursor: p1.next });
    expect(seqs(p2.items)).toEqual([6, 8]);
    const p3 = await s.pageAudit({ type: "cert.issued" }, { limit: 2, cursor: p2.next });
    expect(seqs(p3.items)).toEqual([10]);
    expect(p3.next).toBeUndefined();
    expect(seqs((await s.pageAudit({ afterSeq: 8 }, { limit: 5 })).items)).toEqual([9, 10]);
    expect(seqs((await s.pageAudit({ target: "c2", from: at(2), to: at(9) }, { limit: 5 })).items)).toEqual([3, 6, 9]);
    expect((await s.pageAudit({}, { limit: 3 })).items).toEqual(e.slice(0, 3));
    await expect(s.pageAudit({}, { limit: 5, cursor: "abc" })).rejects.toMatchObject({ code: "RA_ERR_MALFORMED" });
  });
});
