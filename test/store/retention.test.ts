import Database from "better-sqlite3";
import type { Express } from "express";
import request from "supertest";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Retention } from "../../src/lifecycle/retention.js";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { namesKey } from "../../src/store/names.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { tempDir } from "../helpers/openssl.js";
import { seedCertificates } from "./seed.js";

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const serial = (prefix: string, i: number) => `${prefix}${i.toString(16).padStart(12, "0")}`;

let t: TestGateway;
let app: Express;
const db = () => (t.gw.store as SqliteStore).raw;
const now = Date.now();

beforeAll(async () => {
  t = await testGateway({ retention: { archiveExpiredAfterDays: 90, intervalMinutes: 0, batchSize: 10 } });
  app = (await appsFor(t.gw)).https;
  const seed = (prefix: string, count: number, notAfter: number, revoked = false) => seedCertificates(db(), {
    count, serialPrefix: prefix,
    row: (i) => ({ sans: [`dns:${prefix}-${i}.example.com`], notBefore: iso(notAfter - 365 * DAY), notAfter: iso(notAfter - i * 1000),
      revokedAt: revoked ? iso(notAfter - 200 * DAY) : undefined, revocationReason: revoked ? 1 : undefined }),
  });
  seed("aa", 23, now - 120 * DAY); // expired long ago: archived
  seed("ab", 2, now - 100 * DAY, true); // revoked, expired long ago: archived
  seed("ba", 5, now - 30 * DAY); // expired recently: kept
  seed("bb", 3, now - 30 * DAY, true); // revoked, expired recently: kept (within the period)
  seed("bc", 4, now + 30 * DAY, true); // revoked, unexpired: kept (CRLs and OCSP still speak of it)
  seed("bd", 6, now + 300 * DAY); // valid: kept
  db().prepare("INSERT INTO lifecycle_notices (serial, kind, at) VALUES (?, 'renewal_missed', ?)").run(serial("aa", 0), iso(now));
});
afterAll(async () => t?.gw.close());

describe("retention", () => {
  it("moves only certificates expired longer than the period, in batches of at most batchSize, one audit event each", async () => {
    const retention = new Retention(t.gw.store, t.gw.audit, { archiveExpiredAfterDays: 90, intervalMinutes: 0, batchSize: 10 });
    const first = await retention.run(new Date(now), 1);
    expect(first).toMatchObject({ archived: 10, batches: 1, more: true });
    const rest = await retention.run(new Date(now));
    expect(rest).toMatchObject({ archived: 15, batches: 2, more: false });
    const events = await t.gw.store.queryAudit({ type: "inventory.archived" });
    expect(events.map((e) => e.data.count)).toEqual([10, 10, 5]);
    expect(events.every((e) => e.actor === "system:retention" && (e.data.count as number) <= 10)).toBe(true);
    const prefixes = (table: string) => (db().prepare(`SELECT substr(serial, 1, 2) AS p, count(*) AS n FROM ${table} GROUP BY 1 ORDER BY 1`).all() as Array<{ p: string; n: number }>)
      .map((r) => `${r.p}:${r.n}`);
    expect(prefixes("certificates_archive")).toEqual(["aa:23", "ab:2"]);
    expect(prefixes("certificates").filter((p) => /^b/.test(p))).toEqual(["ba:5", "bb:3", "bc:4", "bd:6"]);
    expect(prefixes("certificates").some((p) => /^a/.test(p))).toBe(false);
    // Nothing left to do: a run finds nothing and records nothing.
    expect(await retention.run(new Date(now))).toMatchObject({ archived: 0, batches: 0 });
    expect(await t.gw.store.queryAudit({ type: "inventory.archived" })).toHaveLength(3);
    // Names index and lifecycle notices follow the hot table.
    expect(db().prepare("SELECT count(*) AS n FROM certificate_names WHERE serial LIKE 'a%'").get()).toEqual({ n: 0 });
    expect(db().prepare("SELECT count(*) AS n FROM lifecycle_notices WHERE serial = ?").get(serial("aa", 0))).toEqual({ n: 0 });
    expect((await t.gw.audit.verify()).ok).toBe(true);
  });

  it("an archived certificate is still found by serial (flagged), through the store, the admin API and its audit trail; listings leave it out", async () => {
    const s = serial("ab", 1);
    const rec = await t.gw.store.getCertificate(s.toUpperCase());
    expect(rec).toMatchObject({ serial: s, archived: true, revocationReason: 1, stage: "issued" });
    expect(rec!.der?.length).toBeGreaterThan(100);
    const res = await request(app).get(`/admin/api/v1/certificates/${s}`).set("Authorization", `Bearer ${t.token}`);
    expect(res.status).toBe(200);
    expect(res.body.certificate).toMatchObject({ serial: s, archived: true, status: "revoked" });
    expect((await t.gw.store.getCertificate(serial("bd", 0)))!.archived).toBeUndefined();
    const listed = (await t.gw.store.pageCertificates({}, { limit: 1000 })).items.map((c) => c.serial);
    expect(listed).not.toContain(s);
    expect(listed).toContain(serial("bc", 0));
  });

  it("OCSP still finds an archived serial's status, and revoking an archived certificate is refused as not found", async () => {
    expect(await t.gw.store.certificateStatus(serial("ab", 0))).toMatchObject({ stage: "issued", revocationReason: 1 });
    expect(await t.gw.store.certificateStatus(serial("aa", 3))).toMatchObject({ stage: "issued", revokedAt: undefined });
    await expect(t.gw.revocation.revoke(serial("aa", 3), "keyCompromise", "admin:test")).rejects.toMatchObject({ code: "RA_ERR_NOT_FOUND" });
    expect((await t.gw.store.certificateStatus(serial("aa", 3)))?.revokedAt).toBeUndefined();
  });

  it("the archive keeps every column of the inventory (a new certificates column needs its archive twin)", () => {
    const cols = (tbl: string) => (db().prepare(`SELECT name FROM pragma_table_info('${tbl}')`).all() as Array<{ name: string }>).map((r) => r.name);
    const archive = new Set(cols("certificates_archive"));
    expect(cols("certificates").filter((c) => !archive.has(c))).toEqual([]);
    expect(archive.has("archived_at")).toBe(true);
  });

  it("the schedule starts and stops without keeping the process alive; intervalMinutes 0 never runs", async () => {
    const r = new Retention(t.gw.store, t.gw.audit, { archiveExpiredAfterDays: 90, intervalMinutes: 0, batchSize: 10 });
    r.start((e) => { throw e; });
    await r.stop();
  });
});

describe("migration 7 on an existing inventory", () => {
  it("backfills names_key and the names index for certificates issued before it", async () => {
    const path = join(tempDir(), "old.db");
    const old = new Database(path);
    for (const [v, sql] of MIGRATIONS.slice(0, 6).entries()) {
      old.exec(sql);
      old.pragma(`user_version = ${v + 1}`);
    }
    old.prepare(`INSERT INTO certificates (serial, ca_name, profile, protocol, request_id, requester_kind, requester_id, subject, sans, not_before, not_after,
      key_algorithm, stage, tbs_sha256, created_at) VALUES ('0a', 'ca', 'p', 'admin', 'r', 'k', 'i', 'CN=x', ?, ?, ?, 'EC P-256', 'issued', 'h', ?)`)
      .run(JSON.stringify(["dns:b.example", "permanentId:UDID-1"]), iso(now), iso(now + DAY), iso(now));
    old.close();
    const store = new SqliteStore(path);
    try {
      expect((store.raw.prepare("SELECT names_key FROM certificates WHERE serial = '0a'").get() as { names_key: string }).names_key)
        .toBe(namesKey(["permanentId:UDID-1", "dns:b.example"]));
      expect((await store.findValidByName("permanentId:UDID-1", iso(now), 10)).map((c) => c.serial)).toEqual(["0a"]);
      expect((await store.findValidByName("UDID-1", iso(now), 10)).map((c) => c.serial)).toEqual(["0a"]);
      expect(await store.findValidByName("dns:UDID-1", iso(now), 10)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
