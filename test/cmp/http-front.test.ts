import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comparable, rawRequest, serveAlone, type Raw, type Send } from "../est/front-compare.js";
import { capturedIr, cmpEnv, type CmpEnv } from "./env.js";

/*
 * CMP is served on plain req/res ahead of express (the HTTP listener's front). The express mount stays for the
 * app used alone; both must answer alike.
 */

let env: CmpEnv;
let alone: Awaited<ReturnType<typeof serveAlone>>;
beforeAll(async () => {
  env = await cmpEnv();
  alone = await serveAlone(env.servers.apps.http);
});
afterAll(async () => {
  await alone?.close();
  await env?.close();
});

async function both(path: string, o: Send = {}): Promise<[Raw, Raw]> {
  const headers = { "X-Request-Id": "cmp-front-1", ...o.headers };
  return [await rawRequest(`${env.http}${path}`, { ...o, headers }), await rawRequest(`${alone.url}${path}`, { ...o, headers })];
}

async function same(path: string, o: Send = {}): Promise<Raw> {
  const [front, express] = await both(path, o);
  expect(comparable(front), `${o.method ?? "GET"} ${path}`).toEqual(comparable(express));
  return front;
}

const PKIXCMP = { "Content-Type": "application/pkixcmp" };

describe("CMP ahead of express", () => {
  it("refusals answer alike: unknown label, wrong method, media type, over the cap, bad encodings", async () => {
    expect((await same("/.well-known/cmp/p/nobody", { method: "POST", headers: PKIXCMP, body: "x" })).status).toBe(404);
    const get = await same("/.well-known/cmp");
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
    expect(get.headers["x-request-id"]).toBe("cmp-front-1");
    expect((await same("/.WELL-KNOWN/CMP/", { method: "HEAD" })).status).toBe(405);
    expect((await same("/.well-known/cmp", { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: "x" })).status).toBe(415);
    expect((await same("/.well-known/cmp/p/%E0%A4%A", { method: "POST", headers: PKIXCMP, body: "x" })).status).toBe(400);
    expect((await same("/.well-known/cmp", { method: "POST", headers: PKIXCMP, body: Buffer.alloc(300 * 1024) })).status).toBe(413);
    expect((await same("/.well-known/cmp", { method: "POST", headers: { ...PKIXCMP, "Content-Encoding": "compress" }, body: "x" })).status).toBe(400);
  });

  it("answers a PKIMessage the same way (a signed error for junk, an ip for an ir)", async () => {
    // Signatures differ per answer: status and headers are compared, and the body kind.
    const headersOf = (r: Raw) => ({ status: r.status, type: r.headers["content-type"], cache: r.headers["cache-control"], id: r.headers["x-request-id"], etag: r.headers.etag });
    const [fj, ej] = await both("/.well-known/cmp", { method: "POST", headers: PKIXCMP, body: Buffer.from([0x30, 0x00]) });
    expect(headersOf(fj)).toEqual(headersOf(ej));
    expect(fj.status).toBe(200);
    expect(fj.headers["content-type"]).toBe("application/pkixcmp");
    const ir = await capturedIr(env, "front-ir");
    const r = await rawRequest(`${env.http}/.well-known/cmp/p/default`, { method: "POST", headers: PKIXCMP, body: Buffer.from(ir) });
    expect(r.status).toBe(200);
    expect(r.body[0]).toBe(0x30);
  });
});
