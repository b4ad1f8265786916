import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EabKeys } from "../../protocols/acme/eab.js";
import { AcmeClient } from "../helpers/acme-client.js";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "./setup.js";

let env: AcmeTestEnv;
let eab: EabKeys;
beforeAll(async () => {
  env = await acmeEnv({
    endpoints: [
      { name: "default" },
      { name: "partners", externalAccountRequired: true, termsOfService: "https://example.com/tos", profiles: ["tls-server", "tls-client"] },
    ],
  });
  eab = new EabKeys(env.t.gw.store.acme, env.t.gw.profiles, env.t.gw.audit);
});
afterAll(async () => env?.close());

describe("ACME accounts", () => {
  it("creates an account once; the same key finds it again; onlyReturnExisting does not create", async () => {
    const c = await env.client();
    const created = await c.newAccount({ contact: ["mailto:ops@example.com"], termsOfServiceAgreed: true });
    expect(created.status).toBe(201);
    expect(created.location).toMatch(/\/acme\/acct\/[A-Za-z0-9_-]+$/);
    expect(created.json).toMatchObject({ status: "valid", contact: ["mailto:ops@example.com"] });
    const again = await c.newAccount({ termsOfServiceAgreed: true });
    expect(again.status).toBe(200);
    expect(again.location).toBe(created.location);
    const stranger = await env.client();
    const none = await stranger.newAccount({ onlyReturnExisting: true });
    expect(none.status).toBe(400);
    expect(none.json.type).toBe(PROBLEM("accountDoesNotExist"));
    expect((await env.t.gw.store.queryAudit({ type: "acme.account.created" })).some((e) => created.location!.endsWith(e.target!))).toBe(true);
  });

  it("concurrent newAccount calls with one key make one account, and every caller gets it", async () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const clients = await Promise.all([1, 2, 3, 4].map(() => AcmeClient.create({ directoryUrl: env.directory(), caPem: env.rootPem, key })));
    // The store is held while the requests arrive, so all of them pass the key look-up before one inserts (as
    // requests on two instances sharing a database can).
    let release!: () => void;
    const held = env.t.gw.store.transaction(() => new Promise<void>((r) => (release = r)));
    const pending = Promise.all(clients.map((c) => c.newAccount({ termsOfServiceAgreed: true })));
    await new Promise((r) => setTimeout(r, 300));
    release();
    await held;
    const res = await pending;
    expect(res.map((r) => r.status).sort()).toEqual([200, 200, 200, 201]);
    expect(new Set(res.map((r) => r.location)).size).toBe(1);
  });

  it("updates contacts, refuses bad ones, and lists the account's orders", async () => {
    const c = await env.account();
    const upd = await c.post(c.accountUrl!, { contact: ["mailto:new@example.com"] });
    expect(upd.json.contact).toEqual(["mailto:new@example.com"]);
    const bad = await c.post(c.accountUrl!, { contact: ["tel:+123"] });
    expect(bad.json.type).toBe(PROBLEM("malformed"));
    const order = await c.newOrder([{ type: "dns", value: "list.example.com" }]);
    const list = await c.post(upd.json.orders, "");
    expect(list.json.orders).toEqual([order.location]);
    const other = await env.account();
    const foreign = await other.post(upd.json.orders, "");
    expect(foreign.json.type).toBe(PROBLEM("unauthorized"));
  });

  it("a deactivated account can do nothing more", async () => {
    const c = await env.account();
    const d = await c.post(c.accountUrl!, { status: "deactivated" });
    expect(d.json.status).toBe("deactivated");
    const after = await c.newOrder([{ type: "dns", value: "x.example.com" }]);
    expect(after.status).toBe(403);
    expect(after.json.type).toBe(PROBLEM("unauthorized"));
  });

  it("rolls the account key over; the old key stops working; a key in use is a conflict", async () => {
    const c = await env.account();
    const oldJwk = c.jwk;
    const newKey = generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey;
    const other = await env.account();
    const inUse = await c.keyChange(other.key, "ES256");
    expect(inUse.status).toBe(409);
    expect(inUse.location).toBe(other.accountUrl);

    const res = await c.keyChange(newKey, "ES384");
    expect(res.status).toBe(200);
    const withOld = await c.post(c.accountUrl!, "");
    expect(withOld.status).toBe(400); // the old P-256 key no longer signs for this kid (now a P-384 key)
    expect([PROBLEM("badSignatureAlgorithm"), PROBLEM("malformed")]).toContain(withOld.json.type);
    const rolled = await AcmeClient.create({ directoryUrl: env.directory(), caPem: env.rootPem, key: newKey, alg: "ES384" });
    const found = await rolled.newAccount({ onlyReturnExisting: true });
    expect(found.location).toBe(c.accountUrl);
    expect(oldJwk).not.toEqual(rolled.jwk);
    expect((await env.t.gw.store.queryAudit({ type: "acme.account.keyChanged" }))).toHaveLength(1);
  });

  it("keyChange refuses an inner JWS whose url differs or whose oldKey is wrong", async () => {
    const c = await env.account();
    const newKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const badUrl = await c.keyChange(newKey, "ES256", { innerUrl: c.directory.newOrder });
    expect(badUrl.json.type).toBe(PROBLEM("malformed"));
    const stranger = await env.client();
    const badOld = await c.keyChange(newKey, "ES256", { oldJwk: stranger.jwk });
    expect(badOld.json.type).toBe(PROBLEM("unauthorized"));
  });
});

describe("external account binding", () => {
  it("is required where configured, with agreement to the terms", async () => {
    const c = await env.client({ endpoint: "partners" });
    expect(c.directory.meta).toMatchObject({ externalAccountRequired: true, termsOfService: "https://example.com/tos" });
    const none = await c.newAccount({ termsOfServiceAgreed: true });
    expect(none.json.type).toBe(PROBLEM("externalAccountRequired"));
    const k = await eab.create({ profiles: ["tls-server"], endpoint: "partners", createdBy: "test" });
    const noTos = await c.newAccount({ eab: { kid: k.kid, hmacKey: Buffer.from(k.hmacKey, "base64url") } });
    expect(noTos.json.type).toBe(PROBLEM("malformed"));
  });

  it.each(["HS256", "HS384", "HS512"] as const)("binds with %s once; the key cannot bind a second account", async (alg) => {
    const k = await eab.create({ profiles: ["tls-server"], endpoint: "partners", createdBy: "test" });
    const c = await env.client({ endpoint: "partners" });
    const ok = await c.newAccount({ termsOfServiceAgreed: true, eab: { kid: k.kid, hmacKey: Buffer.from(k.hmacKey, "base64url"), alg } });
    expect(ok.status).toBe(201);
    expect((await env.t.gw.store.acme.getEabKey(k.kid))?.accountId).toBe(ok.location!.split("/").pop());
    const d = await env.client({ endpoint: "partners" });
    const reuse = await d.newAccount({ termsOfServiceAgreed: true, eab: { kid: k.kid, hmacKey: Buffer.from(k.hmacKey, "base64url"), alg } });
    expect(reuse.status).toBe(403);
    expect(reuse.json.type).toBe(PROBLEM("unauthorized"));
  });

  it("a wrong MAC key, an unknown kid and a key for another endpoint are refused alike", async () => {
    const k = await eab.create({ profiles: ["tls-server"], endpoint: "default", createdBy: "test" });
    const c = await env.client({ endpoint: "partners" });
    const other = await c.newAccount({ termsOfServiceAgreed: true, eab: { kid: k.kid, hmacKey: Buffer.from(k.hmacKey, "base64url") } });
    expect(other.json.type).toBe(PROBLEM("unauthorized"));
    const k2 = await eab.create({ profiles: ["tls-server"], endpoint: "partners", createdBy: "test" });
    const wrong = await c.newAccount({ termsOfServiceAgreed: true, eab: { kid: k2.kid, hmacKey: Buffer.alloc(32, 7) } });
    expect(wrong.json.type).toBe(PROBLEM("unauthorized"));
    const unknown = await c.newAccount({ termsOfServiceAgreed: true, eab: { kid: "eab_unknown", hmacKey: Buffer.alloc(32, 7) } });
    expect(unknown.json.detail).toBe(wrong.json.detail);
  });

  it("the bound account may use only the key's profiles and names", async () => {
    const k = await eab.create({ profiles: ["tls-server"], nameSuffixes: ["team.example.com"], endpoint: "partners", createdBy: "test" });
    const c = await env.client({ endpoint: "partners" });
    await c.newAccount({ termsOfServiceAgreed: true, eab: { kid: k.kid, hmacKey: Buffer.from(k.hmacKey, "base64url") } });
    const ok = await c.newOrder([{ type: "dns", value: "www.team.example.com" }]);
    expect(ok.status).toBe(201);
    const outside = await c.newOrder([{ type: "dns", value: "www.example.com" }]);
    expect(outside.json.type).toBe(PROBLEM("rejectedIdentifier"));
    const profile = await c.newOrder([{ type: "dns", value: "www.team.example.com" }], { profile: "tls-client" });
    expect(profile.json.type).toBe(PROBLEM("invalidProfile"));
  });

  it("keys are minted and listed through the admin API without revealing the MAC key", async () => {
    const { default: request } = await import("supertest");
    const { appsFor } = await import("../helpers/gateway.js");
    const apps = await appsFor(env.t.gw);
    const auth = { Authorization: `Bearer ${env.t.token}` };
    const made = await request(apps.https).post("/admin/api/v1/acme/eab-keys").set(auth).send({ profiles: ["tls-server"], nameSuffixes: ["example.com"] });
    expect(made.status).toBe(201);
    expect(made.body.hmacKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const list = await request(apps.https).get("/admin/api/v1/acme/eab-keys").set(auth);
    const listed = list.body.keys.find((x: { kid: string }) => x.kid === made.body.kid);
    expect(listed).toMatchObject({ profiles: ["tls-server"], nameSuffixes: ["example.com"] });
    expect(JSON.stringify(list.body)).not.toContain(made.body.hmacKey);
    const unauth = await request(apps.https).post("/admin/api/v1/acme/eab-keys").send({ profiles: ["tls-server"] });
    expect(unauth.status).toBe(401);
  });
});
