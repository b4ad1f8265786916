import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comparable, rawRequest, serveAlone, type Send } from "../est/front-compare.js";
import { scepEnv, type ScepEnv } from "./setup.js";

/*
 * SCEP is served on plain req/res ahead of express (the HTTP listener's front). The express mount stays for the
 * app used alone; both must answer alike, ETag and 304 included (what express's send gave these answers).
 */

let env: ScepEnv;
let alone: Awaited<ReturnType<typeof serveAlone>>;
beforeAll(async () => {
  env = await scepEnv();
  alone = await serveAlone(env.servers.apps.http);
});
afterAll(async () => {
  await alone?.close();
  await env?.close();
});

async function both(path: string, o: Send = {}) {
  const headers = { "X-Request-Id": "scep-front-1", ...o.headers };
  const front = await rawRequest(`${env.http}${path}`, { ...o, headers });
  const express = await rawRequest(`${alone.url}${path}`, { ...o, headers });
  expect(comparable(front), `${o.method ?? "GET"} ${path}`).toEqual(comparable(express));
  return front;
}

describe("SCEP ahead of express", () => {
  it("GetCACaps and GetCACert answer alike on every path, with ETag, 304 and HEAD", async () => {
    const caps = await both("/scep?operation=GetCACaps");
    expect(caps.status).toBe(200);
    expect(caps.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(caps.headers["x-request-id"]).toBe("scep-front-1");
    expect(caps.body.toString()).toContain("POSTPKIOperation");
    const cert = await both("/cgi-bin/pkiclient.exe?operation=GetCACert&message=x");
    expect(cert.headers["content-type"]).toBe("application/x-x509-ca-ra-cert");
    expect(cert.headers.etag).toMatch(/^W\/"/);
    expect((await both("/scep?operation=GetCACert", { headers: { "If-None-Match": cert.headers.etag } })).status).toBe(304);
    await both("/scep/legacy?operation=GetCACert", { method: "HEAD" });
    await both("/scep/legacy/?operation=GetNextCACert");
    await both("/CERTSRV/MSCEP/MSCEP.DLL?operation=GetCACaps");
  });

  it("refusals answer alike: unknown endpoint or operation, wrong method, bad messages, over the cap", async () => {
    expect((await both("/scep/nobody?operation=GetCACaps")).status).toBe(404);
    expect((await both("/scep?operation=Nope")).status).toBe(400);
    expect((await both("/scep?operation=GetCACaps&operation=GetCACaps")).status).toBe(400);
    expect((await both("/scep?operation=GetCACaps", { method: "PUT" })).status).toBe(405);
    expect((await both("/scep/%E0%A4%A?operation=GetCACaps")).status).toBe(400);
    expect((await both("/scep?operation=PKIOperation&message=%%%")).status).toBe(400);
    expect((await both("/scep?operation=PKIOperation", { method: "POST", body: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]) })).status).toBe(400);
    expect((await both("/scep?operation=PKIOperation", { method: "POST" })).status).toBe(400);
    const big = await both("/scep?operation=PKIOperation", { method: "POST", body: Buffer.alloc(300 * 1024) });
    expect(big.status).toBe(413);
    expect((await both("/scep?operation=PKIOperation", { method: "POST", headers: { "Content-Encoding": "gzip" }, body: gzipSync(Buffer.alloc(300 * 1024)) })).status).toBe(413);
    expect((await both("/scep?operation=PKIOperation", { method: "POST", headers: { "Content-Encoding": "compress" }, body: "x" })).status).toBe(400);
  });

  it("leaves other paths to express", async () => {
    expect((await rawRequest(`${env.http}/scepX?operation=GetCACaps`)).status).toBe(404);
    expect((await rawRequest(`${env.http}/healthz`)).status).toBe(200);
  });
});
