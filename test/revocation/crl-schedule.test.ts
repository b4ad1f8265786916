import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import type { Express } from "express";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificateList } from "@peculiar/asn1-x509";
import { serialHex } from "../../src/ca/serial.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { openGateway } from "../../src/gateway.js";
import pino from "pino";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { seedCertificates } from "./crl-seed.js";

/** Revocation answers before any CRL build; builds are coalesced, one at a time per CA, and driven by a marker in the store. */
let t: TestGateway;
let app: Express;
let httpApp: Express;
const CA = "dev-issuing";
const auth = () => ({ Authorization: `Bearer ${t.token}` });
const db = () => (t.gw.store as SqliteStore).raw;
const issued = (n: number) => seedCertificates(db(), CA, n, { revoked: false });
const crlSerials = (der: Uint8Array) => new Set((AsnConvert.parse(der, CertificateList).tbsCertList.revokedCertificates ?? []).map((e) => serialHex(e.userCertificate)));
const latest = async () => (await t.gw.store.crl.latest(CA))!;

beforeAll(async () => {
  t = await testGateway({ crl: { rebuildDelaySeconds: 1 } });
  const apps = await appsFor(t.gw);
  app = apps.https;
  httpApp = apps.http;
  await t.gw.crls.publish(t.gw.cas.get(CA));
});
afterAll(async () => t?.gw.close());

describe("CRL rebuild scheduling", () => {
  it("the admin API revocation returns before any CRL build; the serial is in the served CRL after the delay", async () => {
    const [serial] = issued(1);
    const before = { ...t.gw.crls.stats };
    const res = await request(app).post(`/admin/api/v1/certificates/${serial}/revoke`).set(auth()).send({ reason: "keyCompromise" });
    expect(res.status).toBe(200);
    expect(t.gw.crls.stats.started).toBe(before.started); // nothing built on the request path
    expect((await t.gw.store.crl.state(CA)).dirtySince).toBeDefined();
    const served = await request(httpApp).get(`/crl/${CA}.crl`).buffer(true).parse((r, cb) => { const c: Buffer[] = []; r.on("data", (d: Buffer) => c.push(d)); r.on("end", () => cb(null, Buffer.concat(c))); });
    expect(crlSerials(served.body as Buffer).has(serial)).toBe(false); // the stored CRL, not a build per request
    expect(t.gw.crls.stats.started).toBe(before.started);
    await t.gw.crls.settled();
    expect(t.gw.crls.stats.completed).toBe(before.completed + 1);
    expect(crlSerials((await latest()).der).has(serial)).toBe(true);
    expect((await t.gw.store.crl.state(CA)).dirtySince).toBeUndefined();
  });

  it("a burst of revocations leads to one rebuild that lists them all", async () => {
    const serials = issued(25);
    const before = t.gw.crls.stats.started;
    await Promise.all(serials.map((s, i) => t.gw.revocation.revoke(s, i % 2 ? "superseded" : undefined, "admin:test")));
    await t.gw.crls.settled();
    expect(t.gw.crls.stats.started).toBe(before + 1);
    const listed = crlSerials((await latest()).der);
    for (const s of serials) expect(listed.has(s)).toBe(true);
  });

  it("never two builds of a CA in flight: concurrent publishes queue, stale reads share one build", async () => {
    const ca = t.gw.cas.get(CA);
    const before = t.gw.crls.stats.started;
    await Promise.all([t.gw.crls.publish(ca), t.gw.crls.publish(ca), t.gw.crls.publish(ca)]);
    expect(t.gw.crls.stats.started).toBe(before + 3);
    expect(t.gw.crls.stats.maxInFlight).toBe(1);
    const late = new Date(Date.now() + 20 * 3_600_000); // past half of the 24 h lifetime
    const n0 = t.gw.crls.stats.started;
    const got = await Promise.all(Array.from({ length: 5 }, () => t.gw.crls.current(ca, late)));
    expect(t.gw.crls.stats.started).toBe(n0 + 1);
    expect(new Set(got.map((c) => c.number)).size).toBe(1);
    expect(t.gw.crls.stats.maxInFlight).toBe(1);
  });

  it("a revocation during a build leaves the CA dirty and is covered by the next build", async () => {
    const [late] = issued(1);
    const building = t.gw.crls.publish(t.gw.cas.get(CA));
    await new Promise((r) => setImmediate(r));
    await t.gw.revocation.revoke(late, "keyCompromise", "admin:test");
    const first = await building;
    expect((await t.gw.store.crl.state(CA)).dirtySince).toBeDefined();
    await t.gw.crls.settled();
    expect((await latest()).number).toBeGreaterThan(first.number);
    expect(crlSerials((await latest()).der).has(late)).toBe(true);
    expect(t.gw.crls.stats.maxInFlight).toBe(1);
  });

  it("a marker left by another process (the CLI) is picked up by the server's poll", async () => {
    const [serial] = issued(1);
    const other = await openGateway(t.config, pino({ level: "silent" }));
    await other.revocation.revoke(serial, "cessationOfOperation", "cli:test");
    await other.close(); // exits before its delay: nothing built there
    expect((await t.gw.store.crl.state(CA)).dirtySince).toBeDefined();
    expect(crlSerials((await latest()).der).has(serial)).toBe(false);
    t.gw.crls.start();
    await t.gw.crls.settled();
    expect(crlSerials((await latest()).der).has(serial)).toBe(true);
  });

  it("revoked rows are read off the covering index; only the last few CRLs are kept", () => {
    const plan = db().prepare(`EXPLAIN QUERY PLAN SELECT serial, revoked_at, revocation_reason FROM certificates INDEXED BY certificates_crl
      WHERE ca_name = ? AND revoked_at IS NOT NULL AND (revoked_at, serial) > (?, ?) ORDER BY revoked_at, serial LIMIT ?`).all(CA, "", "", 10) as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join("\n")).toMatch(/SEARCH certificates USING COVERING INDEX certificates_crl \(ca_name=\? AND \(revoked_at,serial\)>\(\?,\?\)\)/);
    const n = (db().prepare("SELECT count(*) AS n FROM crls WHERE ca_name = ?").get(CA) as { n: number }).n;
    expect(n).toBeLessThanOrEqual(3);
  });
});
