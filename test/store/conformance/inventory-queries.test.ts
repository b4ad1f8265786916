// Store conformance, certificate queries: renewals, notices, implicit-renewal matching, names, retention's archive,
// serial-order walks and the dashboard's aggregates. Same expectations for every engine (test/store/engines.ts).
import { afterAll, describe, expect, it } from "vitest";
import type { CertificateRecord } from "../../../src/store/types.js";
import { ENGINES } from "../engines.js";
import { at, certRecord, der, issue, requestRecord, sha256, tag } from "./fixtures.js";

const set = (rs: CertificateRecord[]) => rs.map((r) => r.serial).sort();
const byKey = <T>(rows: T[]) => [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe.each(ENGINES)("conformance: certificate queries ($name)", (engine) => {
  afterAll(() => engine.close());

  it("renewalDue, missedRenewals and their counts: issued, unrevoked, unreplaced, by window and profile", async () => {
    const s = await engine.open();
    const profile = `renew-${tag()}`;
    const a = await issue(s, { profile, notAfter: at(10), owner: "o1" });
    const b = await issue(s, { profile, notAfter: at(20) });
    const edge = await issue(s, { profile, notAfter: at(30) }); // at dueBefore: due
    await issue(s, { profile, notAfter: at(40) }); // beyond the window
    const revoked = await issue(s, { profile, notAfter: at(15) });
    await s.revoke(revoked.serial, 1, at(-1));
    const replaced = await issue(s, { profile, notAfter: at(12) });
    await s.markReplaced(replaced.serial, a.serial);
    await s.insertCertificateIntent(certRecord({ profile, notAfter: at(11) }));
    const now = await issue(s, { profile, notAfter: at(0) }); // at `now`: already missed, not due
    const g = await issue(s, { profile, notAfter: at(-5), owner: "o1" });
    const h = await issue(s, { profile, notAfter: at(-2) });
    const gone = await issue(s, { profile, notAfter: at(-3) });
    await s.revoke(gone.serial, 1, at(-4));

    expect((await s.renewalDue(profile, at(0), at(30))).map((c) => c.serial)).toEqual([a.serial, b.serial, edge.serial]);
    expect((await s.renewalDue(profile, at(0), at(30), 1)).map((c) => c.serial)).toEqual([a.serial]);
    expect(await s.renewalDue(`none-${tag()}`, at(0), at(30))).toEqual([]);
    expect((await s.missedRenewals(at(0), 1000, profile)).map((c) => c.serial)).toEqual([now.serial, h.serial, g.serial]);
    expect((await s.missedRenewals(at(0), 2, profile)).map((c) => c.serial)).toEqual([now.serial, h.serial]);
    expect((await s.missedRenewals(at(0), 1000)).map((c) => c.serial)).toEqual(expect.arrayContaining([now.serial, h.serial, g.serial]));
    expect(byKey(await s.countRenewalDue(profile, at(0), at(30)))).toEqual(byKey([{ owner: "", count: 2 }, { owner: "o1", count: 1 }]));
    expect(byKey((await s.countMissedRenewals(at(0))).filter((r) => r.profile === profile)))
      .toEqual(byKey([{ profile, owner: "", count: 2 }, { profile, owner: "o1", count: 1 }]));
  });

  it("insertNotice records a (serial, kind) notice once", async () => {
    const s = await engine.open();
    const c = await issue(s);
    expect(await s.insertNotice(c.serial, "renewal_due", at(0))).toBe(true);
    expect(await s.insertNotice(c.serial, "renewal_due", at(1))).toBe(false);
    expect(await s.insertNotice(c.serial, "renewal_missed", at(1))).toBe(true);
  });

  it("replaceable: the newest valid, unreplaced certificate of requester + profile with the same names in any order", async () => {
    const s = await engine.open();
    const profile = `repl-${tag()}`;
    const requester = { kind: "acme-account", id: `acct-${tag()}` };
    const base = { profile, requesterKind: requester.kind, requesterId: requester.id };
    const old1 = await issue(s, { ...base, sans: ["dns:a.example", "dns:b.example"], notAfter: at(20) });
    const old2 = await issue(s, { ...base, sans: ["dns:b.example", "dns:a.example"], notAfter: at(25) });
    const names = ["dns:b.example", "dns:a.example"];
    expect(await s.replaceable(requester, profile, names, at(30), at(0), "none")).toBe(old2.serial);
    expect(await s.replaceable(requester, profile, ["dns:a.example", "dns:b.example"], at(30), at(0), "none")).toBe(old2.serial);
    expect(await s.replaceable(requester, profile, names, at(30), at(0), old2.serial)).toBe(old1.serial);
    expect(await s.replaceable(requester, profile, names, at(22), at(0), "none")).toBe(old1.serial); // old2 expires after notAfter
    expect(await s.replaceable(requester, profile, names, at(30), at(21), "none")).toBe(old2.serial); // old1 expired by now
    expect(await s.replaceable(requester, profile, ["dns:a.example"], at(30), at(0), "none")).toBeUndefined();
    expect(await s.replaceable({ ...requester, id: "someone-else" }, profile, names, at(30), at(0), "none")).toBeUndefined();
    expect(await s.replaceable(requester, "other-profile", names, at(30), at(0), "none")).toBeUndefined();
    await s.markReplaced(old2.serial, "ff");
    expect(await s.replaceable(requester, profile, names, at(30), at(0), "none")).toBe(old1.serial);
    await s.revoke(old1.serial, 4, at(0));
    expect(await s.replaceable(requester, profile, names, at(30), at(0), "none")).toBeUndefined();
  });

  it("findValidByName / findHeldByName: exact SAN entry or any kind with that value; valid or on hold, unexpired", async () => {
    const s = await engine.open();
    const host = `n${tag()}.example`;
    const v1 = await issue(s, { sans: [`dns:${host}`] });
    const v2 = await issue(s, { sans: [`dns:www.${host}`, `dns:${host}`] });
    const dev = await issue(s, { sans: [`permanentId:${host}`] });
    const revoked = await issue(s, { sans: [`dns:${host}`] });
    await s.revoke(revoked.serial, 1, at(-1));
    const held = await issue(s, { sans: [`dns:${host}`] });
    await s.revoke(held.serial, 6, at(-1));
    const heldExpired = await issue(s, { sans: [`dns:${host}`], notBefore: at(-50), notAfter: at(-1) });
    await s.revoke(heldExpired.serial, 6, at(-2));
    await issue(s, { sans: [`dns:${host}`], notBefore: at(-50), notAfter: at(-1) }); // expired
    await s.insertCertificateIntent(certRecord({ sans: [`dns:${host}`] }));
    await issue(s, { sans: [`dns:x${host}`] }); // a longer name is another name

    expect(set(await s.findValidByName(`dns:${host}`, at(0), 10))).toEqual([v1.serial, v2.serial].sort());
    expect(set(await s.findValidByName(host, at(0), 10))).toEqual([v1.serial, v2.serial, dev.serial].sort());
    expect(set(await s.findValidByName(`permanentId:${host}`, at(0), 10))).toEqual([dev.serial]);
    expect(await s.findValidByName(`ip:${host}`, at(0), 10)).toEqual([]);
    expect(await s.findValidByName(`dns:${host}`, at(0), 1)).toHaveLength(1);
    // Judged at `now`: a later instant sees them expired.
    expect(await s.findValidByName(`dns:${host}`, at(100), 10)).toEqual([]);
    expect(set(await s.findHeldByName(`dns:${host}`, at(0), 10))).toEqual([held.serial]);
    expect(set(await s.findHeldByName(host, at(0), 10))).toEqual([held.serial]);
    // Whole records, as getCertificate returns them.
    expect((await s.findValidByName(`permanentId:${host}`, at(0), 10))[0]).toEqual(await s.getCertificate(dev.serial));
    await s.releaseHold(held.serial);
    expect(set(await s.findValidByName(`dns:${host}`, at(0), 10))).toEqual([v1.serial, v2.serial, held.serial].sort());
  });

  it("a keyset walk goes on when retention archives the row its cursor names, and still refuses a cursor whose row id holds another certificate", async () => {
    const s = await engine.fresh();
    const profile = `arch-walk-${tag()}`;
    // Oldest first: 6 expired long ago (archivable), then 6 valid. The walk is newest first, 4 per page.
    const expired: string[] = [];
    for (let i = 0; i < 6; i++) expired.push((await issue(s, { profile, notBefore: at(-400), notAfter: at(-100 + i) })).serial);
    const valid: string[] = [];
    for (let i = 0; i < 6; i++) valid.push((await issue(s, { profile })).serial);
    const p1 = await s.pageCertificates({ profile }, { limit: 4 });
    const p2 = await s.pageCertificates({ profile }, { limit: 4, cursor: p1.next });
    // Page 2 ends on the newest expired certificate (expired[5]): archive every expired one, the cursor's row too.
    expect(p2.items.map((c) => c.serial)).toEqual([valid[1], valid[0], expired[5], expired[4]]);
    expect(await s.transaction((tx) => tx.archiveExpired(at(-30), at(0), 100))).toMatchObject({ count: 6 });
    const p3 = await s.pageCertificates({ profile }, { limit: 4, cursor: p2.next });
    // What is left of the walk is what is still in the inventory, and nothing repeats.
    expect(p3.items).toEqual([]);
    expect(p3.next).toBeUndefined();
    // The same after a cursor on a row that was archived between two pages of a longer walk.
    const q1 = await s.pageCertificates({ profile }, { limit: 2 });
    expect(q1.items.map((c) => c.serial)).toEqual([valid[5], valid[4]]);
    const q2 = await s.pageCertificates({ profile }, { limit: 4, cursor: q1.next });
    expect(q2.items.map((c) => c.serial)).toEqual([valid[3], valid[2], valid[1], valid[0]]);
    // A cursor naming a row id that holds another certificate, or an archived serial at another row's place, is refused.
    const forged = Buffer.from(Buffer.from(q1.next!, "base64url").toString("utf8").replace(/:[^:]+$/, `:${expired[0]}`)).toString("base64url");
    await expect(s.pageCertificates({ profile }, { limit: 4, cursor: forged })).rejects.toMatchObject({ code: "RA_ERR_MALFORMED" });
  });

  it("archiveExpired moves the oldest expired in batches; getCertificate says archived, certificateStatus still answers, listings leave them out", async () => {
    const s = await engine.fresh();
    const e1 = await issue(s, { notBefore: at(-400), notAfter: at(-100) });
    const e2 = await issue(s, { notBefore: at(-400), notAfter: at(-95), owner: "arch" });
    await s.revoke(e2.serial, 1, at(-200));
    const e3 = await issue(s, { notBefore: at(-400), notAfter: at(-90) });
    const kept = await issue(s, { notBefore: at(-400), notAfter: at(-10) });
    const valid = await issue(s);
    expect(await s.insertNotice(e1.serial, "renewal_missed", at(-50))).toBe(true);

    expect(await s.transaction((tx) => tx.archiveExpired(at(-30), at(0), 2))).toEqual({ count: 2, from: e1.notAfter, to: e2.notAfter });
    expect(await s.transaction((tx) => tx.archiveExpired(at(-30), at(0), 2))).toEqual({ count: 1, from: e3.notAfter, to: e3.notAfter });
    expect(await s.transaction((tx) => tx.archiveExpired(at(-30), at(0), 2))).toEqual({ count: 0 });

    expect(await s.getCertificate(e2.serial)).toEqual({ ...e2, der: der(e2.serial), revokedAt: at(-200), revocationReason: 1, archived: true });
    expect((await s.getCertificate(e1.serial.toUpperCase()))?.archived).toBe(true);
    expect((await s.getCertificate(kept.serial))!.archived).toBeUndefined();
    expect(await s.certificateStatus(e2.serial)).toEqual({ caName: "ca-test", stage: "issued", revokedAt: at(-200), revocationReason: 1 });
    expect(await s.certificateStatus(e3.serial)).toEqual({ caName: "ca-test", stage: "issued" });
    expect(await s.certificateStatus(e3.serial.toUpperCase())).toEqual({ caName: "ca-test", stage: "issued" });
    const listed = (await s.findCertificates({ limit: 1000 })).map((c) => c.serial);
    expect(listed.sort()).toEqual([kept.serial, valid.serial].sort());
    expect((await s.pageCertificates({}, { limit: 1000 })).items.map((c) => c.serial).sort()).toEqual([kept.serial, valid.serial].sort());
    expect(await s.revoke(e3.serial, 1, at(0))).toBe(false);
    expect(await s.revokedFor("ca-test")).toEqual([]);
    // Its notices went with it.
    expect(await s.insertNotice(e1.serial, "renewal_missed", at(0))).toBe(true);
    expect(await s.certificateStats({ now: at(0), soon: at(30), weekStarts: [] })).toMatchObject({ valid: 1, revoked: 0, expired: 1 });
  });

  it("issuedAfter walks issued certificates (any status) in serial order", async () => {
    const s = await engine.fresh();
    for (const serial of ["0a04", "0a01", "0a02"]) await issue(s, { serial });
    await s.insertCertificateIntent(certRecord({ serial: "0a03" }));
    await s.revoke("0a02", 1, at(0));
    expect((await s.issuedAfter("", 2)).map((c) => c.serial)).toEqual(["0a01", "0a02"]);
    expect((await s.issuedAfter("0a02", 2)).map((c) => c.serial)).toEqual(["0a04"]);
    expect(await s.issuedAfter("0a04", 2)).toEqual([]);
    expect((await s.issuedAfter("0a01", 5))[0]).toEqual(await s.getCertificate("0a02"));
  });

  it("certificateStats: counts by state, valid by profile and owner with those expiring soon, and by week of expiry", async () => {
    const s = await engine.fresh();
    await issue(s, { profile: "p1", owner: "o1", notAfter: at(3) });
    await issue(s, { profile: "p1", owner: "o1", notAfter: at(7) }); // a week's start belongs to that week
    await issue(s, { profile: "p1", owner: "o1", notAfter: at(10) });
    await issue(s, { profile: "p1", notAfter: at(60) });
    await issue(s, { profile: "p2", owner: "o2", notAfter: at(20) });
    const r1 = await issue(s, { profile: "p1", notAfter: at(15) });
    await s.revoke(r1.serial, 1, at(-1));
    const r2 = await issue(s, { profile: "p2", notAfter: at(-5) });
    await s.revoke(r2.serial, 1, at(-6));
    await issue(s, { profile: "p2", notAfter: at(-5) });
    await s.insertCertificateIntent(certRecord({ profile: "p1", notAfter: at(5) }));
    const stats = await s.certificateStats({ now: at(0), soon: at(30), weekStarts: [at(0), at(7), at(14), at(21)] });
    expect({ ...stats, groups: byKey(stats.groups) }).toEqual({
      valid: 5, revoked: 2, expired: 1, expiringByWeek: [1, 2, 1],
      groups: byKey([
        { profile: "p1", owner: "o1", valid: 3, expiringSoon: 3 },
        { profile: "p1", owner: "", valid: 1, expiringSoon: 0 },
        { profile: "p2", owner: "o2", valid: 1, expiringSoon: 1 },
      ]),
    });
  });

  it("listings without a limit return 100 rows (certificates, requests, audit, outbox, discovery)", async () => {
    const s = await engine.fresh();
    await s.transaction(async (tx) => {
      for (let i = 0; i < 101; i++) {
        await tx.insertCertificateIntent(certRecord());
        await tx.insertRequest(requestRecord());
        const e = await tx.appendAudit({ ts: at(0), type: "t", actor: "a", data: {} });
        await tx.outbox.enqueue("s", e.seq, "{}", at(0));
        await tx.discovery.upsert({ fingerprint: sha256(String(i)), subject: "CN=x", issuer: "CN=i", serial: "01", notBefore: at(-1), notAfter: at(i),
          keyAlgorithm: "EC P-256", signatureAlgorithm: "ecdsa-with-SHA256", sans: [], der: new Uint8Array(2) }, [], at(0));
      }
    });
    expect(await s.findCertificates({})).toHaveLength(100);
    expect(await s.listRequests()).toHaveLength(100);
    expect(await s.queryAudit({})).toHaveLength(100);
    expect(await s.outbox.list({})).toHaveLength(100);
    expect(await s.discovery.list()).toHaveLength(100);
    expect(await s.discovery.count()).toBe(101);
  });

  it("countExpiringWithin counts issued, unrevoked certificates expiring within the days from now", async () => {
    const s = await engine.fresh();
    await issue(s, { notAfter: at(5) });
    await issue(s, { notAfter: at(20) });
    await issue(s, { notBefore: at(-30), notAfter: at(-1) });
    const r = await issue(s, { notAfter: at(3) });
    await s.revoke(r.serial, 1, at(0));
    await s.insertCertificateIntent(certRecord({ notAfter: at(4) }));
    expect(await s.countExpiringWithin(10)).toBe(1);
    expect(await s.countExpiringWithin(30)).toBe(2);
  });
});
