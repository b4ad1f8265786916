import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "node:http";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import { DEFAULT_MAX_REQUEST_BYTES } from "../../src/revocation/ocsp-request.js";
import type { RunningServers } from "../../src/server/listen.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { addIssued, countSignatures, ocspRequest, parseResponse } from "./ocsp-helpers.js";

let t: TestGateway;
let servers: RunningServers;
let base: string;
let ca: CertificateAuthority;
let signatures: { readonly count: number };

beforeAll(async () => {
  t = await testGateway();
  const { startServers } = await import("../../src/server/listen.js");
  servers = await startServers(t.gw);
  base = `http://127.0.0.1:${servers.httpPort}`;
  ca = t.gw.cas.issuing[0];
  signatures = countSignatures(ca);
});
afterAll(async () => {
  await servers?.close();
  await t?.gw.close();
});

const getUrl = (der: Uint8Array) => `${base}/ocsp/${encodeURIComponent(Buffer.from(der).toString("base64"))}`;
const post = (der: Uint8Array) => fetch(`${base}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: Buffer.from(der) });
const bytes = async (res: Response) => new Uint8Array(await res.arrayBuffer());

describe("OCSP over HTTP with pre-signed responses", () => {
  it("GET carries RFC 5019 caching headers consistent with the response; If-None-Match gives 304", async () => {
    const serial = await addIssued(t.gw.store, ca.name);
    const res = await fetch(getUrl(ocspRequest(ca.certDer, [serial])));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/ocsp-response");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const parsed = parseResponse(await bytes(res));
    expect(parsed.certs).toEqual([{ status: "good" }]);
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get("cache-control") ?? "")?.[1]);
    expect(res.headers.get("cache-control")).toMatch(/^max-age=\d+, public, no-transform, must-revalidate$/);
    const left = (parsed.nextUpdate!.getTime() - Date.now()) / 1000;
    expect(maxAge).toBeLessThanOrEqual(Math.ceil(left));
    expect(maxAge).toBeGreaterThanOrEqual(Math.floor(left) - 5);
    expect(res.headers.get("last-modified")).toBe(parsed.thisUpdate!.toUTCString());
    expect(res.headers.get("expires")).toBe(parsed.nextUpdate!.toUTCString());
    const etag = res.headers.get("etag")!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);

    const again = await fetch(getUrl(ocspRequest(ca.certDer, [serial])));
    expect(again.headers.get("etag")).toBe(etag);
    expect(again.headers.get("last-modified")).toBe(res.headers.get("last-modified"));
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const notModified = await fetch(getUrl(ocspRequest(ca.certDer, [serial])), { headers: { "if-none-match": inm } });
      expect(notModified.status).toBe(304);
      expect(notModified.headers.get("etag")).toBe(etag);
      expect((await bytes(notModified)).length).toBe(0);
    }
    expect((await fetch(getUrl(ocspRequest(ca.certDer, [serial])), { headers: { "if-none-match": '"stale"' } })).status).toBe(200);
  });

  it("a revocation by another instance changes the ETag at once, so a client's old tag no longer gets 304", async () => {
    const serial = await addIssued(t.gw.store, ca.name);
    const first = await fetch(getUrl(ocspRequest(ca.certDer, [serial])));
    const etag = first.headers.get("etag")!;
    const other = new SqliteStore(t.gw.paths.db);
    try {
      await other.revoke(serial, 1, new Date().toISOString());
    } finally {
      await other.close();
    }
    const after = await fetch(getUrl(ocspRequest(ca.certDer, [serial])), { headers: { "if-none-match": etag } });
    expect(after.status).toBe(200);
    expect(after.headers.get("etag")).not.toBe(etag);
    expect(parseResponse(await bytes(after)).certs[0]).toMatchObject({ status: "revoked", reason: 1 });
  });

  it("POST shares the cache with GET but sends no shared-cache headers", async () => {
    const serial = await addIssued(t.gw.store, ca.name);
    const before = signatures.count;
    const get = await bytes(await fetch(getUrl(ocspRequest(ca.certDer, [serial]))));
    const res = await post(ocspRequest(ca.certDer, [serial]));
    expect(res.status).toBe(200);
    expect(Buffer.from(await bytes(res)).equals(Buffer.from(get))).toBe(true);
    expect(signatures.count).toBe(before + 1);
    expect(res.headers.get("cache-control")).toBeNull();
    expect(res.headers.get("etag")).toBeNull();
    expect(res.headers.get("expires")).toBeNull();
  });

  it("a GET with a nonce is signed fresh and marked no-store", async () => {
    const serial = await addIssued(t.gw.store, ca.name);
    const res = await fetch(getUrl(ocspRequest(ca.certDer, [serial], Buffer.alloc(16, 7))));
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("etag")).toBeNull();
    expect(parseResponse(await bytes(res)).nonceHex).toBe(`0410${"07".repeat(16)}`);
  });

  it("garbage, junk GET paths and empty bodies get malformedRequest; an over-cap body gets 413 with malformedRequest", async () => {
    const malformed = [0x30, 0x03, 0x0a, 0x01, 0x01];
    for (const res of [await post(Uint8Array.of(0x30, 0x84, 1, 2)), await post(new Uint8Array(0)), await fetch(`${base}/ocsp/%%%`), await fetch(`${base}/ocsp/AAAA`)]) {
      expect(res.status).toBe(200);
      expect(Array.from(await bytes(res))).toEqual(malformed);
    }
    const big = await post(new Uint8Array(DEFAULT_MAX_REQUEST_BYTES + 1));
    expect(big.status).toBe(413);
    expect(Array.from(await bytes(big))).toEqual(malformed);
    // Without Content-Length (chunked), the cap holds too.
    const chunked = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const r = request(`${base}/ocsp`, { method: "POST", headers: { "transfer-encoding": "chunked" } }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      });
      r.on("error", reject);
      for (let i = 0; i <= DEFAULT_MAX_REQUEST_BYTES / 1024; i++) r.write(new Uint8Array(1024));
      r.end();
    });
    expect(chunked.status).toBe(413);
    expect(Array.from(chunked.body)).toEqual(malformed);
  });

  it("other routes still reach the app (the OCSP front hands them on)", async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/ocsp`)).status).toBe(404);
  });
});
