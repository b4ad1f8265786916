// Console sessions across real gateway processes on one PostgreSQL: a session made on A is accepted by B (cookie and
// CSRF token), a logout on B ends it on A, and the idle and absolute limits hold whichever instance answers.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IDLE_MS, SESSION_COOKIE, TOUCH_MS } from "../../src/server/console-session.js";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { startDeployment, type Deployment, type Instance } from "./instances.js";
import { call, sql } from "./util.js";

const testDb = lazyTestDatabase();
let d: Deployment;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  d = await startDeployment({ databaseUrl: (await testDb.get()).url, instances: 2 });
}, 240_000);

afterAll(async () => {
  await d?.stop();
  await testDb.drop();
});

async function login(inst: Instance): Promise<{ cookie: string; value: string; csrf: string }> {
  const r = await call(d, `${inst.https}/console/api/login`, "POST", { body: { token: d.adminToken() } });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  const value = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(String(r.headers["set-cookie"]))![1];
  return { cookie: `${SESSION_COOKIE}=${value}`, value, csrf: String(r.json.csrfToken) };
}
const session = async (inst: Instance, cookie: string) => (await call(d, `${inst.https}/console/api/session`, "GET", { headers: { cookie } }));
const row = async (value: string) => (await sql(d, "SELECT * FROM console_sessions WHERE id_hash = $1", [sha256(value)]))[0];
const setRow = (value: string, column: "last_seen" | "created_at" | "expires_at", at: number) =>
  sql(d, `UPDATE console_sessions SET ${column} = $1 WHERE id_hash = $2`, [iso(at), sha256(value)]);

describe("console sessions across gateway processes", () => {
  it("a session made on A works on B: reads with the cookie, changes with the cookie and the CSRF token", async () => {
    const [a, b] = d.instances;
    const s = await login(a);
    const onB = await session(b, s.cookie);
    expect(onB.status).toBe(200);
    expect(onB.json.csrfToken).toBe(s.csrf);
    expect((await call(d, `${b.https}/admin/api/v1/certificates`, "GET", { headers: { cookie: s.cookie } })).status).toBe(200);
    const mint = (headers: Record<string, string>) => call(d, `${b.https}/admin/api/v1/enrollment-secrets`, "POST", { headers, body: { profile: "device", protocols: ["est"] } });
    expect((await mint({ cookie: s.cookie })).status).toBe(403);
    expect((await mint({ cookie: s.cookie, "x-csrf-token": s.csrf })).status).toBe(201);
    // The shared store holds the cookie's hash only.
    const all = JSON.stringify(await sql(d, "SELECT * FROM console_sessions"));
    expect(all).not.toContain(s.value);
    expect(all).not.toContain(s.csrf);
    expect(await row(s.value)).toBeDefined();
  });

  it("a logout on B (with the CSRF token) ends the session on A", async () => {
    const [a, b] = d.instances;
    const s = await login(a);
    expect((await call(d, `${b.https}/console/api/logout`, "POST", { headers: { cookie: s.cookie } })).status).toBe(403);
    expect((await session(a, s.cookie)).status).toBe(200);
    expect((await call(d, `${b.https}/console/api/logout`, "POST", { headers: { cookie: s.cookie, "x-csrf-token": s.csrf } })).status).toBe(204);
    expect((await session(a, s.cookie)).status).toBe(401);
    expect((await call(d, `${a.https}/admin/api/v1/certificates`, "GET", { headers: { cookie: s.cookie } })).status).toBe(401);
    expect(await row(s.value)).toBeUndefined();
  });

  it("the idle limit holds on every instance, measured from the last-seen in the database", async () => {
    const [a, b] = d.instances;
    const s = await login(a);
    // Idle just under the limit: live on B, and B records the activity for A too.
    await setRow(s.value, "last_seen", Date.now() - IDLE_MS + 60_000);
    expect((await session(b, s.cookie)).status).toBe(200);
    expect(Date.parse(String((await row(s.value))!.last_seen))).toBeGreaterThan(Date.now() - TOUCH_MS);
    expect((await session(a, s.cookie)).status).toBe(200);
    // Idle past the limit: over on B, the row is gone, and A refuses it as well.
    await setRow(s.value, "last_seen", Date.now() - IDLE_MS - 1000);
    expect((await session(b, s.cookie)).status).toBe(401);
    expect(await row(s.value)).toBeUndefined();
    expect((await session(a, s.cookie)).status).toBe(401);
  });

  it("the absolute limit holds however active the session is, on the other instance too", async () => {
    const [a, b] = d.instances;
    const s = await login(b);
    expect((await session(a, s.cookie)).status).toBe(200);
    await setRow(s.value, "created_at", Date.now() - 8 * 3_600_000);
    await setRow(s.value, "expires_at", Date.now() - 1);
    await setRow(s.value, "last_seen", Date.now()); // active just now: no help
    expect((await session(a, s.cookie)).status).toBe(401);
    expect(await row(s.value)).toBeUndefined();
    expect((await session(b, s.cookie)).status).toBe(401);
  });

  it("many sessions made on both instances at once are all accepted by the other one", async () => {
    const [a, b] = d.instances;
    const made = await Promise.all(Array.from({ length: 10 }, (_, k) => login(k % 2 ? b : a)));
    const checks = await Promise.all(made.map((s, k) => session(k % 2 ? a : b, s.cookie)));
    expect(checks.map((c) => c.status)).toEqual(made.map(() => 200));
    expect(checks.map((c) => c.json.csrfToken)).toEqual(made.map((s) => s.csrf));
  });
});
