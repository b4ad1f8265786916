import { generateKeyPairSync } from "node:crypto";
import { Agent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

function client(o: { freshSalt?: boolean; secret?: string } = {}): CmpClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  agents.push(agent);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return new CmpClient({ url: `${env.http}/.well-known/cmp`, kid: CMP_KID, secret: new TextEncoder().encode(o.secret ?? CMP_SECRET), key: privateKey, agent, freshSalt: o.freshSalt });
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
