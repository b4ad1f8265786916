// Store conformance, certificates: the issuance cycle, status, revocation, classification and the listings.
// Runs unchanged against every engine (test/store/engines.ts) through the async Store contract only.
import { afterAll, describe, expect, it } from "vitest";
import { MAX_PAGE_SIZE, type CertificateRecord, type Store } from "../../../src/store/types.js";
import { ENGINES } from "../engines.js";
import { at, certRecord, der, issue, tag } from "./fixtures.js";

/** Serials of a listing, in its order. */
const serials = (rs: CertificateRecord[]) => rs.map((r) => r.serial);

describe.each(ENGINES)("conformance: certificates ($name)", (engine) => {
  afterAll(() => engine.close());

  it("an intent round-trips every field, is issued once with its DER, and is found by serial in any case", async () => {
    const s = await engine.open();
    const r = certRecord({ owner: "team-a", application: "shop", environment: "prod", criticality: "high", renewalOf: "0a0b", sans: ["dns:b.example", "ip:10.0.0.1", "dns:a.example"] });
    await s.insertCertificateIntent(r);
    const intent = await s.getCertificate(r.serial);
    expect(intent).toEqual({ ...r, stage: "intent" });
    expect(intent!.der).toBeUndefined();
    expect(intent!.archived).toBeUndefined();
    await s.completeIssuance(r.serial, der(r.serial));
    expect(await s.getCertificate(r.serial)).toEqual({ ...r, stage: "issued", der: der(r.serial) });
    expect((await s.getCertificate(r.serial.toUpperCase()))?.serial).toBe(r.serial);
    // Issued once: a second completion is an error, not a silent overwrite.
    await expect(s.completeIssuance(r.serial, der("other"))).rejects.toThrow();
    expect((await s.getCertificate(r.serial))!.der).toEqual(der(r.serial));
    expect(await s.getCertificate(`7f${tag(9)}`)).toBeUndefined();
    // The serial is the key: a second intent with it is refused.
    await expect(s.insertCertificateIntent(certRecord({ serial: r.serial }))).rejects.toThrow();
  });

  it("unusual values round-trip: no SANs, non-ASCII subject, quotes, the largest revocation reason", async () => {
    const s = await engine.open();
    const r = certRecord({ sans: [], subject: "CN=Jürgen Müller 😀, O=\"Quote\" Ltd.'; DROP", requesterId: "dev:0xBEEF/ä" });
    await s.insertCertificateIntent(r);
    expect(await s.getCertificate(r.serial)).toEqual({ ...r, stage: "intent" });
    await s.completeIssuance(r.serial, new Uint8Array(0x10000).fill(0xab)); // 64 KiB DER
    expect((await s.getCertificate(r.serial))!.der!.length).toBe(0x10000);
    expect(await s.revoke(r.serial, 10, at(0))).toBe(true);
    expect((await s.certificateStatus(r.serial))!.revocationReason).toBe(10);
    expect((await s.findCertificates({ requester: "acme-account:dev:0xBEEF/ä" }))[0]?.serial).toBe(r.serial);
  });

  it("a failed intent keeps its reason; failIssuance leaves an issued certificate alone; a failed one cannot be completed", async () => {
    const s = await engine.open();
    const f = certRecord();
    await s.insertCertificateIntent(f);
    await s.failIssuance(f.serial, "signer unavailable");
    expect(await s.getCertificate(f.serial)).toMatchObject({ stage: "failed", stageDetail: "signer unavailable" });
    await expect(s.completeIssuance(f.serial, der(f.serial))).rejects.toThrow();
    expect((await s.getCertificate(f.serial))!.stage).toBe("failed");
    const i = await issue(s);
    await s.failIssuance(i.serial, "too late");
    const after = await s.getCertificate(i.serial);
    expect(after!.stage).toBe("issued");
    expect(after!.stageDetail).toBeUndefined();
  });

  it("certificateStatus answers the OCSP facts; revoke succeeds once, only for issued certificates", async () => {
    const s = await engine.open();
    const c = await issue(s, { caName: "ca-status" });
    expect(await s.certificateStatus(c.serial)).toEqual({ caName: "ca-status", stage: "issued" });
    expect(await s.certificateStatus(c.serial.toUpperCase())).toEqual({ caName: "ca-status", stage: "issued" }); // as getCertificate
    expect(await s.revoke(c.serial, 4, at(-1))).toBe(true);
    expect(await s.revoke(c.serial, 1, at(0))).toBe(false);
    expect(await s.certificateStatus(c.serial)).toEqual({ caName: "ca-status", stage: "issued", revokedAt: at(-1), revocationReason: 4 });
    expect(await s.getCertificate(c.serial)).toMatchObject({ revokedAt: at(-1), revocationReason: 4 });
    const intent = certRecord();
    await s.insertCertificateIntent(intent);
    expect(await s.certificateStatus(intent.serial)).toEqual({ caName: "ca-test", stage: "intent" });
    expect(await s.revoke(intent.serial, 1, at(0))).toBe(false);
    expect(await s.revoke(`7f${tag(9)}`, 1, at(0))).toBe(false);
    expect(await s.certificateStatus(`7f${tag(9)}`)).toBeUndefined();
  });

  it("releaseHold lifts a certificateHold (reason 6) once and nothing else", async () => {
    const s = await engine.open();
    const held = await issue(s);
    await s.revoke(held.serial, 6, at(-1));
    expect(await s.releaseHold(held.serial)).toBe(true);
    expect(await s.releaseHold(held.serial)).toBe(false);
    expect(await s.certificateStatus(held.serial)).toEqual({ caName: "ca-test", stage: "issued" });
    // Released, it can be revoked again.
    expect(await s.revoke(held.serial, 1, at(0))).toBe(true);
    expect(await s.releaseHold(held.serial)).toBe(false);
    expect((await s.certificateStatus(held.serial))!.revocationReason).toBe(1);
  });

  it("markReplaced records the successor; revokedFor lists a CA's revocations by time", async () => {
    const s = await engine.open();
    const ca = `ca-${tag()}`;
    const [a, b, c] = [await issue(s, { caName: ca }), await issue(s, { caName: ca }), await issue(s, { caName: ca })];
    await s.markReplaced(a.serial, b.serial);
    expect((await s.getCertificate(a.serial))!.replacedBy).toBe(b.serial);
    await s.revoke(c.serial, 1, at(-2));
    await s.revoke(a.serial, 5, at(-3));
    expect(await s.revokedFor(ca)).toEqual([
      { serial: a.serial, revokedAt: at(-3), reason: 5 },
      { serial: c.serial, revokedAt: at(-2), reason: 1 },
    ]);
    expect(await s.revokedFor(`ca-${tag()}`)).toEqual([]);
  });

  it("classify sets the given fields, leaves undefined ones, clears null ones; false for an unknown serial", async () => {
    const s = await engine.open();
    const c = await issue(s, { owner: "o1", application: "app1" });
    expect(await s.classify(c.serial, { environment: "prod", criticality: "critical" })).toBe(true);
    expect(await s.getCertificate(c.serial)).toMatchObject({ owner: "o1", application: "app1", environment: "prod", criticality: "critical" });
    expect(await s.classify(c.serial, { owner: "o2", application: null })).toBe(true);
    const after = await s.getCertificate(c.serial);
    expect(after).toMatchObject({ owner: "o2", environment: "prod", criticality: "critical" });
    expect(after!.application).toBeUndefined();
    expect(await s.classify(c.serial, {})).toBe(true);
    expect(await s.classify(`7f${tag(9)}`, { owner: "x" })).toBe(false);
    expect(await s.classify(`7f${tag(9)}`, {})).toBe(false);
  });

  it("findCertificates: each filter, newest first, limit and offset", async () => {
    const s = await engine.open();
    const profile = `p-${tag()}`;
    const host = `h${tag()}`;
    const valid = await issue(s, { profile, owner: "own-a", environment: "prod", sans: [`dns:www.${host}.example`], subject: "CN=Valid One" });
    const revoked = await issue(s, { profile, owner: "own-b", application: "billing", protocol: "est" });
    await s.revoke(revoked.serial, 1, at(-1));
    const expired = await issue(s, { profile, notBefore: at(-100), notAfter: at(-1), criticality: "low", caName: "ca-old" });
    const intent = certRecord({ profile, requesterKind: "est-client", requesterId: "dev:42" });
    await s.insertCertificateIntent(intent);
    const failed = certRecord({ profile, notAfter: at(5) });
    await s.insertCertificateIntent(failed);
    await s.failIssuance(failed.serial, "x");
    const find = async (q: Parameters<Store["findCertificates"]>[0]) => serials(await s.findCertificates({ profile, ...q }));

    expect(await find({})).toEqual([failed.serial, intent.serial, expired.serial, revoked.serial, valid.serial]);
    expect(await find({ status: "valid" })).toEqual([valid.serial]);
    expect(await find({ status: "revoked" })).toEqual([revoked.serial]);
    expect(await find({ status: "expired" })).toEqual([expired.serial]);
    expect(await find({ status: "intent" })).toEqual([intent.serial]);
    expect(await find({ status: "failed" })).toEqual([failed.serial]);
    expect(await find({ protocol: "est" })).toEqual([revoked.serial]);
    expect(await find({ caName: "ca-old" })).toEqual([expired.serial]);
    expect(await find({ owner: "own-a" })).toEqual([valid.serial]);
    expect(await find({ application: "billing" })).toEqual([revoked.serial]);
    expect(await find({ environment: "prod" })).toEqual([valid.serial]);
    expect(await find({ criticality: "low" })).toEqual([expired.serial]);
    expect(await find({ requester: "est-client:dev:42" })).toEqual([intent.serial]);
    // Name: a case-insensitive substring of the subject or of any SAN.
    expect(await find({ name: host.toUpperCase() })).toEqual([valid.serial]);
    expect(await find({ name: "valid one" })).toEqual([valid.serial]);
    // Literal text: no pattern characters.
    expect(await find({ name: "%" })).toEqual([]);
    expect(await find({ name: "_" })).toEqual([]);
    expect(await find({ expiringBefore: at(10) })).toEqual([failed.serial, expired.serial]);
    expect(await find({ status: "valid", owner: "own-b" })).toEqual([]);
    expect(await find({ limit: 2 })).toEqual([failed.serial, intent.serial]);
    expect(await find({ limit: 2, offset: 2 })).toEqual([expired.serial, revoked.serial]);
    expect(await find({ offset: 4 })).toEqual([valid.serial]);
    // The records are whole: the listing maps rows as getCertificate does.
    expect((await s.findCertificates({ profile, status: "valid" }))[0]).toEqual(await s.getCertificate(valid.serial));
  });

  it("pageCertificates: a keyset walk sees each certificate that existed when it began exactly once, while others are issued", async () => {
    const s = await engine.open();
    const profile = `walk-${tag()}`;
    const before: string[] = [];
    for (let i = 0; i < 23; i++) before.push((await issue(s, { profile })).serial);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const p = await s.pageCertificates({ profile }, { limit: 5, cursor });
      seen.push(...serials(p.items));
      cursor = p.next;
      pages++;
      // Issued meanwhile: newer than the walk's start, never repeats or displaces what the walk has yet to see.
      await issue(s, { profile });
      const other = certRecord({ profile });
      await s.insertCertificateIntent(other);
    } while (cursor && pages < 50);
    expect(seen.filter((x) => before.includes(x))).toEqual([...before].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeLessThanOrEqual(6);
    // Filters apply to the walk; the last page has no `next`.
    const valid = await s.pageCertificates({ profile, status: "intent" }, { limit: MAX_PAGE_SIZE });
    expect(valid.items.every((c) => c.stage === "intent")).toBe(true);
    expect(valid.items.length).toBeGreaterThan(0);
    expect(valid.next).toBeUndefined();
  });

  it("pageCertificates refuses a malformed cursor and a page size outside 1..1000", async () => {
    const s = await engine.open();
    await expect(s.pageCertificates({}, { limit: 5, cursor: "not-a-cursor" })).rejects.toMatchObject({ code: "RA_ERR_MALFORMED" });
    await expect(s.pageCertificates({}, { limit: 5, cursor: Buffer.from("c:1:nonexistent").toString("base64url") })).rejects.toMatchObject({ code: "RA_ERR_MALFORMED" });
    await expect(s.pageCertificates({}, { limit: 0 })).rejects.toThrow();
    await expect(s.pageCertificates({}, { limit: MAX_PAGE_SIZE + 1 })).rejects.toThrow();
  });
});
