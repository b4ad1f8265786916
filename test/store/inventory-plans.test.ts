import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnrollmentService } from "../../src/enrollment/service.js";
import type { RequesterIdentity } from "../../src/policy/request.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { csrForName } from "../bench/csr-fast.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { planOf, recordStatements, seedCertificates } from "./seed.js";

/**
 * Cost curves pinned without timing: every statement the issuance path runs (and the lifecycle lookups)
 * is an index search, so its cost does not grow with the inventory or with one requester's history.
 */

let t: TestGateway;
let key: KeyObject;
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const db = () => (t.gw.store as SqliteStore).raw;

async function enroll(name: string, requester: RequesterIdentity = { kind: "mdm", id: "fleet" }, extra: { lookupKey?: string; renewalOf?: string } = {}) {
  const out = await t.gw.enrollment.enroll({
    requestId: EnrollmentService.newRequestId(), protocol: "admin", requester, profile: "tls-server", csr: csrForName(key, name), ...extra,
  });
  if (out.status !== "issued") throw new Error(`not issued: ${out.status}`);
  return out.certificate.serial;
}

/** Plans that read a big table whole, or sort outside an index. */
function badPlans(stmts: Array<{ sql: string; args: unknown[] }>, allowGroupBySort = false): string[] {
  const bad: string[] = [];
  for (const s of stmts) {
    for (const d of planOf(db(), s)) {
      const scan = /^SCAN (?!json_each\b)/.test(d) && !/^SCAN CONSTANT ROW/.test(d);
      const sort = /USE TEMP B-TREE/.test(d) && !(allowGroupBySort && /FOR GROUP BY/.test(d));
      if (scan || sort) bad.push(`${d} <- ${s.sql.replace(/\s+/g, " ").slice(0, 160)}`);
    }
  }
  return bad;
}

beforeAll(async () => {
  t = await testGateway();
  key = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
  const now = Date.now();
  // Some inventory: the same requester's other devices, other requesters, expired and revoked rows.
  seedCertificates(db(), {
    count: 3000, txSize: 1000,
    row: (i) => ({
      requester: { kind: "mdm", id: i % 3 ? "fleet" : `other-${i}` }, sans: [`dns:dev${i}.example.com`],
      notBefore: iso(now - 30 * DAY), notAfter: iso(now + (i % 4 === 0 ? -5 : 60) * DAY + i * 1000),
      revokedAt: i % 50 === 0 ? iso(now - DAY) : undefined, revocationReason: i % 50 === 0 ? 1 : undefined,
    }),
  });
});
afterAll(async () => t?.gw.close());

describe("issuance path query plans", () => {
  it("every statement of an issuance is an index search: intent, completion, audit chain head, implicit renewal, request records", async () => {
    await enroll("plan.example.com");
    const stmts = await recordStatements(db(), async () => {
      await enroll("plan.example.com"); // implicit renewal of the first
      await enroll("plan2.example.com", { kind: "est", id: "device-1" }, { lookupKey: "est:device-1:abc" });
      const first = await enroll("plan3.example.com");
      await enroll("plan3.example.com", undefined, { renewalOf: first }); // explicit renewal
    });
    const sql = stmts.map((s) => s.sql.replace(/\s+/g, " "));
    expect(sql.some((s) => s.startsWith("INSERT INTO certificates"))).toBe(true);
    expect(sql.some((s) => s.includes("audit_events"))).toBe(true);
    const lookup = stmts.find((s) => /names_key = \?/.test(s.sql));
    expect(lookup, "the implicit-renewal lookup ran").toBeDefined();
    expect(planOf(db(), lookup!).join(" ")).toMatch(/USING INDEX certificates_implicit_renewal \(requester_kind=\? AND requester_id=\? AND profile=\? AND names_key=\?/);
    expect(badPlans(stmts)).toEqual([]);
  });

  it("lifecycle reads are bounded index ranges: metrics counts, renewal lists, device orders, archiving, lookup by serial", async () => {
    const now = new Date().toISOString();
    const stmts = await recordStatements(db(), async () => {
      await t.gw.lifecycle.counts();
      await t.gw.lifecycle.state();
      await t.gw.store.countExpiringWithin(30);
      await t.gw.store.findValidByName("dns:dev5.example.com", now, 10_000);
      await t.gw.store.findValidByName("dev5.example.com", now, 10_000);
      await t.gw.store.findHeldByName("dev5.example.com", now, 10_000);
      await t.gw.store.getCertificate("00ff");
      await t.gw.store.transaction((tx) => tx.archiveExpired(iso(Date.now() - 365 * DAY), now, 10));
    });
    expect(stmts.length).toBeGreaterThan(6);
    // A GROUP BY over the rows a range found sorts those rows only.
    expect(badPlans(stmts, true)).toEqual([]);
  });
});

describe("implicit renewal at scale", () => {
  it("finds the predecessor among more than 50 newer certificates of the same requester for other names", async () => {
    const requester = { kind: "acme", id: "cert-manager" };
    const old = await enroll("app.example.com", requester);
    // The predecessor was issued a while ago: 60 certificates for other devices expire after it.
    const oldNotAfter = Date.now() + 30 * DAY;
    db().prepare("UPDATE certificates SET not_after = ? WHERE serial = ?").run(iso(oldNotAfter), old);
    seedCertificates(db(), {
      count: 60,
      row: (i) => ({ requester, sans: [`dns:other${i}.example.com`], notBefore: iso(Date.now() - DAY), notAfter: iso(oldNotAfter + (i + 1) * 60_000) }),
    });
    const renewed = await enroll("app.example.com", requester);
    expect((await t.gw.store.getCertificate(old))!.replacedBy).toBe(renewed);
    expect((await t.gw.store.queryAudit({ type: "certificate.replaced", target: old }))[0].data).toMatchObject({ by: renewed, implicit: true });
  });

  it("replaces the newest match only, never another requester's or another profile's, and not a revoked one", async () => {
    const a = { kind: "scep", id: "mdm-a" };
    const first = await enroll("multi.example.com", a);
    const second = await enroll("multi.example.com", a);
    expect((await t.gw.store.getCertificate(first))!.replacedBy).toBe(second);
    const other = await enroll("multi.example.com", { kind: "scep", id: "mdm-b" });
    expect((await t.gw.store.getCertificate(second))!.replacedBy).toBeUndefined();
    expect((await t.gw.store.getCertificate(other))!.replacedBy).toBeUndefined();
    await t.gw.revocation.revoke(second, "keyCompromise", "admin:test");
    const third = await enroll("multi.example.com", a);
    expect((await t.gw.store.getCertificate(second))!.replacedBy).toBeUndefined();
    expect((await t.gw.store.getCertificate(third))!.replacedBy).toBeUndefined();
  });

  it("names_key ignores the order of the names", async () => {
    const { namesKey } = await import("../../src/store/names.js");
    expect(namesKey(["dns:b", "dns:a"])).toBe(namesKey(["dns:a", "dns:b"]));
    expect(namesKey(["dns:a"])).not.toBe(namesKey(["dns:a", "dns:b"]));
    const row = db().prepare("SELECT names_key, sans FROM certificates WHERE stage = 'issued' AND requester_kind = 'acme' LIMIT 1").get() as { names_key: string; sans: string };
    expect(row.names_key).toBe(namesKey(JSON.parse(row.sans) as string[]));
  });
});
