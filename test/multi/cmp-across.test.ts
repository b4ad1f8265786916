// CMP across real gateway processes on one PostgreSQL: the transaction state lives in the database, so the ir
// may be answered by A and its certConf by B, or by A after a restart (SIGTERM, start again) in between.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCmp } from "../cmp/env.js";
import { genKey, tempDir } from "../helpers/openssl.js";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { startDeployment, type Deployment } from "./instances.js";
import { admin, routingProxy, sql } from "./util.js";

const KID = "client1";
const SECRET = "cmp-Shared-secret-1";
const testDb = lazyTestDatabase();
let d: Deployment;
const dir = tempDir("multi-cmp-");

beforeAll(async () => {
  d = await startDeployment({
    databaseUrl: (await testDb.get()).url,
    instances: 2,
    sections: { cmp: { labels: [{ name: "default", profile: "device", secrets: [{ kid: KID, secret: SECRET }] }] } },
  });
}, 240_000);

afterAll(async () => {
  await d?.stop();
  await testDb.drop();
});

function ir(server: string, name: string, kid = KID, secret = SECRET): Promise<{ code: number; out: string }> {
  return opensslCmp(["-server", server, "-path", ".well-known/cmp", "-ref", kid, "-secret", `pass:${secret}`, "-mac", "hmacWithSHA256",
    "-cmd", "ir", "-newkey", genKey(dir, name), "-subject", `/CN=${name}.example.com`, "-certout", join(dir, `${name}.pem`)]);
}

/** The CMP audit events of the transaction that asked for `cn`, oldest first, from the shared database. */
async function transactionEvents(cn: string): Promise<Array<Record<string, unknown>>> {
  const all = (await sql(d, "SELECT seq, data FROM audit_events WHERE type = 'cmp.request' ORDER BY seq")).map((r) => JSON.parse(String(r.data)) as Record<string, unknown>);
  const irEvent = all.find((e) => e.bodyType === "ir" && JSON.stringify(e).includes(cn));
  const txid = irEvent?.transactionId ?? all.filter((e) => e.bodyType === "ir").at(-1)?.transactionId;
  expect(txid).toBeDefined();
  return all.filter((e) => e.transactionId === txid);
}

describe("CMP across gateway processes on one PostgreSQL", () => {
  it("ir answered by A, certConf by B: confirmed, audited once each", async () => {
    const [a, b] = d.instances;
    const p = await routingProxy(async (n) => (n === 0 ? a.http : b.http));
    const r = await ir(p.server, "across1");
    await p.close();
    expect(r.code, r.out).toBe(0);
    expect(p.sent).toEqual([a.http, b.http]);
    const events = await transactionEvents("across1");
    expect(events.map((e) => `${e.bodyType}:${e.decision}`)).toEqual(["ir:accepted", "certConf:confirmed"]);
    const serial = String(events[0].serial);
    const rows = await sql(d, "SELECT stage, revoked_at FROM certificates WHERE serial = $1", [serial]);
    expect(rows).toMatchObject([{ stage: "issued", revoked_at: null }]);
  }, 60_000);

  it("with a one-time secret (spent by the ir on A), the certConf on B still verifies with it; the secret stays spent", async () => {
    const [a, b] = d.instances;
    const m = await admin(d, b.https, "POST", "/enrollment-secrets", { profile: "device", protocols: ["cmp"] });
    expect(m.status, JSON.stringify(m.json)).toBe(201);
    const p = await routingProxy(async (n) => (n === 0 ? a.http : b.http));
    const r = await ir(p.server, "across2", String(m.json.id), String(m.json.secret));
    await p.close();
    expect(r.code, r.out).toBe(0);
    expect(p.sent).toEqual([a.http, b.http]);
    expect((await transactionEvents("across2")).map((e) => `${e.bodyType}:${e.decision}`)).toEqual(["ir:accepted", "certConf:confirmed"]);
    expect((await sql(d, "SELECT used_at FROM enrollment_secrets WHERE id = $1", [m.json.id]))[0]?.used_at).toBeTruthy();
    // A second ir with the spent secret is refused, on either instance.
    const again = await ir(b.http.replace("http://", ""), "across2-again", String(m.json.id), String(m.json.secret));
    expect(again.code).not.toBe(0);
  }, 60_000);

  it("A restarted (SIGTERM, started again) between ir and certConf: the certConf is confirmed, audited once", async () => {
    const before = d.instances[0];
    let restarted = "";
    const p = await routingProxy(async (n) => {
      if (n === 1) {
        before.proc.kill("SIGTERM");
        const exit = await before.exited;
        expect(exit.code === 0 || exit.signal === "SIGTERM").toBe(true);
        restarted = (await d.start("a")).http;
        return restarted;
      }
      return before.http;
    });
    const r = await ir(p.server, "restart1");
    await p.close();
    expect(r.code, r.out).toBe(0);
    expect(d.instances[0].proc.pid).not.toBe(before.proc.pid);
    expect(restarted).toBe(before.http); // the same address, a new process
    const events = await transactionEvents("restart1");
    expect(events.map((e) => `${e.bodyType}:${e.decision}`)).toEqual(["ir:accepted", "certConf:confirmed"]);
    const serial = String(events[0].serial);
    // Nothing settled it as unconfirmed afterwards, on either instance.
    const settled = await sql(d, "SELECT type FROM audit_events WHERE target = $1 AND type IN ('cmp.confirm.timeout', 'certificate.revoked')", [serial]);
    expect(settled).toEqual([]);
    expect(await sql(d, "SELECT stage, revoked_at FROM certificates WHERE serial = $1", [serial])).toMatchObject([{ stage: "issued", revoked_at: null }]);
  }, 180_000);
});
