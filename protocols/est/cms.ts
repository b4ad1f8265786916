import { createHash, createPublicKey, sign, type KeyObject } from "node:crypto";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer, timeDer } from "../../src/asn1/der-values.js";
import { algId, certFacts, contentInfo, curveHash, derSetOf, DER_NULL, explicit, octetString, OID, smallInteger } from "./cms-der.js";
import { envelopedData } from "./cms-envelope.js";

export { derSetOf };

/**
 * A degenerate "certs-only" SignedData in a ContentInfo (RFC 5751 §3.8, RFC 7030 §4.1.3):
 * version 1, no digest algorithms, id-data without content, the certificates, no signers.
 * The certificates keep the caller's order (as OpenSSL writes them): CMS is BER and no parser
 * sorts them, while naive clients read the chain in the order given.
 */
export function certsOnly(certs: Uint8Array[]): Uint8Array {
  if (!certs.length) throw new Error("certsOnly needs at least one certificate");
  const signedData = derSequence(
    smallInteger(1),
    derTlv(0x31), // digestAlgorithms: empty SET
    derSequence(oidDer(OID.data)), // encapContentInfo without eContent
    derTlv(0xa0, ...certs), // certificates [0] IMPLICIT CertificateSet
    derTlv(0x31), // signerInfos: empty SET
  );
  return contentInfo(OID.signedData, signedData);
}

export interface ServerKeyEnvelopeInput {
  /** The server-generated private key, DER PKCS#8 PrivateKeyInfo (= OneAsymmetricKey v1). */
  pkcs8: Uint8Array;
  /** The client's certificate whose public key the key is encrypted to (RFC 7030 §4.4.1.2). */
  recipientCert: Uint8Array;
  /** The certificate of the party that generated the key, and its private key (EC or RSA). */
  signerCert: Uint8Array;
  signerKey: KeyObject;
  /** More certificates for the SignedData (the signer's chain). */
  extraCerts?: Uint8Array[];
}

/**
 * The `application/pkcs7-mime; smime-type=server-generated-key` part of a /serverkeygen answer with
 * asymmetric key encryption. Layering, outermost first, per RFC 7030 §4.4.2 ("the private key is placed
 * inside of a CMS SignedData ... signed by the party that generated the private key ... The SignedData is
 * further protected by placing it inside of a CMS EnvelopedData, as described in Section 4 of [RFC5958]
 * ... the EnvelopedData is returned in the response as an application/pkcs7-mime part"):
 *
 *   ContentInfo { id-envelopedData, EnvelopedData {            -- ktri (RSA) or kari (EC) to recipientCert
 *     encryptedContentInfo { contentType id-signedData, AES-256-CBC( SignedData {
 *       encapContentInfo { eContentType id-ct-KP-aKeyPackage,    -- RFC 5958 §2
 *                          eContent AsymmetricKeyPackage ::= SEQUENCE OF OneAsymmetricKey { pkcs8 } },
 *       certificates { signerCert, extraCerts... }, signerInfos { signerCert's signature } }) } } }
 *
 * Sign-then-encrypt is also what RFC 5958 §4 and RFC 9483 §4.1.6 (CMP central key generation) do; the
 * signature stays private to the recipient and proves who generated the key. The encrypted content is the
 * bare SignedData (no inner ContentInfo), as RFC 5652 §6.1 nests content types.
 */
export async function serverKeyEnveloped(o: ServerKeyEnvelopeInput): Promise<Uint8Array> {
  const recipient = certFacts(o.recipientCert, "the recipient certificate");
  const keyPackage = derSequence(o.pkcs8); // AsymmetricKeyPackage with the one key
  const signed = signedData({ content: keyPackage, contentType: OID.aKeyPackage, signerCert: o.signerCert, signerKey: o.signerKey, extraCerts: o.extraCerts ?? [] });
  return envelopedData({ content: signed, contentType: OID.signedData, recipient });
}

/** Digest and signature algorithm identifiers for a signer key (RFC 5754 §2/§3.2, RFC 5758 §3.2, RFC 4055). */
function signerAlgorithms(key: KeyObject): { hash: "sha256" | "sha384" | "sha512"; digestAlg: Uint8Array; signatureAlg: Uint8Array } {
  if (key.asymmetricKeyType === "ec") {
    const hash = curveHash(key);
    const sig = { sha256: OID.ecdsaWithSha256, sha384: OID.ecdsaWithSha384, sha512: OID.ecdsaWithSha512 }[hash];
    return { hash, digestAlg: algId(OID[hash]), signatureAlg: algId(sig) };
  }
  if (key.asymmetricKeyType === "rsa") return { hash: "sha256", digestAlg: algId(OID.sha256), signatureAlg: algId(OID.sha256WithRsa, DER_NULL) };
  throw new Error(`signer key type ${key.asymmetricKeyType ?? "unknown"} is not supported (EC or RSA)`);
}

/**
 * SignedData (RFC 5652 §5) over `content` with one signer: version 3 because eContentType is not id-data
 * (§5.1), signer named by IssuerAndSerialNumber (SignerInfo v1), signed attributes contentType,
 * signingTime and messageDigest — the signature covers their DER with the SET OF tag (§5.4).
 */
function signedData(o: { content: Uint8Array; contentType: string; signerCert: Uint8Array; signerKey: KeyObject; extraCerts: Uint8Array[] }): Uint8Array {
  const signer = certFacts(o.signerCert, "the signer certificate");
  if (o.signerKey.type !== "private") throw new Error("the envelope signer key must be a private key");
  const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" });
  if (!spki(createPublicKey(o.signerKey)).equals(spki(signer.publicKey))) throw new Error("the envelope signer key does not belong to the signer certificate");
  for (const [i, c] of o.extraCerts.entries()) certFacts(c, `extra certificate ${i + 1}`);
  const { hash, digestAlg, signatureAlg } = signerAlgorithms(o.signerKey);

  const attrs = [
    derSequence(oidDer(OID.contentTypeAttr), derSetOf([oidDer(o.contentType)])),
    derSequence(oidDer(OID.signingTimeAttr), derSetOf([timeDer(new Date())])),
    derSequence(oidDer(OID.messageDigestAttr), derSetOf([octetString(createHash(hash).update(o.content).digest())])),
  ];
  const signedAttrsSet = derSetOf(attrs);
  const signature = sign(hash, signedAttrsSet, o.signerKey); // ECDSA: DER Ecdsa-Sig-Value, as CMS wants
  const signedAttrs = Uint8Array.from(signedAttrsSet);
  signedAttrs[0] = 0xa0; // signedAttrs [0] IMPLICIT: same bytes, context tag

  const signerInfo = derSequence(smallInteger(1), signer.issuerAndSerial, digestAlg, signedAttrs, signatureAlg, octetString(signature));
  return derSequence(
    smallInteger(3),
    derSetOf([digestAlg]),
    derSequence(oidDer(o.contentType), explicit(0, octetString(o.content))),
    derTlv(0xa0, o.signerCert, ...o.extraCerts),
    derSetOf([signerInfo]),
  );
}
