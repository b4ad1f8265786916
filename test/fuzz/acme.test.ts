import { generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { decode, encode } from "cborg";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import { verifyApple } from "../../protocols/acme/attest/apple.js";
import { decodeAttestationObject } from "../../protocols/acme/attest/statement.js";
import { verifyStep } from "../../protocols/acme/attest/step.js";
import { verifyTpm } from "../../protocols/acme/attest/tpm.js";
import { importAccountJwk } from "../../protocols/acme/jwk.js";
import { parseJws, verifyJws } from "../../protocols/acme/jws.js";
import { publicJwk, signJws } from "../helpers/acme-client.js";
import { createAttestationPkis, type AttestationPkis } from "../acme/attest/fixtures.js";
import { budget, typedOrValue } from "./fuzz.js";
import { jsonTextMutated, jwsMutated } from "./jws-mutate.js";
import { applyMutations, mutationsArb } from "./mutate.js";

const URL = "https://acme.example/acme/new-order";
let keys: KeyObject[];
let valid: Array<{ text: string; key: KeyObject }>;

beforeAll(() => {
  keys = [
    generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
    generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey,
    generateKeyPairSync("ed25519").privateKey,
    generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey,
  ];
  const algs = ["ES256", "ES384", "EdDSA", "RS256"];
  valid = keys.map((key, i) => ({
    key,
    text: JSON.stringify(signJws(algs[i], key, { alg: algs[i], nonce: "bm9uY2UtMDAwMQ", url: URL, jwk: publicJwk(key) }, { identifiers: [{ type: "dns", value: "a.example.com" }] })),
  }));
});

/** What the server does with a body up to the nonce check: parse, import the key, verify. */
function readJws(text: string): "verified" | Error {
  const r = typedOrValue(() => {
    const jws = parseJws(Buffer.from(text, "utf8"));
    const key = jws.header.jwk !== undefined ? importAccountJwk(jws.header.jwk) : undefined;
    if (key) verifyJws(jws, key.key);
    return key ? ("verified" as const) : ("kid" as const);
  });
  return r === "kid" ? new Error("kid") : r;
}

describe("ACME JWS (parseJws, importAccountJwk, verifyJws)", () => {
  it("the seeds verify", () => {
    for (const v of valid) expect(readJws(v.text)).toBe("verified");
  });

  it("generated JSON is refused with a GatewayError", () => {
    const anyJson = fc.oneof(fc.json(), fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.dictionary(fc.constantFrom("protected", "payload", "signature", "header", "signatures", "__proto__"), fc.jsonValue()).map((v) => JSON.stringify(v)));
    fc.assert(fc.property(anyJson, (text) => {
      expect(readJws(text)).toBeInstanceOf(Error);
    }), budget(800, 1500));
  });

  it("a mutated JWS is refused with a GatewayError, and verifies only under the key that signed it", () => {
    fc.assert(fc.property(fc.nat({ max: 3 }).chain((i) => fc.tuple(fc.constant(i), fc.oneof(jwsMutated(valid[i].text, keys), jsonTextMutated(valid[i].text)))), ([i, text]) => {
      const r = readJws(text);
      if (r === "verified") {
        // Verified: the header names the signer's own key (a swapped jwk or alg never verifies).
        const named = importAccountJwk(parseJws(Buffer.from(text)).header.jwk);
        expect(named.thumbprint).toBe(importAccountJwk(publicJwk(valid[i].key)).thumbprint);
      } else if (r.message !== "kid") {
        expect(r).toBeInstanceOf(GatewayError);
      }
    }), budget(700, 3000));
  });
});

describe("device-attest-01 attestation objects (decodeAttestationObject and the format verifiers)", () => {
  let pkis: AttestationPkis;
  let seeds: Array<{ fmt: "apple" | "step" | "tpm"; bytes: Uint8Array; anchors: X509Certificate[] }>;
  const token = "dG9rZW4tMDAwMQ";
  const keyAuthorization = `${token}.thumbprint`;

  beforeAll(async () => {
    pkis = await createAttestationPkis();
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const anchor = (p: { rootPem: string }) => [new X509Certificate(p.rootPem)];
    seeds = [
      { fmt: "apple", bytes: pkis.apple.attObj({ publicKey: ec.publicKey, token, serial: "C02XL0GQJGH5", udid: "00008030-001A2D" }), anchors: anchor(pkis.apple) },
      { fmt: "step", bytes: pkis.yubico.attObj({ privateKey: ec.privateKey, keyAuthorization, serial: 15732500 }), anchors: anchor(pkis.yubico) },
      { fmt: "tpm", bytes: pkis.tpm.attObj({ publicKey: rsa.publicKey, keyAuthorization, permanentIdentifier: { value: "EK123", assigner: "1.2.3.4" } }), anchors: anchor(pkis.tpm) },
    ];
  });

  const VERIFY = { apple: verifyApple, step: verifyStep, tpm: verifyTpm } as const;
  function check(bytes: Uint8Array, anchors: X509Certificate[]): unknown {
    const { fmt, attStmt } = decodeAttestationObject(Buffer.from(bytes).toString("base64url"));
    const verify = VERIFY[fmt as keyof typeof VERIFY];
    if (!verify) return fmt;
    return verify({ attStmt, token, keyAuthorization, anchors, now: Date.now() });
  }

  it("the seeds verify", () => {
    for (const s of seeds) expect(() => check(s.bytes, s.anchors), s.fmt).not.toThrow();
  });

  it("generated bytes and text are refused with RA_ERR_BAD_ATTESTATION", () => {
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString("base64url")), fc.string(), fc.jsonValue()), (attObj) => {
      const r = typedOrValue(() => decodeAttestationObject(attObj));
      if (r instanceof GatewayError) expect(r.code).toBe("RA_ERR_BAD_ATTESTATION");
    }), budget(600, 1500));
  });

  it("a mutated attestation object (CBOR bytes, or one attStmt field: x5c certificates, sig, certInfo, pubArea) is verified or refused with a GatewayError", () => {
    const outcomes = { value: 0, error: 0 };
    fc.assert(fc.property(fc.nat({ max: 2 }), fc.boolean(), mutationsArb, fc.nat(), fc.jsonValue(), (i, whole, ms, pick, other) => {
      const s = seeds[i];
      const bytes = whole ? applyMutations(s.bytes, ms) : mutateField(s.bytes, ms, pick, other);
      const r = typedOrValue(() => check(bytes, s.anchors));
      outcomes[r instanceof Error ? "error" : "value"]++;
      if (r instanceof GatewayError) expect(r.code).toBe("RA_ERR_BAD_ATTESTATION");
    }), budget(400, 3000));
    expect(outcomes.error).toBeGreaterThan(0);
  });
});

/** Decodes the attestation object, changes one attStmt value (a byte string mutated, a certificate of x5c mutated, or replaced by `other`), encodes again. */
function mutateField(bytes: Uint8Array, ms: Parameters<typeof applyMutations>[1], pick: number, other: unknown): Uint8Array {
  const top = decode(bytes, { useMaps: true }) as Map<string, unknown>;
  const st = top.get("attStmt") as Map<string, unknown>;
  const keys = [...st.keys()];
  const k = keys[pick % keys.length];
  const v = st.get(k);
  if (v instanceof Uint8Array) st.set(k, applyMutations(v, ms));
  else if (Array.isArray(v) && v.length) v[pick % v.length] = applyMutations(v[pick % v.length] as Uint8Array, ms);
  else st.set(k, other ?? null);
  if (pick % 7 === 0) st.set(k, other ?? null);
  return encode(top);
}
