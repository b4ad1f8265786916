import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "./setup.js";

let env: AcmeTestEnv;
beforeAll(async () => {
  env = await acmeEnv({ maxBodyBytes: 4096 });
});
afterAll(async () => env?.close());

describe("ACME directory and nonces", () => {
  it("lists every resource and the meta fields, with a nonce and the index link", async () => {
    const c = await env.client();
    const res = await c.get(env.directory());
    expect(res.status).toBe(200);
    const d = res.json;
    for (const k of ["newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"]) expect(d[k]).toMatch(/^https:\/\/localhost:\d+\/acme\//);
    expect(d.meta.externalAccountRequired).toBe(false);
    expect(Object.keys(d.meta.profiles)).toContain("tls-server");
    expect(Object.keys(d.meta.profiles)).not.toContain("code-signing"); // not offered over ACME
    expect(res.headers["replay-nonce"]).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(String(res.headers.link)).toContain(`<${env.directory()}>;rel="index"`);
  });

  it("newNonce answers HEAD with 200 and GET with 204, each with a fresh nonce and no caching", async () => {
    const c = await env.client();
    const head = await c.request("HEAD", c.directory.newNonce);
    const get = await c.request("GET", c.directory.newNonce);
    expect([head.status, get.status]).toEqual([200, 204]);
    expect(head.headers["replay-nonce"]).not.toBe(get.headers["replay-nonce"]);
    expect(get.headers["cache-control"]).toBe("no-store");
  });

  it("errors are problem documents that still carry a nonce", async () => {
    const c = await env.client();
    const res = await c.get(`${env.t.gw.urls.https}/acme/no-such-thing`);
    expect(res.status).toBe(404);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json.type).toBe(PROBLEM("malformed"));
    expect(res.headers["replay-nonce"]).toBeTruthy();
    const get = await c.get(c.directory.newOrder);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
  });
});

describe("JWS rules (RFC 8555 §6.2–6.5)", () => {
  it("a replayed nonce is refused with badNonce", async () => {
    const c = await env.account();
    const nonce = await c.newNonce();
    const first = await c.post(c.accountUrl!, "", { nonce });
    expect(first.status).toBe(200);
    const again = await c.post(c.accountUrl!, "", { nonce });
    expect(again.status).toBe(400);
    expect(again.json.type).toBe(PROBLEM("badNonce"));
    const made = await c.post(c.accountUrl!, "", { nonce: "bm90LWEtbm9uY2UtZnJvbS11cw" });
    expect(made.json.type).toBe(PROBLEM("badNonce"));
  });

  it("a url that is not the request's is unauthorized", async () => {
    const c = await env.account();
    const res = await c.post(c.accountUrl!, "", { url: c.directory.newOrder });
    expect(res.status).toBe(403);
    expect(res.json.type).toBe(PROBLEM("unauthorized"));
  });

  it("alg none, HS256 and an algorithm not matching the key get badSignatureAlgorithm", async () => {
    const c = await env.account();
    for (const alg of ["none", "HS256", "ES384", "RS256"]) {
      const res = await c.post(c.accountUrl!, "", { alg });
      expect(res.status, alg).toBe(400);
      expect(res.json.type, alg).toBe(PROBLEM("badSignatureAlgorithm"));
    }
    const res = await c.post(c.accountUrl!, "", { alg: "HS256" });
    expect(res.json.algorithms).toContain("ES256");
  });

  it("jwk and kid together, kid on newAccount, jwk on newOrder are malformed", async () => {
    const c = await env.account();
    const both = await c.post(c.directory.newOrder, { identifiers: [{ type: "dns", value: "a.example.com" }] }, { useJwk: true, kid: c.accountUrl });
    expect(both.json.type).toBe(PROBLEM("malformed"));
    const jwkOrder = await c.post(c.directory.newOrder, { identifiers: [{ type: "dns", value: "a.example.com" }] }, { useJwk: true, kid: null });
    expect(jwkOrder.json.type).toBe(PROBLEM("malformed"));
    const kidAccount = await c.post(c.directory.newAccount, { termsOfServiceAgreed: true }, { kid: c.accountUrl });
    expect(kidAccount.json.type).toBe(PROBLEM("malformed"));
  });

  it("an unknown kid is accountDoesNotExist", async () => {
    const c = await env.account();
    const res = await c.post(c.directory.newOrder, { identifiers: [{ type: "dns", value: "a.example.com" }] }, { kid: `${env.t.gw.urls.https}/acme/acct/AAAAAAAAAAAAAAAA` });
    expect(res.status).toBe(400);
    expect(res.json.type).toBe(PROBLEM("accountDoesNotExist"));
  });

  it("a tampered signature and a key that did not sign are refused", async () => {
    const c = await env.account();
    const good = await c.jws(c.accountUrl!, "");
    const sig = Buffer.from(good.signature, "base64url");
    sig[5] ^= 1;
    const res = await c.postRaw(c.accountUrl!, JSON.stringify({ ...good, signature: sig.toString("base64url") }));
    expect(res.status).toBe(400);
    expect(res.json.type).toBe(PROBLEM("malformed"));
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const wrongKey = await c.post(c.accountUrl!, "", { key: other });
    expect(wrongKey.json.type).toBe(PROBLEM("malformed"));
  });

  it("general serialization, unprotected headers, wrong media type and oversized bodies are refused", async () => {
    const c = await env.account();
    const j = await c.jws(c.accountUrl!, "");
    const general = await c.postRaw(c.accountUrl!, JSON.stringify({ payload: j.payload, signatures: [{ protected: j.protected, signature: j.signature }] }));
    expect(general.json.type).toBe(PROBLEM("malformed"));
    const unprotected = await c.postRaw(c.accountUrl!, JSON.stringify({ ...j, header: { kid: "x" } }));
    expect(unprotected.json.type).toBe(PROBLEM("malformed"));
    const media = await c.postRaw(c.accountUrl!, JSON.stringify(await c.jws(c.accountUrl!, "")), "application/json");
    expect(media.status).toBe(415);
    const big = await c.post(c.directory.newOrder, { identifiers: [{ type: "dns", value: "a.example.com" }], pad: "x".repeat(5000) });
    expect(big.status, big.body.toString()).toBe(413);
    expect(big.json.type).toBe(PROBLEM("malformed"));
    expect(big.headers["replay-nonce"]).toBeTruthy();
    const garbage = await c.postRaw(c.accountUrl!, "{not json");
    expect(garbage.json.type).toBe(PROBLEM("malformed"));
  });

  it.each(["ES256", "ES384", "ES512", "RS256", "EdDSA"] as const)("accounts with %s keys work", async (alg) => {
    const c = await env.account({ alg });
    const res = await c.post(c.accountUrl!, "");
    expect(res.status).toBe(200);
    expect(res.json.status).toBe("valid");
  });
});
