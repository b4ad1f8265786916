// Store conformance, one-time secrets, admin tokens and CRLs (stored CRLs, numbering, dirty markers, build lease,
// revoked rows in CRL order). Same expectations for every engine (test/store/engines.ts).
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { CrlRecord, EnrollmentSecretRecord } from "../../../src/store/types.js";
import { ENGINES } from "../engines.js";
import { at, issue, sha256, tag } from "./fixtures.js";

const secret = (over: Partial<EnrollmentSecretRecord> = {}): EnrollmentSecretRecord => {
  const id = `s-${tag()}`;
  return { id, profile: "tls-server", protocols: ["est", "scep"], secretHash: sha256(id), createdAt: at(-1), expiresAt: at(1), ...over };
};
const crl = (caName: string, number: number, over: Partial<CrlRecord> = {}): CrlRecord =>
  ({ caName, number, thisUpdate: at(0), nextUpdate: at(7), der: new Uint8Array(randomBytes(64)), ...over });
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("hex") : undefined);

describe.each(ENGINES)("conformance: secrets and admin tokens ($name)", (engine) => {
  afterAll(() => engine.close());

  it("a secret round-trips, is found by its hash, and is redeemed once, never after it expired", async () => {
    const s = await engine.open();
    const a = secret({ subject: "CN=dev-1", sealed: "v1.sealed-blob", protocols: ["cmp"] });
    await s.insertSecret(a);
    expect(await s.getSecret(a.id)).toEqual(a);
    expect(await s.findSecretByHash(a.secretHash)).toEqual(a);
    expect(await s.findSecretByHash(sha256(tag()))).toBeUndefined();
    expect(await s.redeemSecret(a.id, at(0))).toEqual({ ...a, usedAt: at(0) });
    expect(await s.redeemSecret(a.id, at(0))).toBeUndefined();
    expect((await s.getSecret(a.id))!.usedAt).toBe(at(0));

    const old = secret({ expiresAt: at(0) });
    await s.insertSecret(old);
    expect(await s.redeemSecret(old.id, at(0))).toBeUndefined(); // expiresAt is exclusive
    expect((await s.getSecret(old.id))!.usedAt).toBeUndefined();
    expect(await s.redeemSecret(`s-${tag()}`, at(0))).toBeUndefined();
    const plain = secret();
    await s.insertSecret(plain);
    const got = await s.getSecret(plain.id);
    expect(got!.subject).toBeUndefined();
    expect(got!.sealed).toBeUndefined();
  });

  it("markChallengeUsed is true the first time only", async () => {
    const s = await engine.open();
    const h = sha256(tag());
    expect(await s.markChallengeUsed(h, "scep", at(0))).toBe(true);
    expect(await s.markChallengeUsed(h, "scep", at(1))).toBe(false);
    expect(await s.markChallengeUsed(h, "est", at(1))).toBe(false);
    expect(await s.markChallengeUsed(sha256(tag()), "scep", at(1))).toBe(true);
  });

  it("admin tokens are found by hash and counted; a hash is unique", async () => {
    const s = await engine.fresh();
    expect(await s.countAdminTokens()).toBe(0);
    const h = sha256(tag());
    await s.insertAdminToken("t1", "ops", h);
    await s.insertAdminToken("t2", "ci", sha256(tag()));
    expect(await s.findAdminTokenByHash(h)).toEqual({ id: "t1", name: "ops" });
    expect(await s.findAdminTokenByHash(sha256(tag()))).toBeUndefined();
    expect(await s.countAdminTokens()).toBe(2);
    await expect(s.insertAdminToken("t3", "dup", h)).rejects.toThrow();
    expect(await s.countAdminTokens()).toBe(2);
  });
});

describe.each(ENGINES)("conformance: CRLs ($name)", (engine) => {
  afterAll(() => engine.close());

  it("saveCrl / latestCrl / nextCrlNumber per CA", async () => {
    const s = await engine.open();
    const ca = `ca-${tag()}`;
    expect(await s.latestCrl(ca)).toBeUndefined();
    expect(await s.nextCrlNumber(ca)).toBe(1);
    const c5 = crl(ca, 5);
    await s.saveCrl(crl(ca, 1));
    await s.saveCrl(c5);
    await s.saveCrl(crl(ca, 3));
    await s.saveCrl(crl(`ca-${tag()}`, 9));
    const latest = await s.latestCrl(ca);
    expect({ ...latest, der: hex(latest?.der) }).toEqual({ ...c5, der: hex(c5.der) });
    expect(await s.nextCrlNumber(ca)).toBe(6);
    await expect(s.saveCrl(crl(ca, 5))).rejects.toThrow(); // one CRL per (CA, number)
  });

  it("crl.nextNumber is above every stored number and never below the time in ms; large numbers round-trip", async () => {
    const s = await engine.open();
    const ca = `ca-${tag()}`;
    expect(await s.crl.nextNumber(ca, 0)).toBe(1);
    expect(await s.crl.nextNumber(ca, 1_000)).toBe(1_000);
    const before = Date.now();
    const n = await s.crl.nextNumber(ca);
    expect(n).toBeGreaterThanOrEqual(before);
    const rec = crl(ca, n);
    await s.crl.save(rec, 3);
    expect(await s.crl.nextNumber(ca, 5)).toBe(n + 1);
    expect(await s.crl.nextNumber(ca, n + 1000)).toBe(n + 1000);
    const stored = await s.crl.latest(ca);
    expect(stored!.number).toBe(n);
    expect(hex(stored!.der)).toBe(hex(rec.der));
    expect(await s.crl.latestMeta(ca)).toEqual({ number: n, thisUpdate: rec.thisUpdate, nextUpdate: rec.nextUpdate });
    expect((await s.latestCrl(ca))!.number).toBe(n);
    expect(await s.nextCrlNumber(ca)).toBe(n + 1);
    // Strictly increasing under repeated builds.
    let last = n;
    for (let i = 0; i < 3; i++) {
      const next = await s.crl.nextNumber(ca);
      expect(next).toBeGreaterThan(last);
      await s.crl.save(crl(ca, next), 3);
      last = next;
    }
    expect(await s.crl.latestMeta(`ca-${tag()}`)).toBeUndefined();
    expect(await s.crl.latest(`ca-${tag()}`)).toBeUndefined();
  });

  it("crl.save keeps the newest `keep` CRLs of the CA (by number, not by arrival)", async () => {
    const s = await engine.open();
    const ca = `ca-${tag()}`;
    for (const n of [10, 30, 20]) await s.crl.save(crl(ca, n), 2);
    expect((await s.crl.latestMeta(ca))!.number).toBe(30);
    // 10 was pruned (its number is free again); 20 and 30 are kept (saving them again collides).
    await s.crl.save(crl(ca, 10), 5);
    await expect(s.crl.save(crl(ca, 20), 5)).rejects.toThrow();
    await expect(s.crl.save(crl(ca, 30), 5)).rejects.toThrow();
    expect((await s.crl.latestMeta(ca))!.number).toBe(30);
    await s.crl.save(crl(ca, 40), 1);
    for (const n of [10, 20, 30]) await s.crl.save(crl(ca, n), 5); // all pruned by keep = 1
    expect((await s.crl.latestMeta(ca))!.number).toBe(40);
  });

  it("markDirty / state / markClean: a build clears the marker only when nothing changed since it read the generation", async () => {
    const s = await engine.open();
    const ca = `ca-${tag()}`;
    expect(await s.crl.state(ca)).toEqual({ caName: ca, generation: 0 });
    expect(await s.crl.markClean(ca, 0, at(0))).toBe(true); // never dirty: nothing to build again
    await s.crl.markDirty(ca, at(1));
    await s.crl.markDirty(ca, at(2));
    expect(await s.crl.state(ca)).toEqual({ caName: ca, generation: 2, dirtySince: at(1) });
    expect((await s.crl.dirty()).filter((d) => d.caName === ca)).toEqual([{ caName: ca, generation: 2, dirtySince: at(1) }]);
    expect(await s.crl.markClean(ca, 2, at(3))).toBe(true);
    expect(await s.crl.state(ca)).toEqual({ caName: ca, generation: 2 });
    expect((await s.crl.dirty()).some((d) => d.caName === ca)).toBe(false);
    // A revocation during the build: the marker restarts at the build's start, and the build must run again.
    await s.crl.markDirty(ca, at(4));
    const g = (await s.crl.state(ca)).generation;
    await s.crl.markDirty(ca, at(5));
    expect(await s.crl.markClean(ca, g, at(4.5))).toBe(false);
    expect(await s.crl.state(ca)).toEqual({ caName: ca, generation: g + 1, dirtySince: at(4.5) });
    expect(await s.crl.markClean(ca, g + 1, at(6))).toBe(true);
    // Marked inside the revocation's transaction: rolled back with it.
    await expect(s.transaction(async (tx) => {
      await tx.crl.markDirty(ca, at(7));
      throw new Error("abort");
    })).rejects.toThrow("abort");
    expect(await s.crl.state(ca)).toEqual({ caName: ca, generation: g + 1 });
  });

  it("crl.claim / release: one build lease per CA, renewable by its owner, free once lapsed or released", async () => {
    const s = await engine.open();
    const ca = `ca-${tag()}`;
    expect(await s.crl.claim(ca, "A", at(0), at(1))).toBe(true);
    expect(await s.crl.claim(ca, "B", at(0.5), at(1.5))).toBe(false);
    expect(await s.crl.claim(ca, "A", at(0.5), at(2))).toBe(true); // renewed until at(2)
    expect(await s.crl.claim(ca, "B", at(1.5), at(2.5))).toBe(false);
    expect(await s.crl.claim(ca, "B", at(2), at(3))).toBe(true); // lapsed
    await s.crl.release(ca, "A"); // not A's any more: no effect
    expect(await s.crl.claim(ca, "A", at(2.5), at(3.5))).toBe(false);
    await s.crl.release(ca, "B");
    expect(await s.crl.claim(ca, "A", at(2.5), at(3.5))).toBe(true);
    // The lease leaves the dirty marker alone.
    expect(await s.crl.state(ca)).toEqual({ caName: ca, generation: 0 });
  });

  it("crl.forEachRevoked pages a CA's revoked certificates in (revokedAt, serial) order", async () => {
    const s = await engine.open();
    const ca = `ca-${tag()}`;
    const revs: Array<[string, string, number]> = [];
    for (const [i, day, reason] of [[0, -3, 1], [1, -5, 4], [2, -3, 0], [3, -1, 6], [4, -4, 1]] as const) {
      const c = await issue(s, { caName: ca, serial: `5e${tag(4)}0${i}` });
      await s.revoke(c.serial, reason, at(day));
      revs.push([c.serial, at(day), reason]);
    }
    await issue(s, { caName: ca }); // not revoked
    const other = await issue(s, { caName: `ca-${tag()}` });
    await s.revoke(other.serial, 1, at(-2));
    revs.sort((x, y) => (x[1] === y[1] ? (x[0] < y[0] ? -1 : 1) : x[1] < y[1] ? -1 : 1));

    const got: Array<[string, string, number]> = [];
    let cursor = await s.crl.forEachRevoked(ca, undefined, 2, (...r) => got.push(r));
    let pages = 1;
    while (cursor && pages < 10) {
      cursor = await s.crl.forEachRevoked(ca, cursor, 2, (...r) => got.push(r));
      pages++;
    }
    expect(got).toEqual(revs);
    expect(pages).toBe(3);
    // A full page says where to continue; a page that ends the list says nothing more.
    const all: string[] = [];
    const c = await s.crl.forEachRevoked(ca, undefined, 5, (serial) => all.push(serial));
    expect(all).toEqual(revs.map((r) => r[0]));
    expect(c).toEqual({ revokedAt: revs[4][1], serial: revs[4][0] });
    expect(await s.crl.forEachRevoked(ca, c, 5, () => all.push("more"))).toBeUndefined();
    expect(all).toHaveLength(5);
    expect(await s.crl.forEachRevoked(ca, undefined, 10, () => {})).toBeUndefined();
  });
});
