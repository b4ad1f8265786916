// Known answers: the example ML-DSA keys and certificates published with RFC 9881 (test/data/rfc9881/README.md).
// Each is read by node:crypto (OpenSSL 3.5), by @peculiar/x509, by the gateway's own parsers, and checked against
// @noble/post-quantum, an implementation that shares no code with OpenSSL.
import "reflect-metadata";
import { createPrivateKey, createPublicKey, sign, verify, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ml_dsa44, ml_dsa65, ml_dsa87 } from "@noble/post-quantum/ml-dsa.js";
import * as px from "@peculiar/x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { describe, expect, it } from "vitest";
import { ML_DSA_OIDS, ML_DSA_SIZES, verifyParamsFor, verifySignature } from "../../src/asn1/algorithms.js";
import { childSpans, header } from "../../src/asn1/der-walk.js";
import { importSpki } from "../../src/asn1/spki-import.js";
import { certificateFacts } from "../../src/inventory/facts.js";
import { describeKey } from "../../src/policy/keys.js";
import { SoftwareSigner } from "../../src/signers/software.js";
import { ROOT } from "../helpers/gateway.js";

const DATA = join(ROOT, "test", "data", "rfc9881");
const LEVELS = [44, 65, 87] as const;
type Level = (typeof LEVELS)[number];
const NOBLE = { 44: ml_dsa44, 65: ml_dsa65, 87: ml_dsa87 } as const;
/** FIPS 204 expanded private key sizes. */
const EXPANDED_BYTES: Record<Level, number> = { 44: 2560, 65: 4032, 87: 4896 };
/** Every example key of the RFC is made from this seed. */
const SEED = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

const file = (name: string) => readFileSync(join(DATA, name), "utf8");
const der = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
const content = (b: Uint8Array, [start]: [number, number]) => Buffer.from(b.subarray(header(b, start).contentStart, header(b, start).end));
const spkiOf = (k: KeyObject) => k.export({ type: "spki", format: "der" });
/** The raw public key octets inside an SPKI (BIT STRING without its unused-bits octet). */
const rawPublicKey = (spki: Uint8Array) => content(spki, childSpans(spki)[1]).subarray(1);

/** The ML-DSA-PrivateKey CHOICE inside a PKCS#8 document: seed [0], expandedKey, or both. */
function mlDsaPrivateKey(pkcs8: Uint8Array): { seed?: Buffer; expanded?: Buffer } {
  const inner = content(pkcs8, childSpans(pkcs8)[2]); // version, algorithm, privateKey OCTET STRING
  if (inner[0] === 0x80) return { seed: content(inner, [0, inner.length]) };
  if (inner[0] === 0x04) return { expanded: content(inner, [0, inner.length]) };
  const [seed, expanded] = childSpans(inner);
  return { seed: content(inner, seed), expanded: content(inner, expanded) };
}

describe.each(LEVELS)("RFC 9881 example ML-DSA-%i", (level) => {
  const certPem = file(`ML-DSA-${level}.crt`);
  const cert = new X509Certificate(certPem);
  const asn = AsnConvert.parse(der(certPem), Certificate);
  const tbs = new Uint8Array(AsnConvert.serialize(asn.tbsCertificate));
  const signature = new Uint8Array(asn.signatureValue);
  const certSpki = spkiOf(cert.publicKey);
  const rawPub = rawPublicKey(certSpki);

  it("the certificate parses with node:crypto, its key is ML-DSA of this level and its self-signature verifies", () => {
    expect(cert.subject).toBe("O=IETF\nCN=LAMPS WG");
    expect(cert.publicKey.asymmetricKeyType).toBe(`ml-dsa-${level}`);
    expect(cert.ca).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    // Another level's key of the same seed must not verify it: the level is part of the algorithm.
    const other = LEVELS.find((l) => l !== level)!;
    expect(cert.verify(new X509Certificate(file(`ML-DSA-${other}.crt`)).publicKey)).toBe(false);
  });

  it("the certificate parses with @peculiar/x509, which verifies it too", async () => {
    const p = new px.X509Certificate(certPem);
    expect(p.subject).toBe("O=IETF, CN=LAMPS WG");
    expect(p.signatureAlgorithm).toMatchObject({ name: `ML-DSA-${level}` });
    expect(p.publicKey.algorithm).toMatchObject({ name: `ML-DSA-${level}` });
    expect(Buffer.from(p.publicKey.rawData).equals(certSpki)).toBe(true);
    expect(await p.verify({ signatureOnly: true })).toBe(true);
  });

  it("is encoded as RFC 9881 says: one OID for key and signature, no parameters, raw octets of FIPS 204 sizes", () => {
    expect(asn.signatureAlgorithm.algorithm).toBe(ML_DSA_OIDS[level]);
    expect(asn.signatureAlgorithm.parameters ?? undefined).toBeUndefined();
    expect(asn.tbsCertificate.subjectPublicKeyInfo.algorithm.algorithm).toBe(ML_DSA_OIDS[level]);
    expect(asn.tbsCertificate.subjectPublicKeyInfo.algorithm.parameters ?? undefined).toBeUndefined();
    expect(rawPub.length).toBe(ML_DSA_SIZES[level].publicKey);
    expect(signature.length).toBe(ML_DSA_SIZES[level].signature);
  });

  it("the independent implementation (@noble/post-quantum) verifies the self-signature; a flipped bit fails", () => {
    expect(NOBLE[level].verify(signature, tbs, rawPub)).toBe(true);
    const bad = signature.slice();
    bad[100] ^= 1;
    expect(NOBLE[level].verify(bad, tbs, rawPub)).toBe(false);
  });

  it("the gateway's own readers accept it: signature check, SPKI import, key description, inventory facts", () => {
    const params = verifyParamsFor(asn.signatureAlgorithm);
    expect(params).toEqual({ hash: null, keyType: `ml-dsa-${level}` });
    expect(verifySignature(certSpki, params!, tbs, signature)).toBe(true);
    const pub = importSpki(der(file(`ML-DSA-${level}.pub`)));
    expect(spkiOf(pub).equals(certSpki)).toBe(true);
    expect(describeKey(pub)).toEqual({ kind: "ml-dsa", level });
    const facts = certificateFacts(der(certPem));
    expect(facts).toMatchObject({
      keyAlgorithm: `ML-DSA-${level}`, keyFamily: "pqc", signatureAlgorithm: `ML-DSA-${level}`, signatureHash: "ml-dsa", isCa: true, selfSigned: true,
      notBefore: "2020-02-03T04:32:10.000Z", notAfter: "2040-01-29T04:32:10.000Z",
    });
  });

  it("the seed, expanded and both private keys import and their public key is the certificate's", () => {
    for (const form of ["seed", "expanded", "both"]) {
      const key = createPrivateKey(file(`ML-DSA-${level}-${form}.priv`));
      expect(key.asymmetricKeyType, form).toBe(`ml-dsa-${level}`);
      expect(spkiOf(createPublicKey(key)).equals(certSpki), form).toBe(true);
      const msg = Buffer.from(`signed with the ${form} form`);
      const sig = sign(null, msg, key);
      expect(verify(null, msg, cert.publicKey, sig), form).toBe(true);
      expect(NOBLE[level].verify(sig, msg, rawPub), form).toBe(true);
    }
  });

  it("seed and expanded forms are the same key: the independent key generation from the seed gives the expanded key", () => {
    const seedForm = mlDsaPrivateKey(der(file(`ML-DSA-${level}-seed.priv`)));
    const expandedForm = mlDsaPrivateKey(der(file(`ML-DSA-${level}-expanded.priv`)));
    const both = mlDsaPrivateKey(der(file(`ML-DSA-${level}-both.priv`)));
    expect(seedForm.seed!.equals(SEED)).toBe(true);
    expect(expandedForm.expanded!.length).toBe(EXPANDED_BYTES[level]);
    expect(both.seed!.equals(SEED) && both.expanded!.equals(expandedForm.expanded!)).toBe(true);
    const fromSeed = NOBLE[level].keygen(SEED);
    expect(Buffer.from(fromSeed.secretKey).equals(expandedForm.expanded!)).toBe(true);
    expect(Buffer.from(fromSeed.publicKey).equals(rawPub)).toBe(true);
  });

  it("a CA key file in any form loads as a signer; seed and both are stored back in the 54-byte seed form", () => {
    for (const form of ["seed", "expanded", "both"] as const) {
      const signer = SoftwareSigner.fromPem(`rfc9881-${form}`, file(`ML-DSA-${level}-${form}.priv`), `ml-dsa-${level}`);
      const msg = Buffer.from("tbs");
      expect(NOBLE[level].verify(signer.signSync(msg), msg, rawPub), form).toBe(true);
      const stored = mlDsaPrivateKey(der(signer.exportPkcs8Pem()));
      // The expanded form cannot give its seed back (the expansion is one-way): it is stored as it came.
      if (form === "expanded") expect(stored).toEqual({ expanded: mlDsaPrivateKey(der(file(`ML-DSA-${level}-expanded.priv`))).expanded });
      else {
        expect(stored, form).toEqual({ seed: SEED });
        expect(der(signer.exportPkcs8Pem()).length).toBe(54);
      }
    }
  });
});

describe("RFC 9881 inconsistent private keys", () => {
  it.each([
    [1, "seed and expandedKey disagree"],
    [2, "the public key does not match tr"],
    [3, "s1 and s2 do not give the t0 of the key"],
  ])("bad-ML-DSA-44-%i (%s) is refused on import, also as a CA key file", (n) => {
    const pem = file(`bad-ML-DSA-44-${n}.priv`);
    expect(() => createPrivateKey(pem)).toThrow(/invalid key/);
    expect(() => SoftwareSigner.fromPem("bad", pem, "ml-dsa-44")).toThrow(/invalid key/);
  });
});
