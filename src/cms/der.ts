import type { KeyObject } from "node:crypto";
import { derSequence, derTlv } from "../asn1/der-encode.js";
import { checkDer } from "../asn1/der-limits.js";
import { oidDer } from "../asn1/der-values.js";
import { childSpans, header } from "../asn1/der-walk.js";
import { importSpki } from "../asn1/spki-import.js";

export { oidDer };

/** DER building blocks shared by the CMS writers and readers (signed-data.ts, envelope.ts, read.ts). */

/** DER SET OF: elements sorted by their encodings (X.690 §11.6). */
export function derSetOf(items: Uint8Array[]): Uint8Array {
  return derTlv(0x31, ...[...items].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
}

export const octetString = (content: Uint8Array) => derTlv(0x04, content);

/** `[n] EXPLICIT` (constructed context tag around one encoded value). */
export const explicit = (n: number, ...inner: Uint8Array[]) => derTlv(0xa0 | n, ...inner);

/** AlgorithmIdentifier; `params` undefined means absent (RFC 5754 hashes, RFC 3565 key wraps, RFC 5758 ECDSA). */
export function algId(oid: string, params?: Uint8Array): Uint8Array {
  return params ? derSequence(oidDer(oid), params) : derSequence(oidDer(oid));
}

export const DER_NULL = Uint8Array.of(0x05, 0x00);

/** INTEGER for a small non-negative number. */
export function smallInteger(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`INTEGER ${n} is not a non-negative safe integer`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  if (!bytes.length || bytes[0] & 0x80) bytes.unshift(0);
  return derTlv(0x02, Uint8Array.from(bytes));
}

export const OID = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  envelopedData: "1.2.840.113549.1.7.3",
  /** RFC 5958 §2; note @peculiar/asn1-asym-key 2.x exports a wrong value for this (…1.78.5). */
  aKeyPackage: "2.16.840.1.101.2.1.2.78.5",
  contentTypeAttr: "1.2.840.113549.1.9.3",
  messageDigestAttr: "1.2.840.113549.1.9.4",
  signingTimeAttr: "1.2.840.113549.1.9.5",
  sha1: "1.3.14.3.2.26",
  md5: "1.2.840.113549.2.5",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  rsaEncryption: "1.2.840.113549.1.1.1",
  md5WithRsa: "1.2.840.113549.1.1.4",
  sha1WithRsa: "1.2.840.113549.1.1.5",
  sha256WithRsa: "1.2.840.113549.1.1.11",
  sha384WithRsa: "1.2.840.113549.1.1.12",
  sha512WithRsa: "1.2.840.113549.1.1.13",
  rsaesOaep: "1.2.840.113549.1.1.7",
  mgf1: "1.2.840.113549.1.1.8",
  ecdsaWithSha1: "1.2.840.10045.4.1",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  ecdsaWithSha512: "1.2.840.10045.4.3.4",
  ecPublicKey: "1.2.840.10045.2.1",
  /** RFC 5753 §7.1.4 (SEC 1): dhSinglePass-stdDH-sha{256,384,512}kdf-scheme. */
  stdDhSha256Kdf: "1.3.132.1.11.1",
  stdDhSha384Kdf: "1.3.132.1.11.2",
  stdDhSha512Kdf: "1.3.132.1.11.3",
  aes256Wrap: "2.16.840.1.101.3.4.1.45",
  aes128Cbc: "2.16.840.1.101.3.4.1.2",
  aes192Cbc: "2.16.840.1.101.3.4.1.22",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  desEde3Cbc: "1.2.840.113549.3.7",
  /** Refused on input, named so the refusal can say what was sent. */
  desCbc: "1.3.14.3.2.7",
  rc2Cbc: "1.2.840.113549.3.2",
  subjectKeyIdentifier: "2.5.29.14",
} as const;

/** ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT }. */
export const contentInfo = (type: string, content: Uint8Array) => derSequence(oidDer(type), explicit(0, content));

export interface CertFacts {
  der: Uint8Array;
  /** IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER } (RFC 5652 §10.2.4), DER. */
  issuerAndSerial: Uint8Array;
  publicKey: KeyObject;
  /** The SubjectPublicKeyInfo exactly as the certificate encodes it (a view into `der`). */
  spki: Uint8Array;
  /** The subjectKeyIdentifier extension's key identifier, when the certificate has one (CMS `[0]` rid/sid). */
  ski?: Uint8Array;
}

/**
 * The parts of an X.509 certificate the CMS writers and readers need; throws an Error naming `what` on anything odd.
 * A DER walk and a key import from the SubjectPublicKeyInfo's numbers: parsing the whole certificate with
 * X509Certificate and then exporting its key cost ~0.3 ms per SCEP request, for values the walk already has.
 */
export function certFacts(der: Uint8Array, what: string, ids?: CertIds): CertFacts {
  try {
    const { spki, ...rest } = ids ?? walkCertificate(der);
    return { der, ...rest, spki, publicKey: importSpki(spki) };
  } catch (e) {
    throw new Error(`${what} is not a usable X.509 certificate: ${(e as Error).message}`);
  }
}

/** What a DER walk of a certificate gives: how CMS names it (IssuerAndSerialNumber, subjectKeyIdentifier) and its key's SPKI. */
export interface CertIds {
  issuerAndSerial: Uint8Array;
  ski?: Uint8Array;
  /** A view into the certificate's bytes: pass the same bytes object to {@link certFacts}. */
  spki: Uint8Array;
}

/** How CMS names a certificate, by a DER walk only (no key import); throws on odd input. */
export function certIds(der: Uint8Array): CertIds {
  return walkCertificate(der);
}

/**
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature BIT STRING } with tbsCertificate's
 * fields in order (RFC 5280 §4.1): [0] version?, serialNumber, signature, issuer, validity, subject,
 * subjectPublicKeyInfo, then the optional unique IDs and [3] extensions. Strict DER first (checkDer).
 */
function walkCertificate(der: Uint8Array): CertIds {
  checkDer(der, { maxBytes: 64 * 1024, maxDepth: 32, maxNodes: 20_000 });
  if (der[0] !== 0x30) throw new Error("not a Certificate SEQUENCE");
  const top = childSpans(der, 0);
  const tbs = top[0];
  if (top.length !== 3 || der[tbs[0]] !== 0x30 || der[top[1][0]] !== 0x30 || der[top[2][0]] !== 0x03) throw new Error("not a Certificate SEQUENCE");
  const fields = childSpans(der, tbs[0]);
  const at = der[fields[0]?.[0]] === 0xa0 ? 1 : 0; // version [0] is optional (v1)
  const serial = fields[at];
  const issuer = fields[at + 2];
  if (!serial || !issuer || der[serial[0]] !== 0x02 || der[issuer[0]] !== 0x30) throw new Error("serialNumber or issuer missing");
  const [sigAlg, validity, subject, spki] = [fields[at + 1], fields[at + 3], fields[at + 4], fields[at + 5]];
  if (!spki || [sigAlg, validity, subject, spki].some(([s]) => der[s] !== 0x30)) throw new Error("signature, validity, subject or subjectPublicKeyInfo missing");
  const extensions = fields.find(([s]) => der[s] === 0xa3);
  return {
    issuerAndSerial: derSequence(der.subarray(issuer[0], issuer[1]), der.subarray(serial[0], serial[1])),
    spki: der.subarray(spki[0], spki[1]),
    ski: extensions ? subjectKeyId(der, extensions[0]) : undefined,
  };
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING { KeyIdentifier OCTET STRING } }. */
function subjectKeyId(der: Uint8Array, extensionsTag: number): Uint8Array | undefined {
  const [list] = childSpans(der, extensionsTag);
  if (!list || der[list[0]] !== 0x30) return undefined;
  const skiOid = Buffer.from(oidDer(OID.subjectKeyIdentifier));
  for (const [start] of childSpans(der, list[0])) {
    if (der[start] !== 0x30) return undefined; // only constructed values were checked inside
    const parts = childSpans(der, start);
    const [id, value] = [parts[0], parts[parts.length - 1]];
    if (!id || !Buffer.from(der.subarray(id[0], id[1])).equals(skiOid)) continue;
    if (der[value[0]] !== 0x04) return undefined;
    // checkDer does not look inside primitive OCTET STRINGs: check the wrapped KeyIdentifier before reading it.
    const inner = der.subarray(header(der, value[0]).contentStart, value[1]);
    try {
      checkDer(inner, { maxBytes: 1024, maxDepth: 2, maxNodes: 2 });
    } catch {
      return undefined;
    }
    return inner[0] === 0x04 ? inner.subarray(header(inner, 0).contentStart) : undefined;
  }
  return undefined;
}

/** Hash for a curve's signatures and KDF, matched to its strength (RFC 5753 §8, RFC 5758 §3.2). */
export function curveHash(key: KeyObject): "sha256" | "sha384" | "sha512" {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  switch (curve) {
    case "prime256v1": return "sha256";
    case "secp384r1": return "sha384";
    case "secp521r1": return "sha512";
    default: throw new Error(`EC curve ${curve ?? "(unnamed)"} is not supported (P-256, P-384, P-521)`);
  }
}
