// Store conformance, the event outbox (claim order, due times, lapsed claims, delivery outcomes, dead letters) and
// discovered certificates (merge, filters). Every engine (test/store/engines.ts).
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { DiscoverySighting } from "../../../src/store/discovery-types.js";
import { ENGINES } from "../engines.js";
import { at, sha256, tag } from "./fixtures.js";

const sighting = (over: Partial<DiscoverySighting> = {}): DiscoverySighting => ({
  fingerprint: sha256(tag()), subject: "CN=web.example", issuer: "CN=Example Issuing CA, O=Example", serial: tag(8), notBefore: at(-30), notAfter: at(60),
  keyAlgorithm: "EC P-256", keySize: 256, signatureAlgorithm: "ecdsa-with-SHA256", sans: ["dns:web.example"], der: new Uint8Array(randomBytes(120)), ...over,
});

describe.each(ENGINES)("conformance: outbox ($name)", (engine) => {
  afterAll(() => engine.close());

  it("claimNext takes a sink's rows in audit order, one claim at a time, only when due", async () => {
    const s = await engine.open();
    const sink = `sink-${tag()}`;
    const late = await s.outbox.enqueue(sink, 20, '{"n":20}', at(0));
    const early = await s.outbox.enqueue(sink, 10, '{"n":10}', at(0));
    await s.outbox.enqueue(`other-${tag()}`, 5, "{}", at(0));
    expect(early).not.toBe(late);
    expect(await s.outbox.get(early)).toEqual({ id: early, sink, auditSeq: 10, payload: '{"n":10}', status: "pending", attempts: 0, nextAttemptAt: at(0), createdAt: at(0) });
    expect(await s.outbox.claimNext(sink, at(-1), at(1))).toBeUndefined(); // not due yet
    const c = await s.outbox.claimNext(sink, at(0), at(1));
    expect(c).toMatchObject({ id: early, status: "sending", nextAttemptAt: at(1), attempts: 0 });
    // The head is being sent: later rows wait (a sink sees events in order), and the claim is not handed out twice.
    expect(await s.outbox.claimNext(sink, at(0.5), at(1.5))).toBeUndefined();
    expect(await s.outbox.markDelivered(early, at(0.6))).toBe(true);
    expect(await s.outbox.markDelivered(early, at(0.6))).toBe(false);
    expect(await s.outbox.get(early)).toMatchObject({ status: "delivered", attempts: 1, deliveredAt: at(0.6) });
    expect((await s.outbox.claimNext(sink, at(0.7), at(1.7)))?.id).toBe(late);
  });

  it("a lapsed claim is taken over; reschedule makes the row due later and holds back the rest; markDead and redeliverDead", async () => {
    const s = await engine.open();
    const sink = `sink-${tag()}`;
    const a = await s.outbox.enqueue(sink, 1, "{}", at(0));
    const b = await s.outbox.enqueue(sink, 2, "{}", at(0));
    expect((await s.outbox.claimNext(sink, at(0), at(1)))?.id).toBe(a);
    expect((await s.outbox.claimNext(sink, at(1), at(2)))?.id).toBe(a); // its dispatcher died: lease lapsed
    expect(await s.outbox.reschedule(a, at(5), "HTTP 503")).toBe(true);
    expect(await s.outbox.reschedule(a, at(5), "again")).toBe(false); // not being sent
    expect(await s.outbox.get(a)).toMatchObject({ status: "pending", attempts: 1, nextAttemptAt: at(5), lastError: "HTTP 503" });
    expect(await s.outbox.claimNext(sink, at(3), at(4))).toBeUndefined(); // head not due: b waits behind it
    expect((await s.outbox.claimNext(sink, at(5), at(6)))?.id).toBe(a);
    expect(await s.outbox.release(a, at(5))).toBe(true); // shutdown: back, no attempt counted
    expect(await s.outbox.get(a)).toMatchObject({ status: "pending", attempts: 1, nextAttemptAt: at(5) });
    expect((await s.outbox.claimNext(sink, at(5), at(6)))?.id).toBe(a);
    expect(await s.outbox.markDead(a, "HTTP 410")).toBe(true);
    expect(await s.outbox.markDead(a, "HTTP 410")).toBe(false);
    expect(await s.outbox.get(a)).toMatchObject({ status: "dead", attempts: 2, lastError: "HTTP 410" });
    // A dead row no longer holds the sink back.
    expect((await s.outbox.claimNext(sink, at(5), at(6)))?.id).toBe(b);
    expect(await s.outbox.markDelivered(b, at(5.5))).toBe(true);
    expect((await s.outbox.get(b))!.lastError).toBeUndefined();
    expect(await s.outbox.redeliverDead([sink, `none-${tag()}`], at(7))).toBe(1);
    expect(await s.outbox.redeliverDead([sink], at(7))).toBe(0);
    expect(await s.outbox.get(a)).toMatchObject({ status: "pending", attempts: 0, nextAttemptAt: at(7) });
    expect(await s.outbox.claimNext(sink, at(6), at(8))).toBeUndefined();
    expect((await s.outbox.claimNext(sink, at(7), at(8)))?.id).toBe(a);
    expect(await s.outbox.get(123_456_789)).toBeUndefined();
  });

  it("list filters and pages by id; counts group by sink and status", async () => {
    const s = await engine.fresh();
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await s.outbox.enqueue(i % 2 ? "s1" : "s2", i + 1, `{"i":${i}}`, at(0)));
    await s.outbox.claimNext("s1", at(0), at(1));
    await s.outbox.markDelivered(ids[1], at(0));
    await s.outbox.claimNext("s2", at(0), at(1));
    await s.outbox.markDead(ids[0], "gone");
    expect((await s.outbox.list({})).map((r) => r.id)).toEqual(ids);
    expect((await s.outbox.list({ sink: "s2" })).map((r) => r.id)).toEqual([ids[0], ids[2], ids[4]]);
    expect((await s.outbox.list({ status: "pending" })).map((r) => r.id)).toEqual([ids[2], ids[3], ids[4]]);
    expect((await s.outbox.list({ sink: "s2", status: "pending", afterId: ids[2] })).map((r) => r.id)).toEqual([ids[4]]);
    expect((await s.outbox.list({ limit: 2 })).map((r) => r.id)).toEqual(ids.slice(0, 2));
    expect((await s.outbox.list({ afterId: ids[1], limit: 2 })).map((r) => r.id)).toEqual(ids.slice(2, 4));
    expect(await s.outbox.counts()).toEqual([
      { sink: "s1", status: "delivered", count: 1 }, { sink: "s1", status: "pending", count: 1 },
      { sink: "s2", status: "dead", count: 1 }, { sink: "s2", status: "pending", count: 2 },
    ]);
  });
});

describe.each(ENGINES)("conformance: discovery ($name)", (engine) => {
  afterAll(() => engine.close());

  it("upsert inserts, then merges: locations united, facts refreshed, first seen kept, managed serial kept", async () => {
    const s = await engine.fresh();
    const x = sighting({ managedSerial: "0abc" });
    const first = await s.discovery.upsert(x, ["tls://web.example:443", "file:/etc/ssl/web.pem"], at(0));
    expect(first).toEqual({ ...x, locations: ["file:/etc/ssl/web.pem", "tls://web.example:443"], firstSeen: at(0), lastSeen: at(0) });
    expect(await s.discovery.get(x.fingerprint.toUpperCase())).toEqual(first);
    const again = await s.discovery.upsert({ ...x, subject: "CN=web2.example", managedSerial: undefined }, ["tls://web.example:443", "tls://10.0.0.5:8443"], at(2));
    expect(again).toEqual({
      ...x, subject: "CN=web2.example", managedSerial: "0abc", firstSeen: at(0), lastSeen: at(2),
      locations: ["file:/etc/ssl/web.pem", "tls://10.0.0.5:8443", "tls://web.example:443"],
    });
    expect(await s.discovery.get(x.fingerprint)).toEqual(again);
    expect(await s.discovery.get(sha256("none"))).toBeUndefined();
    expect(await s.discovery.count()).toBe(1);
    const bare = sighting({ keySize: undefined });
    expect((await s.discovery.upsert(bare, [], at(1))).keySize).toBeUndefined();
    // Seen again with no location (and twice the same one): the list stays a list, without duplicates.
    expect((await s.discovery.upsert(bare, [], at(2))).locations).toEqual([]);
    expect((await s.discovery.upsert(bare, ["file:/b", "file:/B", "file:/b"], at(3))).locations).toEqual(["file:/B", "file:/b"]);
    expect((await s.discovery.upsert(bare, [], at(4))).locations).toEqual(["file:/B", "file:/b"]);
  });

  it("list (soonest expiry first) and count by expiry, weak algorithms and issuer", async () => {
    const s = await engine.fresh();
    const ok = sighting({ notAfter: at(90) });
    const rsa = sighting({ notAfter: at(10), keyAlgorithm: "RSA 1024", keySize: 1024, signatureAlgorithm: "sha256WithRSAEncryption", issuer: "CN=Legacy Root" });
    const sha1 = sighting({ notAfter: at(-5), keyAlgorithm: "RSA 2048", keySize: 2048, signatureAlgorithm: "sha1WithRSAEncryption" });
    const ec = sighting({ notAfter: at(30), keyAlgorithm: "EC P-192", keySize: 192, issuer: "CN=legacy sub" });
    for (const x of [ok, rsa, sha1, ec]) await s.discovery.upsert(x, ["tls://h:443"], at(0));
    const fps = (l: Array<{ fingerprint: string }>) => l.map((d) => d.fingerprint);
    expect(fps(await s.discovery.list())).toEqual(fps([sha1, rsa, ec, ok]));
    expect(fps(await s.discovery.list({ expiringBefore: at(30) }))).toEqual(fps([sha1, rsa]));
    expect(fps(await s.discovery.list({ weak: true }))).toEqual(fps([sha1, rsa, ec]));
    expect(fps(await s.discovery.list({ issuer: "LEGACY" }))).toEqual(fps([rsa, ec]));
    expect(await s.discovery.list({ issuer: "%" })).toEqual([]); // literal text, no pattern
    expect(fps(await s.discovery.list({ weak: true, issuer: "legacy", expiringBefore: at(20) }))).toEqual(fps([rsa]));
    expect(fps(await s.discovery.list({ limit: 2, offset: 1 }))).toEqual(fps([rsa, ec]));
    expect(await s.discovery.count()).toBe(4);
    expect(await s.discovery.count({ weak: true })).toBe(3);
    expect(await s.discovery.count({ issuer: "legacy", expiringBefore: at(20) })).toBe(1);
  });
});
