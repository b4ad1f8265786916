import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "./setup.js";

// Two gateways on one data directory (one SQLite file): instance A is the usual test env, B a second one next to it.
let a: AcmeTestEnv;
let b: TestGateway;
let bServers: RunningServers;
beforeAll(async () => {
  a = await acmeEnv();
  b = await testGateway({ dataDir: a.t.config.dataDir });
  bServers = await startServers(b.gw);
});
afterAll(async () => {
  await bServers?.close();
  await b?.gw.close();
  await a?.close();
});

describe("ACME across two gateway instances on one database", () => {
  it("a nonce issued by A is accepted once by B and never again by either; badNonce carries a fresh nonce", async () => {
    const c = await a.account();
    const id = c.accountUrl!.split("/acct/")[1];
    const onB = `${b.gw.urls.https}/acme/acct/${id}`;
    const nonce = await c.newNonce();
    const body = JSON.stringify(await c.jws(onB, "", { nonce, kid: onB }));

    const first = await c.postRaw(onB, body);
    expect(first.status).toBe(200);
    expect(first.json.status).toBe("valid");

    const replayB = await c.postRaw(onB, body);
    expect(replayB.status).toBe(400);
    expect(replayB.json.type).toBe(PROBLEM("badNonce"));
    expect(replayB.headers["content-type"]).toMatch(/application\/problem\+json/);
    expect(replayB.nonce).toMatch(/^[A-Za-z0-9_-]{44}$/);

    const replayA = await c.post(c.accountUrl!, "", { nonce });
    expect(replayA.status).toBe(400);
    expect(replayA.json.type).toBe(PROBLEM("badNonce"));

    // The fresh nonce B sent with its badNonce answer is good on A, once.
    const fromB = replayB.nonce!;
    expect((await c.post(c.accountUrl!, "", { nonce: fromB })).status).toBe(200);
    expect((await c.postRaw(onB, JSON.stringify(await c.jws(onB, "", { nonce: fromB, kid: onB })))).json.type).toBe(PROBLEM("badNonce"));
  });

  it("an altered nonce is refused with badNonce on either instance", async () => {
    const c = await a.account();
    const nonce = await c.newNonce();
    const raw = Buffer.from(nonce, "base64url");
    raw[20] ^= 0x40;
    const res = await c.post(c.accountUrl!, "", { nonce: raw.toString("base64url") });
    expect(res.status).toBe(400);
    expect(res.json.type).toBe(PROBLEM("badNonce"));
    expect((await c.post(c.accountUrl!, "", { nonce })).status).toBe(200);
  });

  it("an account deactivated through B is refused by A on its very next request (A's row cache is emptied)", async () => {
    const c = await a.account();
    expect((await c.post(c.accountUrl!, "")).status).toBe(200); // A now holds the row in memory
    const id = c.accountUrl!.split("/acct/")[1];
    const onB = `${b.gw.urls.https}/acme/acct/${id}`;
    const off = await c.postRaw(onB, JSON.stringify(await c.jws(onB, { status: "deactivated" }, { kid: onB })));
    expect(off.status).toBe(200);
    expect(off.json.status).toBe("deactivated");
    const refused = await c.post(c.accountUrl!, "");
    expect(refused.status).toBe(403);
    expect(refused.json.type).toBe(PROBLEM("unauthorized"));
  });
});
