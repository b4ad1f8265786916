// Store conformance, ACME: the nonce key and single-use nonces, accounts, orders, the finalize claim, its settlement
// and abandonment, keyset paging of an account's orders, authorizations and the challenge compare-and-set, authorization reuse, EAB keys. Every engine (test/store/engines.ts).
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { AcmeAccountRecord, AcmeAuthzRecord, AcmeChallengeRecord, AcmeEabKeyRecord, AcmeOrderRecord } from "../../../src/store/acme-types.js";
import type { RequestRecord, Store } from "../../../src/store/types.js";
import { ENGINES } from "../engines.js";
import { at, requestRecord, tag } from "./fixtures.js";

const account = (over: Partial<AcmeAccountRecord> = {}): AcmeAccountRecord => ({
  id: `acct-${tag()}`, endpoint: "acme", thumbprint: `tp-${tag(16)}`, jwk: JSON.stringify({ kty: "EC", crv: "P-256", x: tag(16), y: tag(16) }),
  status: "valid", contact: ["mailto:ops@example.com"], createdAt: at(0), ...over,
});
const challenges = (status: AcmeChallengeRecord["status"] = "pending"): AcmeChallengeRecord[] => [
  { type: "http-01", status }, { type: "dns-01", status: "pending" },
];
const authz = (accountId: string, over: Partial<AcmeAuthzRecord> = {}): AcmeAuthzRecord => ({
  id: `az-${tag()}`, accountId, identifier: { type: "dns", value: `${tag()}.example` }, wildcard: false, status: "pending", expires: at(7),
  token: tag(16), challenges: challenges(), updatedAt: at(-1), ...over,
});
const order = (accountId: string, over: Partial<AcmeOrderRecord> = {}): AcmeOrderRecord => ({
  id: `ord-${tag()}`, accountId, endpoint: "acme", status: "pending", identifiers: [{ type: "dns", value: "a.example" }, { type: "ip", value: "10.0.0.1" }],
  authzIds: [`az-${tag()}`, `az-${tag()}`], profile: "tls-server", expires: at(7), createdAt: at(0), ...over,
});
const eab = (over: Partial<AcmeEabKeyRecord> = {}): AcmeEabKeyRecord => ({
  id: `kid-${tag()}`, hmacKey: randomBytes(32).toString("base64url"), profiles: ["tls-server"], nameSuffixes: [".example"], createdBy: "admin:alice",
  createdAt: at(0), ...over,
});
async function newAccount(s: Store, over: Partial<AcmeAccountRecord> = {}): Promise<AcmeAccountRecord> {
  const a = account(over);
  await s.acme.insertAccount(a);
  return a;
}

describe.each(ENGINES)("conformance: ACME ($name)", (engine) => {
  afterAll(() => engine.close());

  it("nonceKey is one 32-byte key, the same on every call and every instance", async () => {
    const s = await engine.open();
    const k = await s.acme.nonceKey();
    expect(k.length).toBe(32);
    expect((await s.acme.nonceKey()).equals(k)).toBe(true);
    expect((await (await engine.openSecond()).acme.nonceKey()).equals(k)).toBe(true);
  });

  it("claimNonce is true once, across instances; purgeUsedNonces deletes a bounded batch of expired ones", async () => {
    const s = await engine.fresh();
    const id = randomBytes(16);
    expect(await s.acme.claimNonce(5_000, id)).toBe(true);
    expect(await s.acme.claimNonce(5_000, id)).toBe(false);
    expect(await s.acme.claimNonce(5_000, Buffer.from(id))).toBe(false); // the value counts, not the Buffer
    const other = await engine.openSecond();
    const shared = randomBytes(16);
    expect(await other.acme.claimNonce(5_000, shared)).toBe(true);
    expect(await (await engine.open()).acme.claimNonce(5_000, shared)).toBe(false);
    for (const ms of [1_000, 2_000, 3_000, 4_000]) expect(await s.acme.claimNonce(ms, randomBytes(16))).toBe(true);
    expect(await s.acme.countUsedNonces()).toBe(5);
    expect(await s.acme.purgeUsedNonces(3_500, 2)).toBe(2);
    expect(await s.acme.purgeUsedNonces(3_500, 10)).toBe(1);
    expect(await s.acme.purgeUsedNonces(3_500, 10)).toBe(0);
    expect(await s.acme.countUsedNonces()).toBe(2);
    // Still claimed until purged.
    expect(await s.acme.claimNonce(5_000, id)).toBe(false);
  });

  it("accounts round-trip, are found by thumbprint, and update field by field", async () => {
    const s = await engine.open();
    const a = await newAccount(s, { eabKeyId: "kid-1" });
    expect(await s.acme.getAccount(a.id)).toEqual(a);
    expect(await s.acme.accountByThumbprint(a.thumbprint)).toEqual(a);
    expect(await s.acme.getAccount(`acct-${tag()}`)).toBeUndefined();
    expect(await s.acme.accountByThumbprint(`tp-${tag()}`)).toBeUndefined();
    await expect(s.acme.insertAccount(account({ thumbprint: a.thumbprint }))).rejects.toThrow(); // one account per key
    await s.acme.updateAccount(a.id, { contact: [] });
    expect(await s.acme.getAccount(a.id)).toEqual({ ...a, contact: [] });
    const jwk = JSON.stringify({ kty: "OKP", crv: "Ed25519", x: tag(16) });
    await s.acme.updateAccount(a.id, { jwk, thumbprint: "tp-rolled" + tag() });
    const rolled = await s.acme.getAccount(a.id);
    expect(rolled).toMatchObject({ jwk, contact: [], status: "valid" });
    expect(await s.acme.accountByThumbprint(a.thumbprint)).toBeUndefined();
    expect((await s.acme.accountByThumbprint(rolled!.thumbprint))?.id).toBe(a.id);
    await s.acme.updateAccount(a.id, { status: "deactivated" });
    expect(await s.acme.getAccount(a.id)).toMatchObject({ status: "deactivated", jwk });
    const plain = await newAccount(s, { contact: [] });
    expect((await s.acme.getAccount(plain.id))!.eabKeyId).toBeUndefined();
  });

  it("a deactivation, key change or authz update made by another instance is seen by the next request (next event-loop turn)", async () => {
    const s = await engine.open();
    const other = await engine.openSecond();
    const a = await newAccount(s);
    const z = authz(a.id);
    await s.acme.insertAuthz(z);
    expect((await other.acme.getAccount(a.id))?.status).toBe("valid"); // read (and possibly cached) by the other
    expect((await other.acme.getAuthz(z.id))?.status).toBe("pending");
    await s.acme.updateAccount(a.id, { status: "deactivated", thumbprint: `tp-${tag()}` });
    await s.acme.updateAuthz(z.id, { status: "revoked" });
    await new Promise((r) => setImmediate(r));
    expect((await other.acme.getAccount(a.id))?.status).toBe("deactivated");
    expect((await other.acme.getAuthzs([z.id]))[0]?.status).toBe("revoked");
  });

  it("orders round-trip and update; claimOrderForFinalize wins once, from pending or ready only", async () => {
    const s = await engine.open();
    const a = await newAccount(s);
    const o = order(a.id, { notBefore: at(0), notAfter: at(90), replaces: "0abc" });
    await s.acme.insertOrder(o);
    expect(await s.acme.getOrder(o.id)).toEqual(o);
    expect(await s.acme.getOrder(`ord-${tag()}`)).toBeUndefined();
    await s.acme.updateOrder(o.id, { status: "ready" });
    expect(await s.acme.claimOrderForFinalize(o.id, "req-1", at(-1))).toBe(true);
    expect(await s.acme.claimOrderForFinalize(o.id, "req-2")).toBe(false);
    expect(await s.acme.getOrder(o.id)).toEqual({ ...o, status: "processing", requestId: "req-1", finalizeStartedAt: at(-1) });
    await s.acme.updateOrder(o.id, { status: "valid", certSerial: "0def" });
    expect(await s.acme.getOrder(o.id)).toMatchObject({ status: "valid", requestId: "req-1", certSerial: "0def" });
    // Stored "pending" may be ready by its authorizations (derived on read): it can be claimed.
    const p = order(a.id);
    await s.acme.insertOrder(p);
    expect(await s.acme.claimOrderForFinalize(p.id, "req-3")).toBe(true);
    const bad = order(a.id);
    await s.acme.insertOrder(bad);
    const error = { type: "urn:ietf:params:acme:error:rejectedIdentifier", detail: "no", status: 400, subproblems: [{ type: "x", detail: "y", identifier: { type: "dns" as const, value: "a.example" } }] };
    await s.acme.updateOrder(bad.id, { status: "invalid", error });
    expect(await s.acme.claimOrderForFinalize(bad.id, "req-4")).toBe(false);
    expect(await s.acme.getOrder(bad.id)).toEqual({ ...bad, status: "invalid", error });
  });

  it("orderIdsForAccount pages an account's orders by (creation time, id)", async () => {
    const s = await engine.open();
    const a = await newAccount(s);
    const os = [3, 1, 4, 2].map((d) => order(a.id, { createdAt: at(d) }));
    for (const o of os) await s.acme.insertOrder(o);
    await s.acme.insertOrder(order((await newAccount(s)).id));
    const sorted = [...os].sort((x, y) => x.createdAt.localeCompare(y.createdAt)).map((o) => ({ id: o.id, createdAt: o.createdAt }));
    expect(await s.acme.orderIdsForAccount(a.id, undefined, 3)).toEqual(sorted.slice(0, 3));
    expect(await s.acme.orderIdsForAccount(a.id, sorted[2], 3)).toEqual(sorted.slice(3));
    expect(await s.acme.orderIdsForAccount(`acct-${tag()}`, undefined, 3)).toEqual([]);
  });

  it("orderIdsForAccount: a page ending inside a run of equal creation times continues inside it; each order once", async () => {
    const s = await engine.open();
    const a = await newAccount(s);
    // 23 orders in the same millisecond between two others: pages of 4 end inside the run five times.
    const os = [order(a.id, { createdAt: at(1) }), ...Array.from({ length: 23 }, () => order(a.id, { createdAt: at(2) })), order(a.id, { createdAt: at(3) })];
    for (const o of os) await s.acme.insertOrder(o);
    const seen: string[] = [];
    let after: { createdAt: string; id: string } | undefined;
    for (;;) {
      const page = await s.acme.orderIdsForAccount(a.id, after, 4);
      seen.push(...page.map((o) => o.id));
      if (page.length < 4) break;
      after = page[page.length - 1];
    }
    const expected = [...os].sort((x, y) => x.createdAt.localeCompare(y.createdAt) || (x.id < y.id ? -1 : 1)).map((o) => o.id);
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(os.length);
  });

  it("settleOrder ends a processing order only: valid with its certificate, or invalid with the problem", async () => {
    const s = await engine.open();
    const a = await newAccount(s);
    const o = order(a.id, { status: "ready" });
    await s.acme.insertOrder(o);
    expect(await s.acme.settleOrder(o.id, { status: "valid", certSerial: "0a" })).toBe(false); // not claimed yet
    expect(await s.acme.claimOrderForFinalize(o.id, "req-s")).toBe(true);
    expect(await s.acme.settleOrder(o.id, { status: "valid", certSerial: "0a" })).toBe(true);
    const error = { type: "urn:ietf:params:acme:error:badCSR", detail: "no", status: 400 };
    expect(await s.acme.settleOrder(o.id, { status: "invalid", error })).toBe(false);
    expect(await s.acme.getOrder(o.id)).toMatchObject({ status: "valid", certSerial: "0a", error: undefined });
    const p = order(a.id);
    await s.acme.insertOrder(p);
    await s.acme.claimOrderForFinalize(p.id, "req-t");
    expect(await s.acme.settleOrder(p.id, { status: "invalid", error })).toBe(true);
    expect(await s.acme.settleOrder(p.id, { status: "valid", certSerial: "0b" })).toBe(false);
    expect(await s.acme.getOrder(p.id)).toMatchObject({ status: "invalid", error, certSerial: undefined });
  });

  it("abandonFinalize: a processing order claimed before the bound, request missing or approved; never pending or settled", async () => {
    const s = await engine.open();
    const a = await newAccount(s);
    const cutoff = at(-1);
    const error = { type: "urn:ietf:params:acme:error:serverInternal", detail: "interrupted", status: 500 };
    const claimed = async (startedAt: string, req?: Partial<RequestRecord>) => {
      const o = order(a.id);
      await s.acme.insertOrder(o);
      const requestId = `r-${tag()}`;
      if (req) await s.insertRequest(requestRecord({ id: requestId, protocol: "acme", ...req }));
      expect(await s.acme.claimOrderForFinalize(o.id, requestId, startedAt)).toBe(true);
      return { id: o.id, requestId };
    };
    const missing = await claimed(at(-2));
    expect(await s.acme.abandonFinalize(missing.id, cutoff, error, "gone")).toBe(true);
    expect(await s.acme.abandonFinalize(missing.id, cutoff, error, "gone")).toBe(false);
    expect(await s.acme.getOrder(missing.id)).toMatchObject({ status: "invalid", error });
    expect(await s.acme.settleOrder(missing.id, { status: "valid", certSerial: "0c" })).toBe(false); // a late finish loses

    const key = `lk-${tag()}`;
    const approved = await claimed(at(-2), { status: "approved", lookupKey: key });
    expect(await s.acme.abandonFinalize(approved.id, cutoff, error, "gone")).toBe(true);
    expect(await s.getRequest(approved.requestId)).toMatchObject({ status: "failed", reason: "gone", errorCode: "RA_ERR_INTERNAL" });
    expect(await s.findRequestByLookupKey(key)).toBeUndefined();

    const fresh = await claimed(at(0));
    const pending = await claimed(at(-2), { status: "pending" });
    const issued = await claimed(at(-2), { status: "issued", certificateSerial: "0d" });
    const lately = await claimed(at(-3), { status: "pending" });
    expect(await s.decideRequest(lately.requestId, "approved", "admin:alice")).toBe(true); // decided now, after the cutoff
    for (const [name, kept] of Object.entries({ fresh, pending, issued, lately })) {
      expect(await s.acme.abandonFinalize(kept.id, cutoff, error, "gone"), name).toBe(false);
      expect((await s.acme.getOrder(kept.id))?.status).toBe("processing");
    }
    expect((await s.getRequest(pending.requestId))?.status).toBe("pending");
    // Counted from the approval: a bound that ends after it abandons the order.
    expect(await s.acme.abandonFinalize(lately.id, new Date(Date.now() + 60_000).toISOString(), error, "gone")).toBe(true);
    expect((await s.getRequest(lately.requestId))?.status).toBe("failed");
    const settled = await claimed(at(-2));
    await s.acme.settleOrder(settled.id, { status: "valid", certSerial: "0e" });
    expect(await s.acme.abandonFinalize(settled.id, cutoff, error, "gone")).toBe(false);
    expect((await s.acme.getOrder(settled.id))?.status).toBe("valid");
  });

  it("authorizations round-trip; getAuthzs skips unknown ids; updateAuthz moves updatedAt", async () => {
    const s = await engine.open();
    const a = await newAccount(s);
    const rich: AcmeChallengeRecord[] = [{
      type: "device-attest-01", status: "valid", validated: at(0), profile: "device", records: [{ host: "x", port: 443 }],
      attestation: { format: "apple", spki: tag(32), facts: { serial: "X1" }, identity: "attested" },
    }, { type: "http-01", status: "invalid", error: { type: "urn:ietf:params:acme:error:connection", detail: "refused" } }];
    const z1 = authz(a.id, { identifier: { type: "permanent-identifier", value: "dev-1" }, challenges: rich });
    const z2 = authz(a.id, { wildcard: true });
    await s.acme.insertAuthz(z1);
    await s.acme.insertAuthz(z2);
    expect(await s.acme.getAuthz(z1.id)).toEqual(z1);
    expect(await s.acme.getAuthz(z2.id)).toEqual(z2);
    expect(await s.acme.getAuthz(`az-${tag()}`)).toBeUndefined();
    const both = await s.acme.getAuthzs([z2.id, `az-${tag()}`, z1.id]);
    expect(both.map((z) => z.id).sort()).toEqual([z1.id, z2.id].sort());
    expect(await s.acme.getAuthzs([])).toEqual([]);
    await s.acme.updateAuthz(z2.id, { status: "valid", expires: at(30) });
    const u = await s.acme.getAuthz(z2.id);
    expect(u).toMatchObject({ status: "valid", expires: at(30), challenges: z2.challenges, wildcard: true });
    expect(u!.updatedAt).not.toBe(z2.updatedAt);
    await s.acme.updateAuthz(z2.id, { challenges: challenges("valid") });
    expect((await s.acme.getAuthz(z2.id))!.challenges).toEqual(challenges("valid"));
  });

  it("claimChallenge: compare-and-set on (pending, updatedAt), so one of two POSTs wins", async () => {
    const s = await engine.open();
    const a = await newAccount(s);
    const z = authz(a.id);
    await s.acme.insertAuthz(z);
    const processing = challenges("processing");
    expect(await s.acme.claimChallenge(z.id, "http-01", processing, z.updatedAt)).toBe(true);
    expect(await s.acme.claimChallenge(z.id, "http-01", processing, z.updatedAt)).toBe(false);
    const after = await s.acme.getAuthz(z.id);
    expect(after).toMatchObject({ status: "pending", challenges: processing });
    expect(after!.updatedAt).not.toBe(z.updatedAt);
    // The claim is inside a transaction when the result is written at once: both commit together or not at all.
    const y = authz(a.id);
    await s.acme.insertAuthz(y);
    await expect(s.transaction(async (tx) => {
      expect(await tx.acme.claimChallenge(y.id, "dns-01", processing, y.updatedAt)).toBe(true);
      throw new Error("abort");
    })).rejects.toThrow("abort");
    expect(await s.acme.getAuthz(y.id)).toEqual(y);
    await s.acme.updateAuthz(y.id, { status: "invalid" });
    const cur = await s.acme.getAuthz(y.id);
    expect(await s.acme.claimChallenge(y.id, "dns-01", processing, cur!.updatedAt)).toBe(false); // not pending
    expect(await s.acme.claimChallenge(`az-${tag()}`, "dns-01", processing, cur!.updatedAt)).toBe(false);
  });

  it("findReusableAuthz and validAuthzIdentifiers: the account's valid, unexpired authorizations", async () => {
    const s = await engine.open();
    const a = await newAccount(s);
    const host = `${tag()}.example`;
    const id = { type: "dns" as const, value: host };
    await s.acme.insertAuthz(authz(a.id, { identifier: id, status: "valid", expires: at(10) }));
    const best = authz(a.id, { identifier: id, status: "valid", expires: at(20) });
    await s.acme.insertAuthz(best);
    await s.acme.insertAuthz(authz(a.id, { identifier: id, status: "pending", expires: at(30) }));
    await s.acme.insertAuthz(authz(a.id, { identifier: id, status: "invalid", expires: at(30) }));
    const wild = authz(a.id, { identifier: id, wildcard: true, status: "valid", expires: at(40) });
    await s.acme.insertAuthz(wild);
    await s.acme.insertAuthz(authz(a.id, { identifier: { type: "ip", value: "192.0.2.7" }, status: "valid", expires: at(5) }));
    await s.acme.insertAuthz(authz(a.id, { identifier: { type: "dns", value: `old.${host}` }, status: "valid", expires: at(-1) }));
    const other = await newAccount(s);
    await s.acme.insertAuthz(authz(other.id, { identifier: id, status: "valid", expires: at(50) }));

    expect(await s.acme.findReusableAuthz(a.id, id, false, at(5))).toEqual(best);
    expect(await s.acme.findReusableAuthz(a.id, id, false, at(25))).toBeUndefined();
    expect(await s.acme.findReusableAuthz(a.id, id, true, at(25))).toEqual(wild);
    expect(await s.acme.findReusableAuthz(a.id, { type: "ip", value: host }, false, at(0))).toBeUndefined();
    const ids = (await s.acme.validAuthzIdentifiers(a.id, at(0))).map((i) => `${i.type}:${i.value}`).sort();
    expect(ids).toEqual([`dns:${host}`, `dns:*.${host}`, "ip:192.0.2.7"].sort());
    expect((await s.acme.validAuthzIdentifiers(a.id, at(15))).map((i) => `${i.type}:${i.value}`).sort()).toEqual([`dns:${host}`, `dns:*.${host}`].sort());
  });

  it("EAB keys: round-trip, listed by creation, bound to one account once, deleted once", async () => {
    const s = await engine.fresh();
    const k1 = eab({ createdAt: at(2), endpoint: "acme-internal", expiresAt: at(30) });
    const k2 = eab({ createdAt: at(1), nameSuffixes: [] });
    await s.acme.insertEabKey(k1);
    await s.acme.insertEabKey(k2);
    expect(await s.acme.getEabKey(k1.id)).toEqual(k1);
    expect(await s.acme.listEabKeys()).toEqual([k2, k1]);
    const a = await newAccount(s, { eabKeyId: k1.id });
    expect(await s.acme.bindEabKey(k1.id, a.id)).toBe(true);
    expect(await s.acme.bindEabKey(k1.id, `acct-${tag()}`)).toBe(false);
    expect(await s.acme.bindEabKey(k1.id, a.id)).toBe(false);
    expect((await s.acme.getEabKey(k1.id))!.accountId).toBe(a.id);
    expect(await s.acme.bindEabKey(`kid-${tag()}`, a.id)).toBe(false);
    expect(await s.acme.deleteEabKey(k1.id)).toBe(true);
    expect(await s.acme.deleteEabKey(k1.id)).toBe(false);
    expect(await s.acme.getEabKey(k1.id)).toBeUndefined();
    expect(await s.acme.listEabKeys()).toEqual([k2]);
  });
});
