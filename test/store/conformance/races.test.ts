// Store conformance, one-time things under concurrency: the same claim made at once from two instances (two
// connections or pools on one database) is won exactly once, merges lose nothing, caps hold, the audit chain stays
// unbroken. Every engine (test/store/engines.ts).
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/types.js";
import { ENGINES } from "../engines.js";
import { at, auditChain, certRecord, issue, requestRecord, sha256, tag } from "./fixtures.js";

const N = 12;
/** Runs `f` N times at once, alternating between the two instances; returns the results in call order. */
const race = <T>(a: Store, b: Store, f: (s: Store, i: number) => Promise<T>) => Promise.all(Array.from({ length: N }, (_, i) => f(i % 2 ? b : a, i)));
const wins = (rs: unknown[]) => rs.filter((r) => r === true || (r !== false && r !== undefined)).length;

describe.each(ENGINES)("conformance: races between two instances ($name)", (engine) => {
  afterAll(() => engine.close());
  const pair = async () => [await engine.open(), await engine.openSecond()] as const;

  it("the nonce key made by two instances starting at once is one key", async () => {
    const [a, b] = await engine.freshPair();
    const keys = await race(a, b, (s) => s.acme.nonceKey());
    expect(new Set(keys.map((k) => k.toString("hex"))).size).toBe(1);
  });

  it("nonce, challenge, secret, notice: each claimed exactly once", async () => {
    const [a, b] = await pair();
    const nonce = randomBytes(16);
    expect(wins(await race(a, b, (s) => s.acme.claimNonce(9_000_000_000_000, nonce)))).toBe(1);
    const h = sha256(tag());
    expect(wins(await race(a, b, (s) => s.markChallengeUsed(h, "scep", at(0))))).toBe(1);
    const id = `s-${tag()}`;
    await a.insertSecret({ id, profile: "p", protocols: ["est"], secretHash: sha256(id), createdAt: at(0), expiresAt: at(1) });
    expect(wins(await race(a, b, (s) => s.redeemSecret(id, at(0))))).toBe(1);
    const c = await issue(a);
    expect(wins(await race(a, b, (s) => s.insertNotice(c.serial, "renewal_due", at(0))))).toBe(1);
  });

  it("revoke, decideRequest, issuance completion: one winner, and the stored state is the winner's", async () => {
    const [a, b] = await pair();
    const c = await issue(a);
    const revoked = await race(a, b, (s, i) => s.revoke(c.serial, i + 1, at(i)));
    expect(wins(revoked)).toBe(1);
    const w = revoked.indexOf(true);
    expect(await b.certificateStatus(c.serial)).toMatchObject({ revokedAt: at(w), revocationReason: w + 1 });
    const r = requestRecord();
    await a.insertRequest(r);
    const decided = await race(a, b, (s, i) => s.decideRequest(r.id, i % 3 ? "approved" : "rejected", `admin-${i}`));
    expect(wins(decided)).toBe(1);
    const d = decided.indexOf(true);
    expect(await a.getRequest(r.id)).toMatchObject({ status: d % 3 ? "approved" : "rejected", decidedBy: `admin-${d}` });
    const intent = certRecord();
    await a.insertCertificateIntent(intent);
    const done = await Promise.allSettled(Array.from({ length: N }, (_, i) => (i % 2 ? b : a).completeIssuance(intent.serial, new Uint8Array([i]))));
    expect(done.filter((x) => x.status === "fulfilled")).toHaveLength(1);
  });

  it("ACME: finalize claim, abandonment, challenge claim and EAB binding each won once", async () => {
    const [a, b] = await pair();
    const acct = { id: `acct-${tag()}`, endpoint: "acme", thumbprint: tag(16), jwk: "{}", status: "valid" as const, contact: [], createdAt: at(0) };
    await a.acme.insertAccount(acct);
    const orderId = `ord-${tag()}`;
    await a.acme.insertOrder({ id: orderId, accountId: acct.id, endpoint: "acme", status: "ready", identifiers: [], authzIds: [], profile: "p", expires: at(1), createdAt: at(0) });
    const fin = await race(a, b, (s, i) => s.acme.claimOrderForFinalize(orderId, `req-${i}`));
    expect(wins(fin)).toBe(1);
    expect((await b.acme.getOrder(orderId))?.requestId).toBe(`req-${fin.indexOf(true)}`);
    const az = { id: `az-${tag()}`, accountId: acct.id, identifier: { type: "dns" as const, value: "x.example" }, wildcard: false, status: "pending" as const,
      expires: at(1), token: tag(), challenges: [{ type: "http-01" as const, status: "pending" as const }], updatedAt: at(-1) };
    await a.acme.insertAuthz(az);
    expect(wins(await race(a, b, (s) => s.acme.claimChallenge(az.id, "http-01", [{ type: "http-01", status: "processing" }], az.updatedAt)))).toBe(1);
    // A stalled finalization abandoned by every instance reading it at once: one abandons, and a late finish loses.
    const stalled = `ord-${tag()}`;
    const stalledReq = requestRecord({ protocol: "acme", status: "approved" });
    await a.insertRequest(stalledReq);
    await a.acme.insertOrder({ id: stalled, accountId: acct.id, endpoint: "acme", status: "ready", identifiers: [], authzIds: [], profile: "p", expires: at(1), createdAt: at(0) });
    await a.acme.claimOrderForFinalize(stalled, stalledReq.id, at(-1));
    const error = { type: "urn:ietf:params:acme:error:serverInternal", detail: "interrupted", status: 500 };
    const abandoned = await race(a, b, (s) => s.acme.abandonFinalize(stalled, at(0), error, "interrupted"));
    expect(wins(abandoned)).toBe(1);
    expect(await race(a, b, (s) => s.acme.settleOrder(stalled, { status: "valid", certSerial: "0f" }))).not.toContain(true);
    expect(await b.acme.getOrder(stalled)).toMatchObject({ status: "invalid", error });
    expect((await b.getRequest(stalledReq.id))?.status).toBe("failed");
    const kid = `kid-${tag()}`;
    await a.acme.insertEabKey({ id: kid, hmacKey: tag(32), profiles: [], nameSuffixes: [], createdBy: "t", createdAt: at(0) });
    const bound = await race(a, b, (s, i) => s.acme.bindEabKey(kid, `acct-${i}`));
    expect(wins(bound)).toBe(1);
    expect((await a.acme.getEabKey(kid))?.accountId).toBe(`acct-${bound.indexOf(true)}`);
  });

  it("CMP: a transactionID is claimed, opened and finished once; expired ones are settled by one instance each", async () => {
    const [a, b] = await pair();
    const id = `tx-${tag()}`;
    expect(wins(await race(a, b, (s) => s.cmp.claim(id, at(0), at(1))))).toBe(1);
    const t = { id, label: "x", lastNonce: new Uint8Array(randomBytes(16)), protection: { kind: "mac" as const, kid: "k" }, state: "waitingConfirm" as const,
      certReqId: 0n, bodyType: "ip" as const, certDer: new Uint8Array(8), serial: "0a", expiresAt: at(-1) };
    expect(wins(await race(a, b, (s) => s.cmp.open(t, at(2))))).toBe(1);
    const expired: string[] = [];
    for (let i = 0; i < 6; i++) {
      const x = { ...t, id: `tx-${tag()}` };
      await a.cmp.claim(x.id, at(-2), at(2));
      await a.cmp.open(x, at(2));
      expired.push(x.id);
    }
    const got = (await race(a, b, (s) => s.cmp.claimExpired(at(0), at(0.1), 2))).flat().map((x) => x.id);
    expect(new Set(got).size).toBe(got.length); // never handed to two
    expect(got.sort()).toEqual([...expired, id].sort());
    expect(wins(await race(a, b, (s) => s.cmp.settled(id)))).toBe(1);
  });

  it("outbox, job lease, CRL build lease: one claimant at a time", async () => {
    const [a, b] = await pair();
    const sink = `sink-${tag()}`;
    for (let i = 0; i < 3; i++) await a.outbox.enqueue(sink, i, "{}", at(0));
    const claimed = (await race(a, b, (s) => s.outbox.claimNext(sink, at(0), at(1)))).filter((x) => x !== undefined);
    expect(claimed).toHaveLength(1); // the head row, once; the rest wait behind it
    const job = `job-${tag()}`;
    const held = await race(a, b, (s, i) => s.leases.acquire(job, `owner-${i}`, 60_000));
    expect(wins(held)).toBe(1);
    expect((await b.leases.holder(job))?.owner).toBe(`owner-${held.indexOf(true)}`);
    const ca = `ca-${tag()}`;
    expect(wins(await race(a, b, (s, i) => s.crl.claim(ca, `o-${i}`, at(0), at(1))))).toBe(1);
  });

  it("discovery merges concurrent sightings of one certificate without losing a location; the session cap holds", async () => {
    const [a, b] = await pair();
    const fp = sha256(tag());
    const base = { fingerprint: fp, subject: "CN=x", issuer: "CN=ca", serial: "01", notBefore: at(-1), notAfter: at(1), keyAlgorithm: "EC P-256",
      keySize: 256, signatureAlgorithm: "ecdsa-with-SHA256", sans: [], der: new Uint8Array(4) };
    await race(a, b, (s, i) => s.discovery.upsert(base, [`tls://h${String(i).padStart(2, "0")}:443`], at(i)));
    const merged = await a.discovery.get(fp);
    expect(merged!.locations).toEqual(Array.from({ length: N }, (_, i) => `tls://h${String(i).padStart(2, "0")}:443`));
    const [x, y] = await engine.freshPair();
    await race(x, y, (s, i) => s.sessions.create({ idHash: sha256(tag()), adminId: "a", adminName: "a", createdAt: at(i / 100), lastSeen: at(i / 100), expiresAt: at(1) },
      { now: at(0), idleBefore: at(-1) }, 4, 10));
    expect(await x.sessions.count()).toBeLessThanOrEqual(4);
  });

  // One instance: two SqliteStores in ONE process deadlock on overlapping async transactions (the second BEGIN
  // IMMEDIATE blocks the thread in SQLite's busy handler while the first awaits); across processes they queue.
  it("concurrent transactions appending audit events keep one unbroken chain", async () => {
    const a = await engine.fresh();
    await race(a, a, (s, i) => s.transaction(async (tx) => {
      const r = requestRecord();
      await tx.insertRequest(r);
      await tx.appendAudit({ ts: at(0), type: "request.created", actor: `w${i}`, target: r.id, data: { i } });
      await tx.appendAudit({ ts: at(0), type: "request.noted", actor: `w${i}`, target: r.id, data: { i } });
    }));
    const events = await auditChain(a);
    expect(events).toHaveLength(2 * N);
    // Each transaction's two events are adjacent: a transaction holds the chain's head until it commits.
    for (let i = 0; i < events.length; i += 2) expect(events[i + 1].target).toBe(events[i].target);
  });
});
