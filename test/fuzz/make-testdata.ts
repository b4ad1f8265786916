// Regenerates the hostile inputs in testdata/ (run: npx tsx test/fuzz/make-testdata.ts). Signed ones use a
// throw-away key made here and never saved; corpus.test.ts says what each file must be refused with.
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encode } from "cborg";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer } from "../../src/asn1/der-values.js";

const dir = join(fileURLToPath(new URL(".", import.meta.url)), "testdata");
mkdirSync(dir, { recursive: true });
const out = (name: string, b: Uint8Array | string) => writeFileSync(join(dir, name), b);
const u = (...b: number[]) => Uint8Array.of(...b);
const cat = (...p: Uint8Array[]) => new Uint8Array(Buffer.concat(p));
const int = (n: number) => derTlv(0x02, u(n));
const octets = (b: Uint8Array) => derTlv(0x04, b);
const utf8 = (s: string) => derTlv(0x0c, Buffer.from(s));
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

// ---- PKCS#10 ----
const key = generateKeyPairSync("ec", { namedCurve: "P-256" });
const spki = new Uint8Array(key.publicKey.export({ type: "spki", format: "der" }));
const ecdsaSha256 = derSequence(oidDer("1.2.840.10045.4.3.2"));
const name = (cnOid: Uint8Array, cn: string) => derSequence(derTlv(0x31, derSequence(cnOid, utf8(cn))));
const cnOid = oidDer("2.5.4.3");
const extReq = (...exts: Uint8Array[]) => derTlv(0xa0, derSequence(oidDer("1.2.840.113549.1.9.14"), derTlv(0x31, derSequence(...exts))));
const ext = (oid: string, value: Uint8Array) => derSequence(oidDer(oid), octets(value));
const san = (host: string) => ext("2.5.29.17", derSequence(derTlv(0x82, Buffer.from(host))));
function csr(info: Uint8Array, badSignature = false): Uint8Array {
  const sig = sign("sha256", info, key.privateKey);
  if (badSignature) sig[sig.length - 1] ^= 0x01; // still a DER ECDSA-Sig-Value, just not this one
  return cat(derSequence(info, ecdsaSha256, derTlv(0x03, u(0), sig)));
}
const info = (subject: Uint8Array, attrs: Uint8Array) => derSequence(int(0), subject, spki, attrs);
const goodInfo = info(name(cnOid, "a.example.com"), extReq(san("a.example.com")));

out("csr_wrong_signature.der", csr(goodInfo, true));
out("csr_san_extension_empty_value.der", csr(info(name(cnOid, "a.example.com"), extReq(ext("2.5.29.17", new Uint8Array(0))))));
out("csr_basic_constraints_not_der.der", csr(info(name(cnOid, "a.example.com"), extReq(ext("2.5.29.19", u(0x01, 0x01, 0xff))))));
out("csr_subject_truncated_oid.der", csr(info(name(u(0x06, 0x01, 0xff), "a.example.com"), extReq(san("a.example.com")))));
out("csr_md5_signature.der", cat(derSequence(goodInfo, derSequence(oidDer("1.2.840.113549.1.1.4"), u(0x05, 0)), derTlv(0x03, u(0), new Uint8Array(64)))));
let nested = u(0x05, 0x00);
for (let i = 0; i < 3000; i++) nested = cat(derSequence(nested));
out("csr_deep_nesting.der", nested);
out("csr_length_overflow.der", u(0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00));
out("csr_huge_length_field.der", u(0x30, 0x89, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
out("csr_indefinite_length_ber.der", cat(u(0x30, 0x80), goodInfo, ecdsaSha256, derTlv(0x03, u(0), new Uint8Array(8)), u(0, 0)));

// ---- ACME JWS ----
const jwk = { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" };
const header = (h: Record<string, unknown>) => b64({ nonce: "bm9uY2UtMDAwMQ", url: "https://acme.example/acme/new-order", ...h });
const jws = (h: Record<string, unknown>, extra: Record<string, unknown> = {}) => JSON.stringify({ protected: header(h), payload: b64({}), signature: b64("signature"), ...extra });
out("jws_alg_none.json", jws({ alg: "none", jwk }));
out("jws_alg_hs256.json", jws({ alg: "HS256", jwk }));
out("jws_jwk_and_kid.json", jws({ alg: "ES256", jwk, kid: "https://acme.example/acme/acct/1" }));
out("jws_crit_header.json", jws({ alg: "ES256", jwk, crit: ["b64"], b64: false }));
out("jws_general_serialization.json", JSON.stringify({ payload: b64({}), signatures: [{ protected: header({ alg: "ES256", jwk }), signature: b64("s1") }, { protected: header({ alg: "ES256", jwk }), signature: b64("s2") }] }));
out("jws_unprotected_header.json", jws({ alg: "ES256", jwk }, { header: { alg: "none" } }));
out("jws_private_key_in_jwk.json", jws({ alg: "ES256", jwk: { ...jwk, d: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } }));
// Duplicate members: JSON.parse keeps the last one; the smuggled header (alg none) is what gets checked.
out("jws_duplicate_protected_member.json", `{"protected":"${header({ alg: "ES256", jwk })}","payload":"${b64({})}","signature":"${b64("s")}","protected":"${header({ alg: "none", jwk })}"}`);
out("jws_deep_nesting.json", `${"[".repeat(20_000)}${"]".repeat(20_000)}`);
out("jws_not_json.json", "protected=e30&payload=&signature=AA");

// ---- device-attest-01 attestation objects (CBOR) ----
out("attobj_not_a_map.cbor", encode([1, 2, 3]));
out("attobj_duplicate_map_keys.cbor", cat(u(0xa2, 0x63), Buffer.from("fmt"), u(0x65), Buffer.from("apple"), u(0x63), Buffer.from("fmt"), u(0x64), Buffer.from("none")));
out("attobj_deep_nesting.cbor", cat(new Uint8Array(20_000).fill(0x81), u(0x00)));
out("attobj_huge_declared_length.cbor", cat(u(0xa1, 0x63), Buffer.from("fmt"), u(0x5b, 0, 0, 0, 1, 0, 0, 0, 0), Buffer.from("xx")));
out("attobj_tagged_value.cbor", cat(u(0xa1, 0x63), Buffer.from("fmt"), u(0xc1, 0x1a, 0x65, 0x53, 0xf1, 0x00)));
out("attobj_oversized.cbor", encode(new Map<string, unknown>([["fmt", "apple"], ["attStmt", new Map([["x5c", [new Uint8Array(33_000)]]])]])));
out("attobj_x5c_not_certificates.cbor", encode(new Map<string, unknown>([["fmt", "apple"], ["attStmt", new Map([["x5c", [u(0x30, 0x03, 0x02, 0x01, 0x00)]]])], ["authData", new Uint8Array(0)]])));

// ---- SCEP pkiMessage (CMS) ----
const signerInfo = derSequence(int(1), derSequence(derSequence(), int(1)), derSequence(oidDer("2.16.840.1.101.3.4.2.1")), derSequence(oidDer("1.2.840.113549.1.1.1")), octets(u(0)));
const signedData = (signers: Uint8Array[]) => derSequence(int(1), derTlv(0x31), derSequence(oidDer("1.2.840.113549.1.7.1"), derTlv(0xa0, octets(Buffer.from("x")))), derTlv(0x31, ...signers));
const contentInfo = (type: string, content: Uint8Array) => derSequence(oidDer(type), derTlv(0xa0, content));
out("scep_many_signers.der", contentInfo("1.2.840.113549.1.7.2", signedData(Array.from({ length: 1000 }, () => signerInfo))));
out("scep_no_signer.der", contentInfo("1.2.840.113549.1.7.2", signedData([])));
out("scep_enveloped_data_at_top.der", contentInfo("1.2.840.113549.1.7.3", derSequence(int(0), derTlv(0x31), derSequence(oidDer("1.2.840.113549.1.7.1")))));
out("scep_indefinite_length_ber.der", cat(u(0x30, 0x80), oidDer("1.2.840.113549.1.7.2"), u(0xa0, 0x80), signedData([signerInfo]), u(0, 0, 0, 0)));
out("scep_trailing_garbage.der", cat(contentInfo("1.2.840.113549.1.7.2", signedData([signerInfo])), u(0x00)));

// ---- CMP PKIMessage ----
const CMP = { pbm: "1.2.840.113533.7.66.13", sha256: "2.16.840.1.101.3.4.2.1", hmacSha256: "1.2.840.113549.2.9", signKeyPairTypes: "1.3.6.1.5.5.7.4.2" };
const pbmParams = (salt: Uint8Array, count: Uint8Array) => derSequence(octets(salt), derSequence(oidDer(CMP.sha256)), derTlv(0x02, count), derSequence(oidDer(CMP.hmacSha256)));
const cmpHeader = (params: Uint8Array) => derSequence(
  int(2), derTlv(0xa4, derSequence()), derTlv(0xa4, derSequence()),
  derTlv(0xa1, derSequence(oidDer(CMP.pbm), params)), derTlv(0xa2, octets(Buffer.from("client1"))),
  derTlv(0xa4, octets(new Uint8Array(16).fill(0x11))), derTlv(0xa5, octets(new Uint8Array(16).fill(0x22))),
);
const genm = derTlv(0xb5, derSequence(derSequence(oidDer(CMP.signKeyPairTypes))));
const protection = derTlv(0xa0, derTlv(0x03, u(0), new Uint8Array(32)));
const salt16 = new Uint8Array(16).fill(0x5a);
out("cmp_pbm_iteration_count_2_pow_64.der", derSequence(cmpHeader(pbmParams(salt16, u(0x01, 0, 0, 0, 0, 0, 0, 0, 0))), genm, protection));
out("cmp_pbm_iteration_count_1e9.der", derSequence(cmpHeader(pbmParams(salt16, u(0x3b, 0x9a, 0xca, 0x00))), genm, protection));
out("cmp_pbm_zero_length_salt.der", derSequence(cmpHeader(pbmParams(new Uint8Array(0), u(0x01, 0xf4))), genm, protection));
out("cmp_pbm_huge_salt.der", derSequence(cmpHeader(pbmParams(new Uint8Array(4000), u(0x01, 0xf4))), genm, protection));
const okHeader = cmpHeader(pbmParams(salt16, u(0x01, 0xf4)));
out("cmp_unknown_body_tag.der", derSequence(okHeader, derTlv(0xbe, derSequence()), protection));
out("cmp_trailing_data.der", cat(derSequence(okHeader, genm, protection), u(0x05, 0x00)));
out("cmp_protection_not_whole_octets.der", derSequence(okHeader, genm, derTlv(0xa0, derTlv(0x03, u(4), new Uint8Array(32)))));
// ir whose CertTemplate asks for a subjectAltName whose value is not a GeneralNames.
const template = derSequence(derTlv(0xa5, name(cnOid, "a.example.com")), derTlv(0xa6, spki.subarray(spki[1] & 0x80 ? 2 + (spki[1] & 0x7f) : 2)), derTlv(0xa9, ext("2.5.29.17", u(0x00))));
out("cmp_ir_template_san_not_general_names.der", derSequence(okHeader, derTlv(0xa0, derSequence(derSequence(derSequence(int(0), template)))), protection));
