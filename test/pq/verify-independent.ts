/**
 * Verifies ML-DSA signatures on X.509 certificates, CRLs and OCSP responses with @noble/post-quantum, a pure
 * JavaScript FIPS 204 implementation: a check by other code than the OpenSSL that signed them. The DER is split
 * here by a small reader of its own, so the bytes verified are exactly the bytes received (no re-encoding).
 */
import { ml_dsa44, ml_dsa65, ml_dsa87 } from "@noble/post-quantum/ml-dsa.js";

export type MlDsaLevel = 44 | 65 | 87;
export type SignedKind = "certificate" | "crl" | "ocsp";

const ML_DSA_BY_OID: Readonly<Record<string, MlDsaLevel>> = {
  "2.16.840.1.101.3.4.3.17": 44, "2.16.840.1.101.3.4.3.18": 65, "2.16.840.1.101.3.4.3.19": 87,
};
const NOBLE = { 44: ml_dsa44, 65: ml_dsa65, 87: ml_dsa87 } as const;
const OCSP_BASIC = "1.3.6.1.5.5.7.48.1.1";

interface Tlv { tag: number; start: number; contentStart: number; end: number }

function tlvAt(der: Uint8Array, pos: number, limit = der.length): Tlv {
  if (pos + 2 > limit) throw new Error(`DER ends inside a header at ${pos}`);
  const tag = der[pos];
  let len = der[pos + 1];
  let contentStart = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || contentStart + n > limit) throw new Error(`bad DER length at ${pos}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[contentStart + i];
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > limit) throw new Error(`DER element at ${pos} runs past its container`);
  return { tag, start: pos, contentStart, end };
}

function childrenOf(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.contentStart; p < parent.end; p = out[out.length - 1].end) out.push(tlvAt(der, p, parent.end));
  return out;
}

function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new Error(`${what}: expected tag 0x${tag.toString(16)}, found ${t ? `0x${t.tag.toString(16)}` : "nothing"}`);
  return t;
}

function oidText(b: Uint8Array): string {
  const arcs: number[] = [];
  let v = 0;
  for (const byte of b) {
    v = v * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (!arcs.length) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join(".");
}

/** AlgorithmIdentifier: the OID and whether any parameters field follows it (RFC 9881 forbids one for ML-DSA). */
function algorithmOf(der: Uint8Array, t: Tlv): { oid: string; hasParameters: boolean } {
  const parts = childrenOf(der, expectTag(t, 0x30, "AlgorithmIdentifier"));
  const oid = expectTag(parts[0], 0x06, "algorithm OID");
  return { oid: oidText(der.subarray(oid.contentStart, oid.end)), hasParameters: parts.length > 1 };
}

function bitStringContents(der: Uint8Array, t: Tlv, what: string): Uint8Array {
  expectTag(t, 0x03, what);
  if (der[t.contentStart] !== 0) throw new Error(`${what} has unused bits`);
  return der.subarray(t.contentStart + 1, t.end);
}

export interface SignedParts {
  /** The signed bytes exactly as received. */
  tbs: Uint8Array;
  algorithm: { oid: string; hasParameters: boolean };
  signature: Uint8Array;
  /** Offsets in the DER given of the signed bytes and of the signature octets (for tests that corrupt one of them). */
  tbsAt: number;
  signatureAt: number;
  /** OCSP only: the certificates in BasicOCSPResponse.certs (the delegated responder's). */
  certs: Uint8Array[];
}

/** Splits a Certificate, CertificateList or OCSPResponse (successful, basic) into what was signed and the signature. */
export function signedParts(der: Uint8Array, kind: SignedKind): SignedParts {
  let body = der;
  let bodyAt = 0;
  if (kind === "ocsp") {
    const outer = expectTag(tlvAt(der, 0), 0x30, "OCSPResponse");
    if (outer.end !== der.length) throw new Error("trailing bytes after the OCSPResponse");
    const [status, bytes] = childrenOf(der, outer);
    expectTag(status, 0x0a, "responseStatus");
    if (der[status.contentStart] !== 0) throw new Error(`OCSP responseStatus ${der[status.contentStart]} (not successful)`);
    const rb = childrenOf(der, expectTag(childrenOf(der, expectTag(bytes, 0xa0, "responseBytes"))[0], 0x30, "ResponseBytes"));
    const type = expectTag(rb[0], 0x06, "responseType");
    if (oidText(der.subarray(type.contentStart, type.end)) !== OCSP_BASIC) throw new Error("not a basic OCSP response");
    const octets = expectTag(rb[1], 0x04, "response");
    body = der.subarray(octets.contentStart, octets.end);
    bodyAt = octets.contentStart;
  }
  const seq = expectTag(tlvAt(body, 0), 0x30, kind);
  if (seq.end !== body.length) throw new Error(`trailing bytes after the ${kind}`);
  const [tbs, alg, sig, extra] = childrenOf(body, seq);
  expectTag(tbs, 0x30, `${kind} signed part`);
  const certs: Uint8Array[] = [];
  if (kind === "ocsp" && extra) {
    const list = childrenOf(body, expectTag(childrenOf(body, expectTag(extra, 0xa0, "certs"))[0], 0x30, "certs SEQUENCE"));
    for (const c of list) certs.push(body.subarray(c.start, c.end));
  }
  return {
    tbs: body.subarray(tbs.start, tbs.end), algorithm: algorithmOf(body, alg), signature: bitStringContents(body, sig, "signature"),
    tbsAt: bodyAt + tbs.start, signatureAt: bodyAt + sig.contentStart + 1, certs,
  };
}

/** An ML-DSA SubjectPublicKeyInfo: its level and the raw public key octets; throws for anything else. */
export function mlDsaPublicKey(spkiDer: Uint8Array): { level: MlDsaLevel; key: Uint8Array; hasParameters: boolean } {
  const seq = expectTag(tlvAt(spkiDer, 0), 0x30, "SubjectPublicKeyInfo");
  const [alg, bits] = childrenOf(spkiDer, seq);
  const { oid, hasParameters } = algorithmOf(spkiDer, alg);
  const level = ML_DSA_BY_OID[oid];
  if (!level) throw new Error(`not an ML-DSA key (${oid})`);
  return { level, key: bitStringContents(spkiDer, bits, "subjectPublicKey"), hasParameters };
}

/** The SubjectPublicKeyInfo DER of a certificate (for using one certificate's key on another's signature). */
export function spkiOfCertificate(certDer: Uint8Array): Uint8Array {
  const cert = expectTag(tlvAt(certDer, 0), 0x30, "Certificate");
  const tbs = childrenOf(certDer, childrenOf(certDer, cert)[0]);
  // version [0] is present in every v3 certificate; then serial, signature, issuer, validity, subject, SPKI.
  const spki = tbs[tbs[0].tag === 0xa0 ? 6 : 5];
  return certDer.subarray(expectTag(spki, 0x30, "subjectPublicKeyInfo").start, spki.end);
}

/**
 * True only when `der` carries an RFC 9881 ML-DSA signature (OID of the key's level, no parameters, in the key
 * too) that noble verifies over the signed bytes with the key in `signerSpki` (pure mode, empty context).
 */
export function verifyWithNoble(der: Uint8Array, kind: SignedKind, signerSpki: Uint8Array): boolean {
  const parts = signedParts(der, kind);
  const key = mlDsaPublicKey(signerSpki);
  if (parts.algorithm.hasParameters || key.hasParameters || ML_DSA_BY_OID[parts.algorithm.oid] !== key.level) return false;
  try {
    return NOBLE[key.level].verify(parts.signature, parts.tbs, key.key);
  } catch {
    return false;
  }
}

/** A copy of `der` with one bit flipped at `offset` (negative counts from the end). */
export function flipBit(der: Uint8Array, offset: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(der);
  out[offset < 0 ? out.length + offset : offset] ^= 1 << bit;
  return out;
}
