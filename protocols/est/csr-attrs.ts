import { derSequence } from "../../src/asn1/der-encode.js";
import { checkDer } from "../../src/asn1/der-limits.js";
import { oidDer } from "../../src/asn1/der-values.js";
import { derSetOf, smallInteger } from "../../src/cms/der.js";

/**
 * One `AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }` (RFC 7030 §4.5.2):
 * a bare OID, or an attribute type with the DER of each of its values.
 */
export type CsrAttrItem = { oid: string } | { type: string; values: Uint8Array[] };

/** The key rules csrAttrsFor reads; the profile's KeyRule fits this shape. */
export type CsrAttrKeyRule = { type: "ec"; curves: ("P-256" | "P-384")[] } | { type: "rsa"; minBits: number } | { type: "ml-dsa"; levels: (44 | 65 | 87)[] };

const CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7";
const EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const CURVES = { "P-256": "1.2.840.10045.3.1.7", "P-384": "1.3.132.0.34" } as const;
const ECDSA_WITH = { "P-256": "1.2.840.10045.4.3.2", "P-384": "1.2.840.10045.4.3.3" } as const;
const SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
/** id-ml-dsa-* (RFC 9881): one OID names both the key and the signature algorithm. */
const ML_DSA = { 44: "2.16.840.1.101.3.4.3.17", 65: "2.16.840.1.101.3.4.3.18", 87: "2.16.840.1.101.3.4.3.19" } as const;

const DOTTED_OID = /^[0-2]\.(0|[1-9]\d*)(\.(0|[1-9]\d*))*$/;

function oid(text: string): Uint8Array {
  // oidDer would silently encode nonsense (or throw a bare SyntaxError) for a malformed string.
  if (!DOTTED_OID.test(text) || (/^[01]\./.test(text) && Number(text.split(".")[1]) > 39)) throw new Error(`"${text}" is not a dotted OID`);
  return oidDer(text);
}

/**
 * DER `CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID` (RFC 7030 §4.5.2, unchanged on the wire by
 * RFC 9908 §3.2). Items keep their order; the values of an attribute form a DER SET OF (sorted), and an
 * attribute needs at least one (`values SET SIZE (1..MAX)`).
 */
export function encodeCsrAttrs(items: CsrAttrItem[]): Uint8Array {
  return derSequence(...items.map((item) => {
    if ("oid" in item) return oid(item.oid);
    if (!item.values.length) throw new Error(`CSR attribute ${item.type} needs at least one value`);
    for (const v of item.values) {
      try {
        checkDer(v); // each value must be exactly one well-formed DER TLV
      } catch (e) {
        throw new Error(`a value of CSR attribute ${item.type} is not one DER value: ${(e as Error).message}`);
      }
    }
    return derSequence(oid(item.type), derSetOf(item.values));
  }));
}

/**
 * What the gateway asks for (RFC 7030 §4.5.2): challengePassword when proof-of-possession linking is on
 * (§3.5), then for the first key rule the key type as an attribute with its parameter and the signature
 * algorithm as a bare OID — the shapes of RFC 7030's example (id-ecPublicKey with the curve OID) and of
 * RFC 9908 §4's "public key of a specific size" example (rsaEncryption with INTEGER bits).
 */
export function csrAttrsFor(o: { keys: CsrAttrKeyRule[]; challengePassword: boolean }): CsrAttrItem[] {
  const out: CsrAttrItem[] = o.challengePassword ? [{ oid: CHALLENGE_PASSWORD }] : [];
  const rule = o.keys[0];
  if (rule?.type === "ec" && rule.curves.length) {
    const curve = rule.curves[0];
    out.push({ type: EC_PUBLIC_KEY, values: [oidDer(CURVES[curve])] }, { oid: ECDSA_WITH[curve] });
  } else if (rule?.type === "rsa") {
    out.push({ type: RSA_ENCRYPTION, values: [smallInteger(rule.minBits)] }, { oid: SHA256_WITH_RSA });
  } else if (rule?.type === "ml-dsa" && rule.levels.length) {
    out.push({ oid: ML_DSA[rule.levels[0]] });
  }
  return out;
}
