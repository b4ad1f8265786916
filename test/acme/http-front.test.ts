import { generateKeyPairSync } from "node:crypto";
import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountKeySpki } from "../../protocols/acme/signed-request.js";
import type { AcmeAccountRecord } from "../../src/store/acme-types.js";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "./setup.js";

/*
 * ACME is served on plain req/res ahead of express (AcmeContext.front). These pin down what express used
 * to provide there: request ids, problem documents for unknown paths and methods, the body rules, and
 * the same answers from the express mount when the app is used on its own.
 */

let env: AcmeTestEnv;
beforeAll(async () => {
  env = await acmeEnv();
});
afterAll(async () => env?.close());

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function send(path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${env.t.gw.urls.https}${path}`, { method: o.method ?? "GET", headers: o.headers, ca: env.rootPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

describe("ACME ahead of express", () => {
  it("answers with the request id conventions and a nonce on every answer", async () => {
    const r = await send("/acme/directory", { headers: { "X-Request-Id": "acme-front-1" } });
    expect(r.status).toBe(200);
    expect(r.headers["x-request-id"]).toBe("acme-front-1");
    expect(r.headers["replay-nonce"]).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(r.headers["cache-control"]).toBe("no-store");
  });

  it("GET on a POST resource is 405 with Allow, an unknown path 404, both problem documents with a nonce", async () => {
    const get = await send("/acme/new-order");
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
    expect(get.headers["content-type"]).toBe("application/problem+json");
    expect(JSON.parse(get.body).type).toBe(PROBLEM("malformed"));
    const none = await send("/acme/no-such-thing");
    expect(none.status).toBe(404);
    expect(none.headers["replay-nonce"]).toBeTruthy();
    // A path that only starts like the endpoint is not ACME's.
    expect((await send("/acmeX/directory")).headers["replay-nonce"]).toBeUndefined();
  });

  it("HEAD newNonce is 200 and GET 204, both with a nonce", async () => {
    expect((await send("/acme/new-nonce", { method: "HEAD" })).status).toBe(200);
    const g = await send("/acme/new-nonce");
    expect(g.status).toBe(204);
    expect(g.headers["replay-nonce"]).toBeTruthy();
  });

  it("refuses a compressed body (415) and a wrong media type (415) as problems", async () => {
    const gz = await send("/acme/new-order", { method: "POST", headers: { "Content-Type": "application/jose+json", "Content-Encoding": "gzip" }, body: "x" });
    expect(gz.status).toBe(415);
    expect(JSON.parse(gz.body).type).toBe(PROBLEM("malformed"));
    const json = await send("/acme/new-order", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(json.status).toBe(415);
  });

  it("the express mount answers the same when the app is used without the listener's front", async () => {
    const { default: request } = await import("supertest");
    const { appsFor } = await import("../helpers/gateway.js");
    const apps = await appsFor(env.t.gw);
    const dir = await request(apps.https).get("/acme/directory");
    expect(dir.status).toBe(200);
    expect(dir.body.newNonce).toBe(`${env.t.gw.urls.https}/acme/new-nonce`);
    expect(dir.headers["replay-nonce"]).toBeTruthy();
    const get = await request(apps.https).get("/acme/new-order");
    expect(get.status).toBe(405);
  });

  it("a full flow still issues through the front", async () => {
    const c = await env.account();
    const id = `front-${Date.now()}.example.com`;
    const out = await c.issue([{ type: "dns", value: id }], {
      publish: (token, keyAuth) => void env.http01.answers.set(token, keyAuth),
    });
    expect(out.order.status).toBe("valid");
    expect(out.certPem).toContain("BEGIN CERTIFICATE");
  });
});

describe("account key SPKI cache", () => {
  it("exports the account key's SPKI once per cached key, equal to a fresh export", () => {
    const pub = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    const account: AcmeAccountRecord = { id: "spki-1", endpoint: "default", thumbprint: "tp-spki-1", jwk: JSON.stringify(pub.export({ format: "jwk" })), status: "valid", contact: [], createdAt: "2025-01-01T00:00:00Z" };
    const first = accountKeySpki(account);
    expect(Buffer.from(first).equals(pub.export({ type: "spki", format: "der" }))).toBe(true);
    expect(accountKeySpki(account)).toBe(first);
  });
});
