import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweep } from "../../protocols/cmp/index.js";
import { decodePkiMessage } from "../../protocols/cmp/codec.js";
import { TransactionTable } from "../../protocols/cmp/transactions.js";
import type { GatewayConfig } from "../../src/config/schema.js";
import { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import { openGateway, type Gateway } from "../../src/gateway.js";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { generateKeyPairSync } from "node:crypto";
import { Agent } from "node:http";
import { CmpClient, type Answer } from "../bench/cmp-client.js";
import { genKey } from "../helpers/openssl.js";
import { capturedIr, CMP_KID, CMP_SECRET, cmpEnv, opensslCmp, type CmpEnv } from "./env.js";

/**
 * Several gateways on one SQLite file (each its own connection, as separate processes have): a CMP transaction
 * opened on one is followed up on another, or on the same one restarted.
 */
interface Instance {
  gw: Gateway;
  servers: RunningServers;
  http: string;
  close(): Promise<void>;
}

async function instance(config: GatewayConfig): Promise<Instance> {
  const gw = await openGateway(config, pino({ level: "silent" }));
  const servers = await startServers(gw);
  return { gw, servers, http: `http://127.0.0.1:${servers.httpPort}`, close: async () => { await servers.close(); await gw.close(); } };
}

/** An HTTP proxy sending the n-th request to `route(n)` (after awaiting it): one openssl cmp run spread over instances. */
async function proxy(route: (n: number) => Promise<string>): Promise<{ server: string; sent: string[]; close(): Promise<void> }> {
  let n = 0;
  const sent: string[] = [];
  const srv: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", async () => {
      const to = await route(n++);
      sent.push(to);
      const r = await fetch(`${to}${req.url}`, { method: req.method, headers: { "content-type": req.headers["content-type"] ?? "application/pkixcmp" }, body: Buffer.concat(parts) });
      res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/pkixcmp" });
      res.end(Buffer.from(await r.arrayBuffer()));
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return { server: `127.0.0.1:${(srv.address() as AddressInfo).port}`, sent, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

let env: CmpEnv;
let a: Instance;
/** B answers with a short confirmation wait, so its unconfirmed certificates are settled within the test. */
let b: Instance;
beforeAll(async () => {
  env = await cmpEnv();
  a = { gw: env.t.gw, servers: env.servers, http: env.http, close: () => env.close() };
  b = await instance({ ...env.t.config, cmp: { ...env.t.config.cmp, confirmWaitSeconds: 5 } });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const cmpEvents = async (gw: Gateway, transactionId: string) => (await gw.store.queryAudit({ type: "cmp.request", limit: 10_000 })).filter((e) => e.data.transactionId === transactionId).map((e) => e.data);

async function irThrough(p: { server: string }, name: string, kid = CMP_KID, secret = CMP_SECRET): Promise<{ code: number; out: string }> {
  return opensslCmp(["-server", p.server, "-path", ".well-known/cmp", "-ref", kid, "-secret", `pass:${secret}`, "-mac", "hmacWithSHA256",
    "-cmd", "ir", "-newkey", genKey(env.dir, name), "-subject", `/CN=${name}.example.com`, "-certout", join(env.dir, `${name}.pem`)]);
}

const lastTransaction = async (gw: Gateway, bodyType = "ir") => String((await gw.store.queryAudit({ type: "cmp.request", limit: 10_000 })).filter((e) => e.data.bodyType === bodyType).at(-1)!.data.transactionId);

describe("CMP transactions across instances", () => {
  it("ir on A, certConf on B: confirmed", async () => {
    const p = await proxy(async (n) => (n === 0 ? a.http : b.http));
    const r = await irThrough(p, "multi1");
    await p.close();
    expect(r.code, r.out).toBe(0);
    expect(p.sent).toEqual([a.http, b.http]);
    const events = await cmpEvents(b.gw, await lastTransaction(b.gw));
    expect(events.map((e) => `${e.bodyType}:${e.decision}`)).toEqual(["ir:accepted", "certConf:confirmed"]);
  });

  it("with a one-time secret (used up by the ir), the certConf on B verifies with it too", async () => {
    const minted = await new EnrollmentSecrets(a.gw.store, a.gw.profiles, a.gw.audit, a.gw.secretSealKey).mint({ profile: "device", protocols: ["cmp"] }, "admin:test");
    const p = await proxy(async (n) => (n === 0 ? a.http : b.http));
    const r = await irThrough(p, "multi2", minted.id, minted.secret);
    await p.close();
    expect(r.code, r.out).toBe(0);
    expect((await a.gw.store.getSecret(minted.id))?.usedAt).toBeDefined();
    expect((await cmpEvents(a.gw, await lastTransaction(a.gw))).map((e) => e.decision)).toEqual(["accepted", "confirmed"]);
  });

  it("the same certConf handed to A and B at once: one confirms, the other refuses", async () => {
    const post = async (to: Instance, der: Uint8Array): Promise<Answer> => {
      const r = await fetch(`${to.http}/.well-known/cmp`, { method: "POST", headers: { "content-type": "application/pkixcmp" }, body: Buffer.from(der) });
      return { status: r.status, contentType: r.headers.get("content-type") ?? "", body: Buffer.from(await r.arrayBuffer()) };
    };
    let n = 0;
    const send = async (der: Uint8Array): Promise<Answer> => {
      if (n++ === 0) return post(a, der);
      const answers = await Promise.all([post(a, der), post(b, der)]);
      return answers.find((x) => decodePkiMessage(x.body).bodyType === "pkiconf") ?? answers[0];
    };
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const client = new CmpClient({ url: "unused", kid: CMP_KID, secret: new TextEncoder().encode(CMP_SECRET), key: privateKey, agent: new Agent(), send });
    const r = await client.transaction("race1.example.com");
    expect(r.ok, r.ok ? "" : r.error).toBe(true);
    const confs = (await cmpEvents(a.gw, await lastTransaction(a.gw, "cr"))).filter((e) => e.bodyType === "certConf");
    expect(confs.map((e) => e.decision).sort()).toEqual(["confirmed", "error"]);
    expect(confs.find((e) => e.decision === "error")?.failInfo).toEqual(["badRequest"]);
  });

  it("a gateway restarted between ir and certConf accepts the certConf", async () => {
    const p = await proxy(async (n) => {
      if (n === 1) {
        await a.close();
        a = await instance(env.t.config);
      }
      return a.http;
    });
    const r = await irThrough(p, "multi3");
    await p.close();
    expect(r.code, r.out).toBe(0);
    expect(new Set(p.sent).size).toBe(2); // another listener: the restarted gateway
    expect((await cmpEvents(a.gw, await lastTransaction(a.gw))).map((e) => `${e.bodyType}:${e.decision}`)).toEqual(["ir:accepted", "certConf:confirmed"]);
  });

  it("a transactionID used on B is refused on A; B's unconfirmed certificate is revoked exactly once", async () => {
    const ir = await capturedIr(env, "multi4");
    const txid = Buffer.from(decodePkiMessage(ir).message.header.transactionID!).toString("hex");
    const post = (to: Instance) => fetch(`${to.http}/.well-known/cmp`, { method: "POST", headers: { "content-type": "application/pkixcmp" }, body: Buffer.from(ir) });
    expect((await post(b)).status).toBe(200);
    expect((await post(a)).status).toBe(200);
    const events = await cmpEvents(a.gw, txid);
    expect(events.map((e) => e.decision)).toEqual(["accepted", "error"]);
    expect(events[1].failInfo).toEqual(["transactionIdInUse"]);
    const serial = String(events[0].serial);
    // Never confirmed: settled when B's wait (5 s) ends, by whichever instance's sweep claims it first.
    const timeouts = async () => (await a.gw.store.queryAudit({ type: "cmp.confirm.timeout", limit: 10_000 })).filter((e) => e.target === serial);
    while ((await timeouts()).length === 0) await new Promise((r) => setTimeout(r, 200));
    // Both instances sweep again (besides their own timers): none settles it a second time.
    const table = (gw: Gateway) => new TransactionTable(gw.store, { maxOpen: 1000, rememberMs: 3600_000 });
    await Promise.all([sweep(a.gw, table(a.gw)), sweep(b.gw, table(b.gw))]);
    expect(await timeouts()).toHaveLength(1);
    expect((await a.gw.store.queryAudit({ type: "certificate.revoked", limit: 10_000 })).filter((e) => e.target === serial)).toHaveLength(1);
    expect((await a.gw.store.getCertificate(serial))?.revokedAt).toBeDefined();
  }, 60_000);
});
