import { createPublicKey, sign, type KeyObject } from "node:crypto";
import fc from "fast-check";
import { publicJwk } from "../helpers/acme-client.js";

/**
 * Mutations of a valid flattened JWS: its header members (alg confusion, jwk and kid together, private or
 * foreign key members, crit), its payload and signature, its outer members; some signed again with the
 * original key so the checks after the signature are reached too. And raw text mutations of the JSON
 * (duplicate members, truncation, deep nesting, a BOM, bad UTF-16).
 */
const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64url");
const ALGS: unknown[] = ["none", "HS256", "RS256", "ES256", "ES384", "ES512", "EdDSA", "PS256", "", "es256", 256, null, ["ES256"], { alg: "ES256" }];
const HASH: Record<string, string | null> = { ES256: "sha256", ES384: "sha384", ES512: "sha512", RS256: "sha256", EdDSA: null };

type Obj = Record<string, unknown>;
const headerOps: Array<fc.Arbitrary<(h: Obj, keys: KeyObject[]) => void>> = [
  fc.constantFrom(...ALGS).map((a) => (h: Obj) => void (h.alg = a)),
  fc.constantFrom("alg", "nonce", "url", "jwk").map((k) => (h: Obj) => void delete h[k]),
  fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant("https://acme.example/acme/acct/1")).map((kid) => (h: Obj) => void (h.kid = kid)),
  fc.constantFrom<[string, unknown]>(["crit", ["b64"]], ["b64", false], ["crit", []], ["x5c", ["AA"]]).map(([k, v]) => (h: Obj) => void (h[k] = v)),
  fc.nat().map((i) => (h: Obj, keys: KeyObject[]) => void (h.jwk = publicJwk(keys[i % keys.length]))),
  fc.constantFrom("d", "p", "k").map((m) => (h: Obj) => void (h.jwk = { ...(h.jwk as Obj), [m]: "AAAA" })),
  fc.constantFrom("EC", "RSA", "OKP", "oct", "", 1, null).map((kty) => (h: Obj) => void (h.jwk = { ...(h.jwk as Obj), kty })),
  fc.constantFrom("crv", "x", "y", "n", "e").chain((m) => fc.oneof(fc.string(), fc.constant("P-192"), fc.constant("AQAB"), fc.constant(""), fc.constant("A".repeat(2000)), fc.integer()).map((v) => (h: Obj) => void (h.jwk = { ...(h.jwk as Obj), [m]: v }))),
  fc.jsonValue().map((v) => (h: Obj) => void (h.jwk = v)),
  fc.oneof(fc.string(), fc.constant("a".repeat(200)), fc.integer()).map((n) => (h: Obj) => void (h.nonce = n)),
];

const outerOps: Array<fc.Arbitrary<(o: Obj) => void>> = [
  fc.oneof(fc.constant(""), fc.constant("!!!"), fc.jsonValue().map((v) => b64(JSON.stringify(v))), fc.string().map((s) => b64(s))).map((p) => (o: Obj) => void (o.payload = p)),
  fc.oneof(fc.constant(""), fc.constant("A"), fc.constant("***"), fc.uint8Array({ maxLength: 600 }).map((b) => b64(Buffer.from(b)))).map((s) => (o: Obj) => void (o.signature = s)),
  fc.nat().map((n) => (o: Obj) => void (o.signature = String(o.signature).slice(0, n % String(o.signature).length))),
  fc.constantFrom<[string, unknown]>(["header", { alg: "none" }], ["signatures", []], ["extra", 1], ["protected", 7], ["payload", null], ["signature", {}]).map(([k, v]) => (o: Obj) => void (o[k] = v)),
  fc.constantFrom("protected", "payload", "signature").map((k) => (o: Obj) => void delete o[k]),
];

/** A mutation of a JWS text (applied to a freshly signed one, so each HTTP request can carry a fresh nonce). */
export function jwsMutation(keys: KeyObject[]): fc.Arbitrary<(text: string) => string> {
  return fc.tuple(fc.array(fc.oneof(...headerOps), { maxLength: 3 }), fc.array(fc.oneof(...outerOps), { maxLength: 2 }), fc.boolean()).map(([hs, os, resign]) => (text: string) => {
    const o = JSON.parse(text) as Obj;
    const header = JSON.parse(Buffer.from(String(o.protected), "base64url").toString("utf8")) as Obj;
    // The signer: the key the header's jwk names, else (a kid header) the first key.
    const key = keys.find((k) => JSON.stringify(publicJwk(k)) === JSON.stringify(header.jwk)) ?? keys[0];
    for (const h of hs) h(header, keys);
    o.protected = b64(JSON.stringify(header));
    for (const f of os) f(o);
    if (resign && typeof o.protected === "string" && typeof o.payload === "string") {
      const alg = typeof header.alg === "string" && header.alg in HASH ? header.alg : key.asymmetricKeyType === "ed25519" ? "EdDSA" : key.asymmetricKeyType === "rsa" ? "RS256" : "ES256";
      const ec = createPublicKey(key).asymmetricKeyType === "ec";
      try {
        o.signature = b64(sign(HASH[alg] ?? null, Buffer.from(`${o.protected}.${o.payload}`), ec ? { key, dsaEncoding: "ieee-p1363" } : key));
      } catch {
        // A hash the key cannot sign with: keep the old signature.
      }
    }
    return JSON.stringify(o);
  });
}

export const jwsMutated = (text: string, keys: KeyObject[]): fc.Arbitrary<string> => jwsMutation(keys).map((f) => f(text));

const textOps: Array<fc.Arbitrary<(s: string) => string>> = [
  fc.nat().map((n) => (s: string) => s.slice(0, n % (s.length + 1))),
  fc.tuple(fc.nat(), fc.string({ maxLength: 4 })).map(([n, c]) => (s: string) => s.slice(0, n % (s.length + 1)) + c + s.slice((n % (s.length + 1)) + 1)),
  fc.constantFrom("protected", "payload", "signature").map((k) => (s: string) => `{"${k}":"e30",${s.slice(1)}`),
  fc.constantFrom("protected", "payload", "signature").map((k) => (s: string) => `${s.slice(0, -1)},"${k}":"e30"}`),
  fc.integer({ min: 10, max: 20_000 }).map((d) => (s: string) => `${"[".repeat(d)}${s}${"]".repeat(d)}`),
  fc.integer({ min: 10, max: 20_000 }).map((d) => (s: string) => `${s.slice(0, -1)},"x":${'{"a":'.repeat(d)}1${"}".repeat(d)}}`),
  fc.constant((s: string) => `\ufeff${s}`),
  fc.constant((s: string) => s.replace('"protected"', '"prot\\ud800ected"')),
  fc.constant((s: string) => s.replace(/"protected":"/, '"protected":"\\u0000')),
];

export const jsonTextMutation: fc.Arbitrary<(text: string) => string> = fc.array(fc.oneof(...textOps), { minLength: 1, maxLength: 3 }).map((ops) => (text: string) => ops.reduce((s, f) => f(s), text));

export const jsonTextMutated = (text: string): fc.Arbitrary<string> => jsonTextMutation.map((f) => f(text));
