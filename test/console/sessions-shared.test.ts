// Console sessions across instances: two gateways (each its own store connection and express app) on one data
// directory, as behind a load balancer. A session made through A's console is accepted by B, a logout on B ends it
// on A, and the idle and absolute limits hold wherever the request lands.
import { createHash } from "node:crypto";
import type { Express } from "express";
import pino from "pino";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openGateway, type Gateway } from "../../src/gateway.js";
import { IDLE_MS, SESSION_COOKIE, TOUCH_MS } from "../../src/server/console-session.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";

let t: TestGateway;
let other: Gateway;
let appA: Express;
let appB: Express;
const db = () => (t.gw.store as SqliteStore).raw;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  t = await testGateway();
  other = await openGateway(t.config, pino({ level: "silent" }));
  appA = (await appsFor(t.gw)).https;
  appB = (await appsFor(other)).https;
});
afterAll(async () => {
  await other?.close();
  await t?.gw.close();
});

async function login(app: Express): Promise<{ cookie: string; value: string; csrf: string }> {
  const r = await request(app).post("/console/api/login").send({ token: t.token }).expect(200);
  const set = String(r.headers["set-cookie"]);
  const value = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(set)![1];
  return { cookie: `${SESSION_COOKIE}=${value}`, value, csrf: r.body.csrfToken as string };
}
const session = (app: Express, cookie: string) => request(app).get("/console/api/session").set("Cookie", cookie);
const row = (value: string) => db().prepare("SELECT * FROM console_sessions WHERE id_hash = ?").get(sha256(value)) as Record<string, string> | undefined;

describe("console sessions across instances", () => {
  it("a session made on A is accepted by B (same CSRF token); the store holds only the token's hash", async () => {
    const s = await login(appA);
    const onB = await session(appB, s.cookie).expect(200);
    expect(onB.body.csrfToken).toBe(s.csrf);
    await request(appB).get("/admin/api/v1/certificates").set("Cookie", s.cookie).expect(200);
    const all = JSON.stringify(db().prepare("SELECT * FROM console_sessions").all());
    expect(all).not.toContain(s.value);
    expect(all).not.toContain(s.csrf);
    expect(row(s.value)).toBeDefined();
  });

  it("a logout on B needs the CSRF token and then ends the session on A too", async () => {
    const s = await login(appA);
    await request(appB).post("/console/api/logout").set("Cookie", s.cookie).expect(403);
    await session(appA, s.cookie).expect(200);
    await request(appB).post("/console/api/logout").set("Cookie", s.cookie).set("X-CSRF-Token", s.csrf).expect(204);
    await session(appA, s.cookie).expect(401);
    await request(appA).get("/admin/api/v1/certificates").set("Cookie", s.cookie).expect(401);
    expect(row(s.value)).toBeUndefined();
  });

  it("the idle limit holds on every instance, measured from the last-seen the store recorded", async () => {
    const s = await login(appA);
    // Idle just under the limit: still live, and the request records the activity for every instance.
    db().prepare("UPDATE console_sessions SET last_seen = ? WHERE id_hash = ?").run(iso(Date.now() - IDLE_MS + 60_000), sha256(s.value));
    await session(appB, s.cookie).expect(200);
    expect(Date.parse(row(s.value)!.last_seen)).toBeGreaterThan(Date.now() - TOUCH_MS);
    // Idle past the limit: over, and the row is gone.
    db().prepare("UPDATE console_sessions SET last_seen = ? WHERE id_hash = ?").run(iso(Date.now() - IDLE_MS - 1000), sha256(s.value));
    await session(appB, s.cookie).expect(401);
    expect(row(s.value)).toBeUndefined();
    await session(appA, s.cookie).expect(401);
  });

  it("the absolute limit holds however active the session is", async () => {
    const s = await login(appB);
    db().prepare("UPDATE console_sessions SET created_at = ?, expires_at = ? WHERE id_hash = ?").run(iso(Date.now() - 8 * 3_600_000), iso(Date.now() - 1), sha256(s.value));
    await session(appA, s.cookie).expect(401);
    expect(row(s.value)).toBeUndefined();
  });

  it("last-seen is written at most every TOUCH_MS, not on every request", async () => {
    const s = await login(appA);
    const first = row(s.value)!.last_seen;
    for (let i = 0; i < 5; i++) await session(i % 2 ? appA : appB, s.cookie).expect(200);
    expect(row(s.value)!.last_seen).toBe(first);
    const stale = iso(Date.now() - TOUCH_MS - 1000);
    db().prepare("UPDATE console_sessions SET last_seen = ? WHERE id_hash = ?").run(stale, sha256(s.value));
    await session(appB, s.cookie).expect(200);
    const touched = row(s.value)!.last_seen;
    expect(touched > stale).toBe(true);
    await session(appA, s.cookie).expect(200);
    expect(row(s.value)!.last_seen).toBe(touched);
  });

  it("a forged or unknown cookie is refused", async () => {
    await session(appB, `${SESSION_COOKIE}=${"x".repeat(43)}`).expect(401);
    await session(appB, `${SESSION_COOKIE}=${"x".repeat(500)}`).expect(401);
  });
});
