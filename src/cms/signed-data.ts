import { createHash, createPublicKey, sign, type KeyObject } from "node:crypto";
import { derSequence, derTlv } from "../asn1/der-encode.js";
import { timeDer } from "../asn1/der-values.js";
import { algId, certFacts, certIds, contentInfo, curveHash, derSetOf, DER_NULL, explicit, octetString, OID, oidDer, smallInteger } from "./der.js";

/** Digests a SignedData may use; SHA-1 only exists for SCEP's legacy clients. */
export type CmsHash = "sha1" | "sha256" | "sha384" | "sha512";

/** Attribute ::= SEQUENCE { attrType OID, attrValues SET OF value } (RFC 5652 §5.3). */
export const attribute = (oid: string, ...values: Uint8Array[]) => derSequence(oidDer(oid), derSetOf(values));

/** DigestAlgorithmIdentifier with parameters absent (RFC 5754 §2; RFC 3370 §2.1 prefers absent for SHA-1 too). */
export const digestAlgId = (hash: CmsHash) => algId(OID[hash]);

/** SignerInfo.signatureAlgorithm for a key type and hash: shaNNNWithRSAEncryption (NULL parameters) or ecdsa-with-SHANNN. */
export function signatureAlgId(keyType: string | undefined, hash: CmsHash): Uint8Array {
  if (keyType === "rsa") return algId({ sha1: OID.sha1WithRsa, sha256: OID.sha256WithRsa, sha384: OID.sha384WithRsa, sha512: OID.sha512WithRsa }[hash], DER_NULL);
  if (keyType === "ec") return algId({ sha1: OID.ecdsaWithSha1, sha256: OID.ecdsaWithSha256, sha384: OID.ecdsaWithSha384, sha512: OID.ecdsaWithSha512 }[hash]);
  throw new Error(`signer key type ${keyType ?? "unknown"} is not supported (EC or RSA)`);
}

export interface SignedDataInput {
  /** eContentType. */
  contentType: string;
  /** eContent; undefined leaves it out, and messageDigest then covers empty content (as OpenSSL computes it). */
  content?: Uint8Array;
  /** The signer's certificate (named by IssuerAndSerialNumber, placed first in `certificates`) and algorithms. */
  signer: { cert: Uint8Array; hash: CmsHash; signatureAlg: Uint8Array };
  /** More certificates for the SignedData (the signer's chain). */
  extraCerts?: Uint8Array[];
  /** More signed attributes (DER Attribute) besides contentType, signingTime and messageDigest. */
  attributes?: Uint8Array[];
}

/** A signer's certificate (an RA's or CA's, the same bytes object on every reply) is walked once. */
const signerIds = new WeakMap<Uint8Array, { issuerAndSerial: Uint8Array }>();

/**
 * SignedData (RFC 5652 §5) with one signer, in two steps so the signature can come from anywhere (KeyObject,
 * PKCS #11): `toBeSigned` is the DER SET OF signed attributes that the signature covers (§5.4), `finish`
 * assembles the bare SignedData around the signature. Version 1 for id-data content, else 3 (§5.1); the signer
 * is named by IssuerAndSerialNumber (SignerInfo v1).
 */
export function prepareSignedData(o: SignedDataInput): { toBeSigned: Uint8Array; finish: (signature: Uint8Array) => Uint8Array } {
  let signer = signerIds.get(o.signer.cert);
  if (!signer) {
    try {
      signer = certIds(o.signer.cert); // a DER walk: the signer's key is the caller's business
    } catch (e) {
      throw new Error(`the signer certificate is not a usable X.509 certificate: ${(e as Error).message}`);
    }
    signerIds.set(o.signer.cert, signer);
  }
  const extraCerts = o.extraCerts ?? [];
  for (const [i, c] of extraCerts.entries()) certFacts(c, `extra certificate ${i + 1}`);
  const digestAlg = digestAlgId(o.signer.hash);
  const attrs = [
    attribute(OID.contentTypeAttr, oidDer(o.contentType)),
    attribute(OID.signingTimeAttr, timeDer(new Date())),
    attribute(OID.messageDigestAttr, octetString(createHash(o.signer.hash).update(o.content ?? new Uint8Array(0)).digest())),
    ...(o.attributes ?? []),
  ];
  const toBeSigned = derSetOf(attrs);
  const finish = (signature: Uint8Array) => {
    const signedAttrs = Uint8Array.from(toBeSigned);
    signedAttrs[0] = 0xa0; // signedAttrs [0] IMPLICIT: same bytes, context tag
    const signerInfo = derSequence(smallInteger(1), signer.issuerAndSerial, digestAlg, signedAttrs, o.signer.signatureAlg, octetString(signature));
    return derSequence(
      smallInteger(o.contentType === OID.data ? 1 : 3),
      derSetOf([digestAlg]),
      o.content ? derSequence(oidDer(o.contentType), explicit(0, octetString(o.content))) : derSequence(oidDer(o.contentType)),
      derTlv(0xa0, o.signer.cert, ...extraCerts),
      derSetOf([signerInfo]),
    );
  };
  return { toBeSigned, finish };
}

/** {@link prepareSignedData} with an asynchronous signer (e.g. an HSM) over the signed attributes. */
export async function signedData(o: SignedDataInput & { sign: (toBeSigned: Uint8Array, hash: CmsHash) => Promise<Uint8Array> }): Promise<Uint8Array> {
  const p = prepareSignedData(o);
  return p.finish(await o.sign(p.toBeSigned, o.signer.hash));
}

/**
 * A signer backed by a private KeyObject: ECDSA with the hash matched to the curve (RFC 5753 §8, RFC 5758 §3.2),
 * RSA PKCS #1 v1.5 with SHA-256 unless `hash` says otherwise. Refuses a key that does not belong to `cert`.
 */
export function keySigner(cert: Uint8Array, key: KeyObject, hash?: CmsHash): { signer: SignedDataInput["signer"]; sign: (data: Uint8Array) => Uint8Array } {
  const facts = certFacts(cert, "the signer certificate");
  if (key.type !== "private") throw new Error("the signer key must be a private key");
  const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" });
  if (!spki(createPublicKey(key)).equals(spki(facts.publicKey))) throw new Error("the signer key does not belong to the signer certificate");
  const h: CmsHash = hash ?? (key.asymmetricKeyType === "ec" ? curveHash(key) : "sha256");
  const signatureAlg = signatureAlgId(key.asymmetricKeyType, h);
  // ECDSA: node returns the DER Ecdsa-Sig-Value that CMS wants.
  return { signer: { cert, hash: h, signatureAlg }, sign: (data) => sign(h, data, key) };
}

/**
 * A degenerate SignedData in a ContentInfo (RFC 5652 §5.2, RFC 5751 §3.8, RFC 7030 §4.1.3, RFC 8894 §3.4):
 * version 1, no digest algorithms, id-data without content, the certificates and/or CRLs, no signers.
 * Both keep the caller's order (as OpenSSL writes them): CMS is BER and no parser sorts them, while naive
 * clients read the chain in the order given.
 */
export function degenerateSignedData(o: { certs?: Uint8Array[]; crls?: Uint8Array[] }): Uint8Array {
  const certs = o.certs ?? [];
  const crls = o.crls ?? [];
  if (!certs.length && !crls.length) throw new Error("a degenerate SignedData needs a certificate or a CRL");
  const signedData = derSequence(
    smallInteger(1),
    derTlv(0x31), // digestAlgorithms: empty SET
    derSequence(oidDer(OID.data)), // encapContentInfo without eContent
    ...(certs.length ? [derTlv(0xa0, ...certs)] : []), // certificates [0] IMPLICIT CertificateSet
    ...(crls.length ? [derTlv(0xa1, ...crls)] : []), // crls [1] IMPLICIT RevocationInfoChoices
    derTlv(0x31), // signerInfos: empty SET
  );
  return contentInfo(OID.signedData, signedData);
}

/** The "certs-only" form of {@link degenerateSignedData} (EST /cacerts and enrollment answers). */
export function certsOnly(certs: Uint8Array[]): Uint8Array {
  if (!certs.length) throw new Error("certsOnly needs at least one certificate");
  return degenerateSignedData({ certs });
}

const chainCache = new WeakMap<Uint8Array, { certs: Uint8Array[]; der: Uint8Array }>();

/**
 * {@link certsOnly} for a fixed list (a CA chain answered on every /cacerts or GetCACert), built once. Keyed by
 * the first certificate's bytes object and checked element by element, so a CA object given new certificates
 * (rollover) gets a new answer. Callers must not write to the result.
 */
export function cachedCertsOnly(certs: Uint8Array[]): Uint8Array {
  const hit = chainCache.get(certs[0]);
  if (hit && hit.certs.length === certs.length && hit.certs.every((c, i) => c === certs[i])) return hit.der;
  const der = certsOnly(certs);
  chainCache.set(certs[0], { certs: [...certs], der });
  return der;
}
