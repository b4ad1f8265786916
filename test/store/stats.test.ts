import request from "supertest";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { seedCertificates } from "./seed.js";

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
let t: TestGateway;
const now = Date.now();

beforeAll(async () => {
  t = await testGateway();
  seedCertificates((t.gw.store as SqliteStore).raw, {
    count: 500,
    row: (i) => ({
      profile: i % 3 ? "tls-server" : "short-lived", owner: i % 4 ? `team-${i % 5}` : undefined, sans: [`dns:s${i}.example.com`],
      notBefore: iso(now - 10 * DAY), notAfter: iso(now + (i % 7 === 0 ? -3 : (i % 120) - 20) * DAY + 3_600_000),
      revokedAt: i % 11 === 0 ? iso(now - DAY) : undefined, revocationReason: i % 11 === 0 ? 1 : undefined,
      replacedBy: i % 13 === 0 ? "00" : undefined,
    }),
  });
});
afterAll(async () => t?.gw.close());

it("the dashboard's SQL aggregates equal the per-certificate computation they replace", async () => {
  const rows = (t.gw.store as SqliteStore).raw.prepare("SELECT profile, owner, not_after, revoked_at FROM certificates WHERE stage = 'issued'").all() as
    Array<{ profile: string; owner: string | null; not_after: string; revoked_at: string | null }>;
  const res = await request((await appsFor(t.gw)).https).get("/admin/api/v1/dashboard?weeks=20").set("Authorization", `Bearer ${t.token}`);
  expect(res.status).toBe(200);
  const d = res.body;
  const at = d.generatedAt as string;
  const soon = iso(Date.parse(at) + d.warningDays * DAY);
  const valids = rows.filter((r) => !r.revoked_at && r.not_after > at);
  expect(d.totals).toMatchObject({ valid: valids.length, revoked: rows.filter((r) => r.revoked_at).length, expired: rows.filter((r) => !r.revoked_at && r.not_after <= at).length });
  const start = Date.parse(`${at.slice(0, 10)}T00:00:00.000Z`);
  const weeks = Array.from({ length: 20 }, () => 0);
  for (const c of valids) {
    const w = Math.floor((Date.parse(c.not_after) - start) / (7 * DAY));
    if (w >= 0 && w < 20) weeks[w]++;
  }
  expect(d.expiringByWeek.map((w: { count: number }) => w.count)).toEqual(weeks);
  const byOwner = new Map<string, { valid: number; expiringSoon: number }>();
  for (const c of valids) {
    const g = byOwner.get(c.owner ?? "") ?? { valid: 0, expiringSoon: 0 };
    g.valid++;
    if (c.not_after <= soon) g.expiringSoon++;
    byOwner.set(c.owner ?? "", g);
  }
  expect(Object.fromEntries(d.byOwner.map((g: { owner: string; valid: number; expiringSoon: number }) => [g.owner, { valid: g.valid, expiringSoon: g.expiringSoon }])))
    .toEqual(Object.fromEntries(byOwner));
  expect(d.byProfile.reduce((n: number, g: { valid: number }) => n + g.valid, 0)).toBe(valids.length);
  const counts = await t.gw.lifecycle.counts(new Date(at));
  expect(d.totals.renewalMissed).toBe(counts.missed.reduce((n, c) => n + c.count, 0));
  expect(d.totals.renewalMissed).toBeGreaterThan(0);
  expect(d.missedRenewals.length).toBeLessThanOrEqual(50);
});
