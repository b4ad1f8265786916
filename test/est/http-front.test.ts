import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comparable, rawRequest, serveAlone, type Send } from "./front-compare.js";
import { EST_USER, estEnv, makeCsr, type EstEnv } from "./setup.js";

/*
 * EST is served on plain req/res ahead of express (the HTTPS listener's front). The express mount stays for the
 * app used alone; both must answer alike, for successes and for every refusal.
 */

let env: EstEnv;
let alone: Awaited<ReturnType<typeof serveAlone>>;
let ca: string;
beforeAll(async () => {
  env = await estEnv();
  ca = readFileSync(env.rootPem, "utf8");
  alone = await serveAlone(env.servers.apps.https);
});
afterAll(async () => {
  await alone?.close();
  await env?.close();
});

const basic = `Basic ${Buffer.from(`${EST_USER.name}:${EST_USER.password}`).toString("base64")}`;

/** The same request through the listener's front and to the express app alone: equal answers. */
async function both(path: string, o: Send = {}) {
  const headers = { "X-Request-Id": "est-front-1", ...o.headers };
  const front = await rawRequest(`https://localhost:${env.servers.httpsPort}${path}`, { ...o, headers }, ca);
  const express = await rawRequest(`${alone.url}${path}`, { ...o, headers });
  expect(comparable(front), `${o.method ?? "GET"} ${path}`).toEqual(comparable(express));
  return front;
}

describe("EST ahead of express", () => {
  it("cacerts, csrattrs and HEAD answer alike, with the request id", async () => {
    const r = await both("/.well-known/est/cacerts");
    expect(r.status).toBe(200);
    expect(r.headers["x-request-id"]).toBe("est-front-1");
    expect(r.headers["content-type"]).toBe("application/pkcs7-mime");
    await both("/.well-known/est/approve/cacerts", { method: "HEAD" });
    await both("/.well-known/est/csrattrs");
    // express's routing is case-insensitive and tolerates one trailing slash; the front matches the same.
    expect((await both("/.WELL-KNOWN/EST/cacerts/")).status).toBe(200);
  });

  it("unknown resources, wrong methods and fullcmc are refused alike", async () => {
    expect((await both("/.well-known/est")).status).toBe(404);
    expect((await both("/.well-known/est/nolabel/cacerts")).status).toBe(404);
    expect((await both("/.well-known/est/a/b/c")).status).toBe(404);
    expect((await both("/.well-known/est/%E0%A4%A/cacerts")).status).toBe(404);
    const get = await both("/.well-known/est/simpleenroll");
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
    expect((await both("/.well-known/est/cacerts", { method: "POST", body: "x" })).status).toBe(405);
    expect((await both("/.well-known/est/fullcmc", { method: "POST", body: "x" })).status).toBe(501);
  });

  it("no credentials is 401 with the Basic challenge; over the cap 413; a wrong media type 415", async () => {
    const csr = makeCsr(env.dir, "front-none", { subject: "/CN=front-none.example.com" });
    const none = await both("/.well-known/est/simpleenroll", { method: "POST", headers: { "Content-Type": "application/pkcs10" }, body: readFileSync(csr.body) });
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Basic realm="EST default"/);
    const big = await both("/.well-known/est/simpleenroll", { method: "POST", headers: { Authorization: basic, "Content-Type": "application/pkcs10" }, body: Buffer.alloc(64 * 1024, 0x41) });
    expect(big.status).toBe(413);
    expect(big.headers["x-error-code"]).toBe("RA_ERR_BODY_TOO_LARGE");
    const media = await both("/.well-known/est/simpleenroll", { method: "POST", headers: { Authorization: basic, "Content-Type": "text/plain" }, body: readFileSync(csr.body) });
    expect(media.status).toBe(415);
  });

  it("a gzip body is inflated and enrolls; the repeat through express gets the same recorded answer", async () => {
    const csr = makeCsr(env.dir, "front-gzip", { subject: "/CN=front-gzip.example.com", sans: "DNS:front-gzip.example.com" });
    const headers = { Authorization: basic, "Content-Type": "application/pkcs10", "Content-Encoding": "gzip" };
    const r = await both("/.well-known/est/simpleenroll", { method: "POST", headers, body: gzipSync(readFileSync(csr.body)) });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/pkcs7-mime; smime-type=certs-only");
    const corrupt = await both("/.well-known/est/simpleenroll", { method: "POST", headers, body: Buffer.from("not gzip") });
    expect(corrupt.status).toBe(400);
    const unknown = await both("/.well-known/est/simpleenroll", { method: "POST", headers: { ...headers, "Content-Encoding": "compress" }, body: "x" });
    expect(unknown.headers["x-error-code"]).toBe("RA_ERR_MALFORMED");
  });

  it("counts the requests in the listener's metrics and leaves other paths to express", async () => {
    const metrics = await rawRequest(`https://localhost:${env.servers.httpsPort}/metrics`, {}, ca);
    expect(metrics.body.toString()).toMatch(/gateway_http_requests_total\{listener="https",method="HEAD",status="200"\}/);
    expect((await rawRequest(`https://localhost:${env.servers.httpsPort}/.well-known/estX/cacerts`, {}, ca)).status).toBe(404);
  });
});
