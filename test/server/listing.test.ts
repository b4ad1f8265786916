import type { Express } from "express";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enforce } from "../../src/lifecycle/enforcement.js";
import { auditPageSql, certificatePageSql, requestPageSql } from "../../src/store/sqlite/listing.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import type { CertificateQuery } from "../../src/store/types.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { auditEvents } from "../helpers/stores.js";
import { allSerials, exactlyOnce, issueMany } from "./inventory-fixture.js";

let t: TestGateway;
let app: Express;
const auth = () => ({ Authorization: `Bearer ${t.token}` });

beforeAll(async () => {
  t = await testGateway();
  app = (await appsFor(t.gw)).https;
  await issueMany(t.gw, 1100);
});
afterAll(async () => t?.gw.close());

const list = (query: Record<string, string | number>) => request(app).get("/admin/api/v1/certificates").query(query).set(auth());

describe("certificate listing pages with a cursor", () => {
  it("refuses a limit above 1000 instead of cutting the answer short", async () => {
    for (const limit of ["1001", "1000000", "0", "-1", "ten"]) {
      const res = await list({ limit });
      expect(res.status, limit).toBe(400);
      expect(res.body.error.code).toBe("RA_ERR_MALFORMED");
      expect(res.body.error.message).toMatch(/1 to 1000/);
    }
  });

  it("1,100 certificates: a page of 1000 says there is more, the next page has the rest", async () => {
    const first = await list({ limit: 1000 });
    expect(first.status).toBe(200);
    expect(first.body.certificates).toHaveLength(1000);
    expect(typeof first.body.next).toBe("string");
    const second = await list({ limit: 1000, cursor: first.body.next });
    expect(second.body.certificates).toHaveLength(allSerials(t.gw).length - 1000);
    expect(second.body.next).toBeUndefined();
    const seen = [...first.body.certificates, ...second.body.certificates].map((c: { serial: string }) => c.serial);
    expect(exactlyOnce(allSerials(t.gw), seen)).toEqual({ missing: [], repeated: [] });
    // Newest first: the first row is the certificate stored last.
    const newest = (t.gw.store as SqliteStore).raw.prepare("SELECT serial FROM certificates ORDER BY rowid DESC LIMIT 1").get() as { serial: string };
    expect(first.body.certificates[0].serial).toBe(newest.serial);
  });

  it("a walk page by page while certificates are issued, revoked and classified sees every earlier certificate exactly once", async () => {
    const before = allSerials(t.gw);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await list({ limit: 37, ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      seen.push(...res.body.certificates.map((c: { serial: string }) => c.serial));
      cursor = res.body.next;
      pages++;
      // Between pages: new certificates, and changes to rows on both sides of the cursor.
      await issueMany(t.gw, 3, "during.example.com");
      await t.gw.revocation.revoke(before[(pages * 7) % before.length], "superseded", "admin:test").catch(() => undefined);
      await t.gw.store.classify(before[(pages * 13) % before.length], { owner: `team-${pages}` });
    } while (cursor);
    expect(pages).toBeGreaterThan(before.length / 37);
    expect(exactlyOnce(before, seen)).toEqual({ missing: [], repeated: [] });
  });

  it("filters page the same way", async () => {
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const res = await list({ name: "during.example", status: "valid", limit: 10, ...(cursor ? { cursor } : {}) });
      names.push(...res.body.certificates.map((c: { sans: string[] }) => c.sans[0]));
      cursor = res.body.next;
    } while (cursor);
    expect(names.length).toBeGreaterThan(10);
    expect(new Set(names)).toEqual(new Set(["dns:during.example.com"]));
  });

  it("refuses a cursor it did not make, or one from another listing", async () => {
    expect((await list({ cursor: "not a cursor" })).status).toBe(400);
    const forged = Buffer.from("c:5:00ff", "utf8").toString("base64url");
    expect((await list({ cursor: forged })).body.error.code).toBe("RA_ERR_MALFORMED");
    const first = await list({ limit: 1 });
    const approvals = await request(app).get("/admin/api/v1/approvals").query({ cursor: first.body.next }).set(auth());
    expect(approvals.status).toBe(400);
  });
});

describe("approvals and audit page the same way", () => {
  it("approvals: every pending request once, oldest first, with next while more remain", async () => {
    const dir = tempDir();
    const { der } = makeCsr(dir, "sign", { subject: "/CN=Release", sans: ["email:release@example.com"] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { EnrollmentService } = await import("../../src/enrollment/service.js");
      const out = await t.gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "t" }, profile: "code-signing", csr: der });
      expect(out.status).toBe("pending");
      ids.push(out.requestId);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const res = await request(app).get("/admin/api/v1/approvals").query({ limit: 2, ...(cursor ? { cursor } : {}) }).set(auth());
      expect(res.status).toBe(200);
      expect(res.body.approvals.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.approvals.map((a: { id: string }) => a.id));
      cursor = res.body.next;
    } while (cursor);
    expect(seen).toEqual(ids);
    expect((await request(app).get("/admin/api/v1/approvals").query({ limit: 5000 }).set(auth())).status).toBe(400);
    expect((await request(app).get("/admin/api/v1/approvals").query({ status: "bogus" }).set(auth())).status).toBe(400);
  });

  it("audit: next continues where the page ended, as after=<seq> does", async () => {
    expect((await request(app).get("/admin/api/v1/audit").query({ limit: 1001 }).set(auth())).status).toBe(400);
    const total = (await auditEvents(t.gw.store)).length;
    expect(total).toBeGreaterThan(1000);
    const first = await request(app).get("/admin/api/v1/audit").query({ limit: 1000 }).set(auth());
    expect(first.body.events).toHaveLength(1000);
    expect(first.body.next).toBe(String(first.body.events[999].seq));
    const byCursor = await request(app).get("/admin/api/v1/audit").query({ limit: 1000, cursor: first.body.next }).set(auth());
    const byAfter = await request(app).get("/admin/api/v1/audit").query({ limit: 1000, after: first.body.next }).set(auth());
    expect(byCursor.body.events).toEqual(byAfter.body.events);
    expect(byCursor.body.events[0].seq).toBe(first.body.events[999].seq + 1);
  });
});

describe("page queries are index range searches", () => {
  const plan = (q: { sql: string; args: Record<string, unknown> }) =>
    ((t.gw.store as SqliteStore).raw.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all({ ...q.args, limit: 101 }) as Array<{ detail: string }>).map((r) => r.detail);
  const now = new Date().toISOString();
  const CERT_QUERIES: CertificateQuery[] = [
    {}, { status: "valid" }, { status: "revoked" }, { status: "expired" }, { status: "intent" }, { profile: "tls-server" }, { caName: "dev-issuing" },
    { name: "example" }, { expiringBefore: now }, { owner: "team-1" }, { requester: "admin:inventory" }, { protocol: "acme" },
    { status: "valid", profile: "tls-server", expiringBefore: now }, { caName: "dev-issuing", status: "revoked" }, { owner: "x", profile: "tls-server", criticality: "high" },
  ];

  it.each(CERT_QUERIES.flatMap((q) => [{ q, before: undefined }, { q, before: "500" }]))("certificates $q (before $before)", ({ q, before }) => {
    const details = plan(certificatePageSql(q, now, before));
    expect(details.join("\n")).not.toMatch(/TEMP B-TREE|^SCAN/m);
    expect(details.some((d) => /^SEARCH certificates USING (INTEGER PRIMARY KEY \(rowid<\?\)|INDEX \w+ \(.*rowid<\?\))/.test(d)), details.join("\n")).toBe(true);
  });

  it.each([undefined, "pending", "approved"] as const)("requests status=%s", (status) => {
    const details = plan(requestPageSql(status, "3"));
    expect(details.join("\n")).not.toMatch(/TEMP B-TREE|^SCAN/m);
  });

  it.each([{}, { type: "certificate.issued" }, { target: "x" }, { from: now, to: now }])("audit %o", (q) => {
    const details = plan(auditPageSql(q, 10));
    expect(details.join("\n")).not.toMatch(/TEMP B-TREE|^SCAN/m);
  });
});

describe("live enforcement covers every certificate of an identity", () => {
  const validOf = (requester: string) =>
    ((t.gw.store as SqliteStore).raw.prepare("SELECT count(*) AS n FROM certificates WHERE requester_kind || ':' || requester_id = ? AND stage = 'issued' AND revoked_at IS NULL").get(requester) as { n: number }).n;

  it("holds and releases more than a page's worth (1,000) of one requester's certificates", async () => {
    const valid = validOf("admin:inventory");
    expect(valid).toBeGreaterThan(1000);
    const held = await enforce(t.gw, { identity: "admin:inventory", action: "hold" }, "admin:test", "admin");
    expect(held.matched).toBe(valid);
    expect(held.changed).toHaveLength(valid);
    expect(validOf("admin:inventory")).toBe(0);
    const released = await enforce(t.gw, { identity: "admin:inventory", action: "release" }, "admin:test", "admin");
    expect(released.changed).toHaveLength(valid);
    expect(validOf("admin:inventory")).toBe(valid);
  });
});
