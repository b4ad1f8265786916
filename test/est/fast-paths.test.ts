import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBody, rawBody } from "../../src/server/raw-body.js";
import { certFacts, certIds } from "../../src/cms/der.js";
import { cachedCertsOnly, certsOnly } from "../../src/cms/signed-data.js";
import { bodyParserError } from "../../src/server/middleware.js";
import { openssl, tempDir } from "../helpers/openssl.js";

/** What the reader made of one request: the body's length, or the error's type and status. */
type Seen = { length?: number; none?: boolean; type?: string; status?: number };

let server: Server;
let url: string;
const LIMIT = 1024;
beforeAll(async () => {
  server = createServer((req, res) => {
    readBody(req, LIMIT).then(
      (b) => res.end(JSON.stringify(b === undefined ? { none: true } : { length: b.length })),
      (e: { type?: string; status?: number }) => res.end(JSON.stringify({ type: e.type, status: e.status })),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function send(o: { body?: Buffer[]; headers?: Record<string, string | number>; method?: string }): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? "POST", headers: o.headers, agent: false }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve(JSON.parse(text) as Seen));
    });
    req.on("error", reject);
    for (const chunk of o.body ?? []) req.write(chunk);
    req.end();
  });
}

describe("readBody (express.raw's contract, leaner)", () => {
  it("reads a body up to the cap, in one piece or chunked", async () => {
    expect(await send({ body: [Buffer.alloc(LIMIT, 1)] })).toEqual({ length: LIMIT });
    expect(await send({ body: [Buffer.alloc(300), Buffer.alloc(300)], headers: { "Transfer-Encoding": "chunked" } })).toEqual({ length: 600 });
    expect(await send({ body: [], headers: { "Content-Length": 0 } })).toEqual({ length: 0 });
  });

  it("no body at all (GET without Content-Length) is undefined, as body-parser leaves it", async () => {
    expect(await send({ method: "GET" })).toEqual({ none: true });
  });

  it("over the cap is body-parser's entity.too.large (413), by Content-Length or while streaming", async () => {
    expect(await send({ body: [Buffer.alloc(LIMIT + 1)] })).toEqual({ type: "entity.too.large", status: 413 });
    const chunks = Array.from({ length: 5 }, () => Buffer.alloc(400));
    expect(await send({ body: chunks, headers: { "Transfer-Encoding": "chunked" } })).toEqual({ type: "entity.too.large", status: 413 });
    expect(bodyParserError(Object.assign(new Error("x"), { type: "entity.too.large" }))?.code).toBe("RA_ERR_BODY_TOO_LARGE");
  });

  it("rawBody sets req.body and still inflates a gzip body through express.raw", async () => {
    const { gzipSync } = await import("node:zlib");
    const app = express();
    app.use(rawBody(LIMIT), (req, res) => void res.json({ length: (req.body as Buffer | undefined)?.length ?? null, text: (req.body as Buffer | undefined)?.toString() ?? null }));
    const s = app.listen(0, "127.0.0.1");
    await new Promise((r) => s.once("listening", r));
    try {
      const at = `http://127.0.0.1:${(s.address() as AddressInfo).port}/`;
      const plain = await (await fetch(at, { method: "POST", body: "hello" })).json();
      expect(plain).toEqual({ length: 5, text: "hello" });
      const zipped = await (await fetch(at, { method: "POST", body: gzipSync("hello gzip"), headers: { "Content-Encoding": "gzip" } })).json();
      expect(zipped).toEqual({ length: 10, text: "hello gzip" });
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});

describe("certFacts by DER walk", () => {
  let dir: string;
  const made: Record<string, Uint8Array> = {};
  beforeAll(() => {
    dir = tempDir("est-facts-");
    for (const [name, alg] of [["rsa", ["-newkey", "rsa:2048"]], ["p256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]], ["p384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]], ["ed25519", ["-newkey", "ed25519"]]] as const) {
      openssl(["req", "-x509", ...alg, "-nodes", "-keyout", join(dir, `${name}.key`), "-subj", `/CN=${name}`, "-days", "2", "-out", join(dir, `${name}.pem`)]);
      made[name] = new Uint8Array(new X509Certificate(readFileSync(join(dir, `${name}.pem`))).raw);
    }
  });

  it("has the key, the SubjectPublicKeyInfo and the CMS identifiers that X509Certificate gives", () => {
    for (const [name, der] of Object.entries(made)) {
      const f = certFacts(der, name);
      const x = new X509Certificate(der);
      const spki = x.publicKey.export({ type: "spki", format: "der" });
      expect(Buffer.from(f.spki).equals(spki), name).toBe(true);
      expect(f.publicKey.export({ type: "spki", format: "der" }).equals(spki), name).toBe(true);
      expect(f.publicKey.asymmetricKeyType).toBe(x.publicKey.asymmetricKeyType);
      expect(Buffer.from(f.issuerAndSerial).equals(Buffer.from(certIds(der).issuerAndSerial))).toBe(true);
    }
  });

  it("refuses what is not a certificate, naming what it was asked about", () => {
    const der = made.p256;
    expect(() => certFacts(der.subarray(0, der.length - 1), "the signer certificate")).toThrow(/the signer certificate is not a usable X.509 certificate/);
    const spkiOnly = new Uint8Array(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "der" }));
    expect(() => certFacts(spkiOnly, "x")).toThrow(/not a usable X.509 certificate/);
    // A point that is not on the curve: the key import refuses it.
    const bad = Uint8Array.from(der);
    const at = Buffer.from(bad).indexOf(Buffer.from(certFacts(der, "p256").spki.subarray(-64)));
    bad[at + 10] ^= 0xff;
    expect(() => certFacts(bad, "x")).toThrow(/not a usable X.509 certificate/);
  });

  it("cachedCertsOnly answers the same bytes as certsOnly, and follows a changed list", () => {
    const list = [made.rsa, made.p256];
    const first = cachedCertsOnly(list);
    expect(Buffer.from(first).equals(Buffer.from(certsOnly(list)))).toBe(true);
    expect(cachedCertsOnly([made.rsa, made.p256])).toBe(first);
    const other = cachedCertsOnly([made.rsa, made.p384]);
    expect(Buffer.from(other).equals(Buffer.from(certsOnly([made.rsa, made.p384])))).toBe(true);
  });
});
