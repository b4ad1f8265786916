import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publicJwk, signJws } from "../helpers/acme-client.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";
import { encodeTree, parseTree, tlvBytes } from "./der-tree.js";
import { budget } from "./fuzz.js";
import { EST_USER, fuzzGateway, type Answer, type FuzzGateway } from "./http-env.js";
import { jsonTextMutation, jwsMutation } from "./jws-mutate.js";
import { generatedDer, mutatedDer } from "./mutate.js";

/*
 * ACME and EST over real HTTP: hostile bodies get a protocol error (ACME problem+json with a 4xx, EST
 * 4xx text with X-Error-Code), never a 500, and the server keeps answering.
 */

let g: FuzzGateway;
let dir: Record<string, string>;
let accountKey: KeyObject;
let kid: string;
let csr: { der: Uint8Array; key: KeyObject };

beforeAll(async () => {
  g = await fuzzGateway();
  const d = await g.send(`${g.main}/acme/directory`, {});
  expect(d.status).toBe(200);
  dir = JSON.parse(d.body.toString()) as Record<string, string>;
  accountKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const acct = await acme(dir.newAccount, { alg: "ES256", jwk: publicJwk(accountKey) }, { termsOfServiceAgreed: true });
  expect(acct.status).toBe(201);
  kid = String(acct.headers.location);
  const made = makeCsr(tempDir("fuzz-http-"), "dev", { subject: "/CN=dev.example.com", sans: ["DNS:dev.example.com"] });
  csr = { der: made.der, key: createPrivateKey(readFileSync(made.keyPath)) };
});
afterAll(async () => g?.close());

const path = (url: string) => new URL(url).pathname;

async function nonce(): Promise<string> {
  const r = await g.send(`${g.main}${path(dir.newNonce)}`, { method: "HEAD" });
  return String(r.headers["replay-nonce"]);
}

/** A signed POST with a fresh nonce; `body` replaces the JWS when given. */
async function acme(url: string, header: Record<string, unknown>, payload: unknown, body?: string): Promise<Answer> {
  const text = body ?? JSON.stringify(signJws(String(header.alg), accountKey, { nonce: await nonce(), url, ...header }, payload));
  return g.send(`${g.main}${path(url)}`, { method: "POST", headers: { "Content-Type": "application/jose+json" }, body: text });
}

/** An ACME answer to a hostile request: a 2xx, or a 4xx problem document; never a 5xx; always a fresh nonce. */
function acmeAnswer(r: Answer): void {
  expect(r.status, r.body.toString().slice(0, 300)).toBeLessThan(500);
  expect(r.headers["replay-nonce"]).toBeTruthy();
  if (r.status >= 400) {
    expect(r.type).toContain("application/problem+json");
    expect((JSON.parse(r.body.toString()) as { type: string }).type).toMatch(/^urn:ietf:params:acme:error:/);
  }
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");

describe("ACME over HTTP", () => {
  it("mutated JWS bodies get a problem document, never a 500", async () => {
    const resources = [dir.newAccount, dir.newOrder, dir.revokeCert, dir.keyChange, kid];
    await fc.assert(fc.asyncProperty(fc.nat({ max: resources.length - 1 }), fc.oneof(jsonTextMutation, jwsMutation([accountKey])), async (i, mutate) => {
      const url = resources[i];
      const header = url === dir.newAccount ? { alg: "ES256", jwk: publicJwk(accountKey) } : { alg: "ES256", kid };
      const seed = JSON.stringify(signJws("ES256", accountKey, { nonce: await nonce(), url, ...header }, { identifiers: [{ type: "dns", value: "a.example.com" }] }));
      acmeAnswer(await acme(url, header, undefined, mutate(seed)));
    }), budget(60, 3000));
  });

  it("validly signed hostile payloads (identifiers, CSRs, certificates) get a problem document, never a 500", async () => {
    const identifier = fc.record({ type: fc.oneof(fc.constantFrom("dns", "ip", "permanent-identifier", "hardware-module", "email"), fc.jsonValue()), value: fc.oneof(fc.constantFrom("a.example.com", "*.example.com", "10.0.0.1", "::1", "xn--", "a".repeat(300), "", "a..b", "DEV0001"), fc.string(), fc.jsonValue()) });
    const payload = fc.oneof(
      fc.record({ identifiers: fc.oneof(fc.array(identifier, { maxLength: 4 }), fc.jsonValue()), notAfter: fc.oneof(fc.constant(undefined), fc.string(), fc.constant("2999-01-01T00:00:00Z")), profile: fc.oneof(fc.constant(undefined), fc.string()) }, { requiredKeys: ["identifiers"] }),
      fc.record({ certificate: fc.oneof(mutatedDer(csr.der).map(b64), generatedDer.map(b64), fc.string()), reason: fc.oneof(fc.integer({ min: -5, max: 20 }), fc.string()) }),
      fc.record({ contact: fc.oneof(fc.array(fc.string()), fc.jsonValue()), status: fc.oneof(fc.constantFrom("deactivated", "valid"), fc.jsonValue()) }),
      fc.jsonValue(),
    );
    const resources = [dir.newOrder, dir.revokeCert, `${kid}/orders`];
    await fc.assert(fc.asyncProperty(fc.nat({ max: resources.length - 1 }), payload, async (i, p) => {
      acmeAnswer(await acme(resources[i], { alg: "ES256", kid }, p ?? {}));
    }), budget(80, 3000));
  });

  it("still answers afterwards: a new order for a valid identifier", async () => {
    const r = await acme(dir.newOrder, { alg: "ES256", kid }, { identifiers: [{ type: "dns", value: "after.example.com" }] });
    expect(r.status).toBe(201);
  });
});

const TESTDATA = fileURLToPath(new URL("testdata", import.meta.url));
/** What EST answers each hostile CSR of the corpus: status and X-Error-Code. */
const CSR_CORPUS: Record<string, string> = {
  "csr_basic_constraints_not_der.der": "400 RA_ERR_MALFORMED",
  "csr_deep_nesting.der": "400 RA_ERR_DER_LIMIT",
  "csr_huge_length_field.der": "400 RA_ERR_DER_LIMIT",
  "csr_indefinite_length_ber.der": "400 RA_ERR_DER_LIMIT",
  "csr_length_overflow.der": "400 RA_ERR_DER_LIMIT",
  "csr_md5_signature.der": "403 RA_ERR_WEAK_SIGNATURE_ALG",
  "csr_san_extension_empty_value.der": "400 RA_ERR_MALFORMED",
  // Its names (a.example.com under a random key) are refused by the device profile before the subject is formatted.
  "csr_subject_truncated_oid.der": "403 RA_ERR_NO_NAMES",
  "csr_wrong_signature.der": "400 RA_ERR_BAD_CSR_SIGNATURE",
};

const estAuth = `Basic ${Buffer.from(`${EST_USER.name}:${EST_USER.password}`).toString("base64")}`;

async function est(op: string, body: string | Buffer, type = "application/pkcs10"): Promise<Answer> {
  return g.send(`${g.main}/.well-known/est/${op}`, { method: "POST", headers: { "Content-Type": type, Authorization: estAuth }, body });
}

/** An EST answer: 200/202, or a 4xx plain-text error carrying its code; never a 5xx. */
function estAnswer(r: Answer): void {
  expect(r.status, r.body.toString().slice(0, 300)).toBeLessThan(500);
  if (r.status >= 400) expect(String(r.headers["x-error-code"]), r.body.toString()).toMatch(/^RA_ERR_/);
}

/** The CSR with another certificationRequestInfo, signed again with its key (so the policy readers see it). */
function resigned(info: Uint8Array): Uint8Array {
  const alg = parseTree(csr.der)!.children![1];
  return new Uint8Array(tlvBytes(0x30, Buffer.concat([info, encodeTree(alg), tlvBytes(0x03, Buffer.concat([Uint8Array.of(0), sign("sha256", info, csr.key)]))])));
}

describe("EST over HTTP", () => {
  it("the seed CSR enrolls", async () => {
    expect((await est("simpleenroll", Buffer.from(csr.der).toString("base64"))).status).toBe(200);
  });

  it("mutated and re-signed CSRs, in base64, PEM or garbage bodies, get a 4xx with an error code, never a 500", async () => {
    const info = new Uint8Array(encodeTree(parseTree(csr.der)!.children![0]));
    const body = fc.oneof(
      mutatedDer(csr.der).map((d) => Buffer.from(d).toString("base64")),
      mutatedDer(info).map((i) => Buffer.from(resigned(i)).toString("base64")),
      mutatedDer(info).map((i) => `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(resigned(i)).toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`),
      fc.string(),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1")),
    );
    await fc.assert(fc.asyncProperty(fc.constantFrom("simpleenroll", "simplereenroll", "serverkeygen"), body, fc.constantFrom("application/pkcs10", "application/pkcs10; charset=x", "text/plain"), async (op, b, type) => {
      estAnswer(await est(op, b, type));
    }), budget(80, 3000));
  });

  it("the CSR corpus is refused over HTTP with each file's own error code", async () => {
    const got: Record<string, string> = {};
    for (const f of readdirSync(TESTDATA).filter((n) => n.startsWith("csr_"))) {
      const r = await est("simpleenroll", readFileSync(join(TESTDATA, f)).toString("base64"));
      got[f] = `${r.status} ${String(r.headers["x-error-code"])}`;
    }
    expect(got).toEqual(CSR_CORPUS);
  });

  it("still answers afterwards", async () => {
    expect((await g.send(`${g.main}/.well-known/est/cacerts`, {})).status).toBe(200);
    expect((await est("simpleenroll", Buffer.from(csr.der).toString("base64"))).status).toBe(200);
  });
});
