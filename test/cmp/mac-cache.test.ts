import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { Agent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeSerial } from "../../src/ca/serial.js";
import { CmpClient } from "../bench/cmp-client.js";
import { CMP_KID, CMP_SECRET, cmpEnv, macCounters, type CmpEnv } from "./env.js";

let env: CmpEnv;
const agents: Agent[] = [];
beforeAll(async () => {
  env = await cmpEnv();
});
afterAll(async () => {
  for (const a of agents) a.destroy();
  await env?.close();
});

function client(o: { freshSalt?: boolean; secret?: string; label?: string } = {}): CmpClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  agents.push(agent);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return new CmpClient({ url: `${env.http}/.well-known/cmp${o.label ? `/p/${o.label}` : ""}`, kid: CMP_KID, secret: new TextEncoder().encode(o.secret ?? CMP_SECRET), key: privateKey, agent, freshSalt: o.freshSalt });
}

describe("PasswordBasedMac keys over HTTP (cr + certConf)", () => {
  it("a client that keeps its salt costs one derivation in all; answers reuse the request's key", async () => {
    const c = client();
    const before = await macCounters(env);
    for (let i = 0; i < 3; i++) {
      const r = await c.transaction(`keep-salt-${i}.example.com`);
      expect(r.ok, r.ok ? "" : r.error).toBe(true);
    }
    expect((await macCounters(env)).derivations).toBe(before.derivations + 1);
  });

  it("a fresh salt per message costs one derivation per message, the answer none", async () => {
    const c = client({ freshSalt: true });
    const before = await macCounters(env);
    const r = await c.transaction("fresh-salt.example.com");
    expect(r.ok, r.ok ? "" : r.error).toBe(true);
    expect((await macCounters(env)).derivations).toBe(before.derivations + 2);
  });

  it("a wrong secret is refused every time and never cached: each attempt derives", async () => {
    const c = client({ secret: "not-the-secret" });
    const before = await macCounters(env);
    for (let i = 0; i < 2; i++) {
      const r = await c.transaction(`wrong-${i}.example.com`);
      expect(r.ok).toBe(false);
    }
    expect((await macCounters(env)).derivations).toBe(before.derivations + 2);
  });
});

describe("audit of cr + certConf", () => {
  it("one cmp.request per message; an accepted cr's is recorded in its certificate.issued's commit, as the next event", async () => {
    const before = (await env.t.gw.store.queryAudit({ limit: 100_000 })).at(-1)!.seq;
    // Commits of their own (recordAsync): none; the certConf's commits with the end of its transaction (transactions.ts finish).
    const audit = env.t.gw.audit;
    const recordAsync = audit.recordAsync;
    const own: string[] = [];
    audit.recordAsync = (e) => (own.push(String(e.data?.bodyType)), recordAsync.call(audit, e));
    const r = await client().transaction("audited.example.com").finally(() => (audit.recordAsync = recordAsync));
    expect(own).toEqual([]);
    expect(r.ok, r.ok ? "" : r.error).toBe(true);
    const serial = normalizeSerial(new X509Certificate(r.ok ? r.cert : new Uint8Array()).serialNumber);
    const events = await env.t.gw.store.queryAudit({ afterSeq: before, limit: 1000 });
    const issued = events.findIndex((e) => e.type === "certificate.issued" && e.target === serial);
    expect(issued).toBeGreaterThanOrEqual(0);
    const requests = events.filter((e) => e.type === "cmp.request");
    expect(requests.map((e) => [e.data.bodyType, e.data.decision])).toEqual([["cr", "accepted"], ["certConf", "confirmed"]]);
    expect(events[issued + 1]).toMatchObject({ type: "cmp.request", actor: `cmp-kid:${CMP_KID}`, data: { label: "default", bodyType: "cr", decision: "accepted", serial, implicitConfirm: false } });
    expect(requests[1].data).toMatchObject({ label: "default", serial, transactionId: requests[0].data.transactionId });
    expect((await env.t.gw.audit.verify()).ok).toBe(true);

    // Answers without a certificate are recorded by the handler, once.
    const waiting = await client({ label: "approve" }).transaction("waits.example.com");
    expect(waiting.ok).toBe(false);
    const last = (await env.t.gw.store.queryAudit({ afterSeq: events.at(-1)!.seq, limit: 1000 })).filter((e) => e.type === "cmp.request");
    expect(last.map((e) => [e.data.label, e.data.bodyType, e.data.decision])).toEqual([["approve", "cr", "waiting"]]);
  });
});
