// @peculiar/x509 (behind nameToString) needs the Reflect polyfill.
import "reflect-metadata";
import { createHash, X509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, ExtendedKeyUsage, SubjectAlternativeName, id_ce_extKeyUsage, id_ce_subjectAltName } from "@peculiar/asn1-x509";
import { RsaSaPssParams } from "@peculiar/asn1-rsa";
import { generalNamesToSans } from "../asn1/general-names.js";
import { nameToString } from "../asn1/name.js";
import { serialHex } from "../ca/serial.js";
import { sanList } from "../policy/request.js";

/** Classical families are all quantum-vulnerable (Shor); "pqc" are the NIST post-quantum signature schemes. */
export type KeyFamily = "rsa" | "ec" | "eddsa" | "dsa" | "pqc" | "other";

/** What the inventory needs to know about one certificate. */
export interface CertFacts {
  fingerprint: string; // SHA-256 of the DER, lowercase hex
  subject: string; // RFC 4514
  issuer: string;
  serial: string; // lowercase hex, no sign octet
  notBefore: string; // ISO
  notAfter: string;
  /** Whole days from notBefore to notAfter. */
  lifetimeDays: number;
  /** "EC P-256", "RSA 2048", "Ed25519", "ML-DSA-65", … (the managed inventory's form). */
  keyAlgorithm: string;
  keyFamily: KeyFamily;
  /** RSA/DSA modulus bits, EC field bits. */
  keySize?: number;
  signatureAlgorithm: string;
  signatureOid: string;
  /** "sha256", "sha1", "md5", … ; "eddsa"/"ml-dsa"/"slh-dsa" for schemes without a separate hash; the OID when unknown. */
  signatureHash: string;
  sans: string[]; // "dns:x", "ip:y", …
  isCa: boolean;
  selfSigned: boolean;
  /** EKU names serverAuth (or anyExtendedKeyUsage). */
  serverAuth: boolean;
}

/** Largest certificate accepted (DER bytes). */
export const MAX_CERT_BYTES = 64 * 1024;

const SIG: Record<string, [name: string, hash: string]> = {
  "1.2.840.113549.1.1.2": ["md2WithRSAEncryption", "md2"],
  "1.2.840.113549.1.1.3": ["md4WithRSAEncryption", "md4"],
  "1.2.840.113549.1.1.4": ["md5WithRSAEncryption", "md5"],
  "1.2.840.113549.1.1.5": ["sha1WithRSAEncryption", "sha1"],
  "1.3.14.3.2.29": ["sha1WithRSASignature", "sha1"],
  "1.2.840.113549.1.1.14": ["sha224WithRSAEncryption", "sha224"],
  "1.2.840.113549.1.1.11": ["sha256WithRSAEncryption", "sha256"],
  "1.2.840.113549.1.1.12": ["sha384WithRSAEncryption", "sha384"],
  "1.2.840.113549.1.1.13": ["sha512WithRSAEncryption", "sha512"],
  "1.2.840.10045.4.1": ["ecdsa-with-SHA1", "sha1"],
  "1.2.840.10045.4.3.1": ["ecdsa-with-SHA224", "sha224"],
  "1.2.840.10045.4.3.2": ["ecdsa-with-SHA256", "sha256"],
  "1.2.840.10045.4.3.3": ["ecdsa-with-SHA384", "sha384"],
  "1.2.840.10045.4.3.4": ["ecdsa-with-SHA512", "sha512"],
  "1.2.840.10040.4.3": ["dsa-with-SHA1", "sha1"],
  "2.16.840.1.101.3.4.3.2": ["dsa-with-SHA256", "sha256"],
  "1.3.101.112": ["Ed25519", "eddsa"],
  "1.3.101.113": ["Ed448", "eddsa"],
  "2.16.840.1.101.3.4.3.17": ["ML-DSA-44", "ml-dsa"],
  "2.16.840.1.101.3.4.3.18": ["ML-DSA-65", "ml-dsa"],
  "2.16.840.1.101.3.4.3.19": ["ML-DSA-87", "ml-dsa"],
};
const RSA_PSS = "1.2.840.113549.1.1.10";
const HASH_OIDS: Record<string, string> = {
  "1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.4": "sha224", "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384", "2.16.840.1.101.3.4.2.3": "sha512",
};
/** SPKI algorithms node:crypto may not load (post-quantum keys). */
const KEY_OIDS: Record<string, [label: string, family: KeyFamily]> = {
  "2.16.840.1.101.3.4.3.17": ["ML-DSA-44", "pqc"], "2.16.840.1.101.3.4.3.18": ["ML-DSA-65", "pqc"], "2.16.840.1.101.3.4.3.19": ["ML-DSA-87", "pqc"],
  "1.3.101.112": ["Ed25519", "eddsa"], "1.3.101.113": ["Ed448", "eddsa"],
  "1.2.840.113549.1.1.1": ["RSA", "rsa"], "1.2.840.10045.2.1": ["EC", "ec"], "1.2.840.10040.4.1": ["DSA", "dsa"],
};
const CURVES: Record<string, [label: string, bits: number]> = {
  prime256v1: ["P-256", 256], secp384r1: ["P-384", 384], secp521r1: ["P-521", 521], prime192v1: ["P-192", 192], secp224r1: ["P-224", 224],
};
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const ANY_EKU = "2.5.29.37.0";

/** Facts from a DER certificate; throws when it is not one. */
export function certificateFacts(der: Uint8Array): CertFacts {
  if (der.length > MAX_CERT_BYTES) throw new Error(`certificate of ${der.length} bytes exceeds ${MAX_CERT_BYTES}`);
  const x = new X509Certificate(der); // OpenSSL parses first: malformed input fails here
  const asn = AsnConvert.parse(der, Certificate);
  const tbs = asn.tbsCertificate;
  const notBefore = tbs.validity.notBefore.getTime();
  const notAfter = tbs.validity.notAfter.getTime();
  const sig = signatureOf(asn.signatureAlgorithm.algorithm, asn.signatureAlgorithm.parameters);
  const key = keyOf(x, tbs.subjectPublicKeyInfo.algorithm.algorithm);
  const ext = (id: string) => tbs.extensions?.find((e) => e.extnID === id);
  const sanExt = ext(id_ce_subjectAltName);
  const ekuExt = ext(id_ce_extKeyUsage);
  const eku = ekuExt ? AsnConvert.parse(ekuExt.extnValue, ExtendedKeyUsage).map(String) : [];
  return {
    fingerprint: createHash("sha256").update(der).digest("hex"),
    subject: nameToString(AsnConvert.serialize(tbs.subject)),
    issuer: nameToString(AsnConvert.serialize(tbs.issuer)),
    serial: serialHex(tbs.serialNumber),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    lifetimeDays: Math.floor((notAfter.getTime() - notBefore.getTime()) / 86_400_000),
    ...key,
    signatureAlgorithm: sig.name,
    signatureOid: asn.signatureAlgorithm.algorithm,
    signatureHash: sig.hash,
    sans: sanExt ? sanList(generalNamesToSans(AsnConvert.parse(sanExt.extnValue, SubjectAlternativeName))) : [],
    isCa: x.ca,
    selfSigned: selfSigned(x),
    serverAuth: eku.includes(SERVER_AUTH) || eku.includes(ANY_EKU),
  };
}

function signatureOf(oid: string, params: ArrayBuffer | null | undefined): { name: string; hash: string } {
  if (oid === RSA_PSS) {
    let hash = "sha1"; // RFC 4055 default
    try {
      if (params) hash = HASH_OIDS[AsnConvert.parse(params, RsaSaPssParams).hashAlgorithm.algorithm] ?? "unknown";
    } catch {
      hash = "unknown";
    }
    return { name: `RSASSA-PSS (${hash})`, hash };
  }
  const known = SIG[oid];
  if (known) return { name: known[0], hash: known[1] };
  // SLH-DSA: 2.16.840.1.101.3.4.3.20 … .31
  if (/^2\.16\.840\.1\.101\.3\.4\.3\.(2\d|3[01])$/.test(oid)) return { name: `SLH-DSA (${oid})`, hash: "slh-dsa" };
  return { name: oid, hash: oid };
}

function keyOf(x: X509Certificate, spkiOid: string): Pick<CertFacts, "keyAlgorithm" | "keyFamily" | "keySize"> {
  const byOid = KEY_OIDS[spkiOid];
  if (byOid && byOid[1] === "pqc") return { keyAlgorithm: byOid[0], keyFamily: "pqc" };
  if (/^2\.16\.840\.1\.101\.3\.4\.3\.(2\d|3[01])$/.test(spkiOid)) return { keyAlgorithm: "SLH-DSA", keyFamily: "pqc" };
  try {
    const k = x.publicKey;
    const d = k.asymmetricKeyDetails ?? {};
    switch (k.asymmetricKeyType) {
      case "rsa": return { keyAlgorithm: `RSA ${d.modulusLength}`, keyFamily: "rsa", keySize: d.modulusLength };
      case "rsa-pss": return { keyAlgorithm: `RSA-PSS ${d.modulusLength}`, keyFamily: "rsa", keySize: d.modulusLength };
      case "dsa": return { keyAlgorithm: `DSA ${d.modulusLength}`, keyFamily: "dsa", keySize: d.modulusLength };
      case "ec": {
        const curve = d.namedCurve ?? "unknown";
        const [label, bits] = CURVES[curve] ?? [curve, Number(/(\d{3})/.exec(curve)?.[1] ?? 0) || undefined];
        return { keyAlgorithm: `EC ${label}`, keyFamily: "ec", keySize: bits };
      }
      case "ed25519": return { keyAlgorithm: "Ed25519", keyFamily: "eddsa", keySize: 256 };
      case "ed448": return { keyAlgorithm: "Ed448", keyFamily: "eddsa", keySize: 456 };
      default: return { keyAlgorithm: k.asymmetricKeyType ?? spkiOid, keyFamily: "other" };
    }
  } catch {
    return byOid ? { keyAlgorithm: byOid[0], keyFamily: byOid[1] } : { keyAlgorithm: spkiOid, keyFamily: "other" };
  }
}

/** Issued by itself: names match and, where node:crypto can check it, the signature verifies with its own key. */
function selfSigned(x: X509Certificate): boolean {
  if (x.subject !== x.issuer) return false;
  try {
    return x.verify(x.publicKey);
  } catch {
    return true;
  }
}
