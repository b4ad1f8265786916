// The audit listing newest first (the console's default): the store's `order: "desc"` on both engines, and
// `GET /admin/api/v1/audit?order=desc` over HTTP, paged by cursor with nothing missed or repeated.
import type { Express } from "express";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent, AuditQuery, Store } from "../../src/store/types.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { ENGINES } from "../store/engines.js";

/** Every page of `q`, `limit` at a time, following `next`. */
async function pages(s: Store, q: AuditQuery, limit: number): Promise<number[][]> {
  const out: number[][] = [];
  let cursor: string | undefined;
  do {
    const p = await s.pageAudit(q, { limit, cursor });
    out.push(p.items.map((e: AuditEvent) => e.seq));
    cursor = p.next;
  } while (cursor);
  return out;
}

describe.each(ENGINES)("audit pages newest first ($name)", (engine) => {
  afterAll(() => engine.close());

  it("pages by sequence number downwards, with and without filters; ascending is unchanged", async () => {
    const s = await engine.fresh();
    for (let i = 1; i <= 7; i++) {
      await s.appendAudit({ ts: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), type: i % 2 ? "odd" : "even", actor: "t", target: i <= 4 ? "low" : "high", data: { i } });
    }
    expect(await pages(s, { order: "desc" }, 3)).toEqual([[7, 6, 5], [4, 3, 2], [1]]);
    expect(await pages(s, { order: "asc" }, 3)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(await pages(s, {}, 7)).toEqual([[1, 2, 3, 4, 5, 6, 7]]);
    expect(await pages(s, { order: "desc", type: "odd" }, 2)).toEqual([[7, 5], [3, 1]]);
    expect(await pages(s, { order: "desc", type: "even", target: "low" }, 5)).toEqual([[4, 2]]);
    // A cursor is an upper bound: events after it (appended meanwhile) do not shift the page.
    await s.appendAudit({ ts: new Date().toISOString(), type: "odd", actor: "t", data: {} });
    expect((await s.pageAudit({ order: "desc" }, { limit: 3, cursor: "5" })).items.map((e) => e.seq)).toEqual([4, 3, 2]);
  });
});

describe("GET /admin/api/v1/audit?order=desc", () => {
  let t: TestGateway;
  let app: Express;
  beforeAll(async () => {
    t = await testGateway();
    app = (await appsFor(t.gw)).https;
    for (let i = 0; i < 12; i++) await t.gw.audit.record({ type: "test.order", actor: "tests", target: `t${i}`, data: { i } });
  });
  afterAll(() => t?.gw.close());

  const get = (query: string) => request(app).get(`/admin/api/v1/audit${query}`).set("Authorization", `Bearer ${t.token}`);

  it("lists newest first and pages to the oldest with the next cursor; the reverse of the ascending listing", async () => {
    const asc = (await get("?limit=1000").expect(200)).body.events.map((e: AuditEvent) => e.seq) as number[];
    const desc: number[] = [];
    let cursor = "";
    do {
      const r = await get(`?order=desc&limit=5${cursor ? `&cursor=${cursor}` : ""}`).expect(200);
      expect(r.body.events.length).toBeLessThanOrEqual(5);
      desc.push(...r.body.events.map((e: AuditEvent) => e.seq));
      cursor = r.body.next ?? "";
    } while (cursor);
    expect(asc.length).toBeGreaterThan(12);
    expect(desc).toEqual([...asc].reverse());
    const typed = (await get("?order=desc&type=test.order&limit=3").expect(200)).body;
    expect(typed.events.map((e: AuditEvent) => e.target)).toEqual(["t11", "t10", "t9"]);
  });

  it("refuses an unknown order, and `after` with order=desc (its cursor is an upper bound)", async () => {
    expect((await get("?order=newest").expect(400)).body.error.code).toBe("RA_ERR_MALFORMED");
    expect((await get("?order=desc&after=3").expect(400)).body.error.message).toContain("cursor");
    expect((await get("?order=asc&after=3").expect(200)).body.events[0].seq).toBe(4);
  });
});
