import { constants, publicEncrypt, randomBytes } from "node:crypto";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { algId, contentInfo, DER_NULL, derSetOf, octetString, OID, oidDer, smallInteger, type CertFacts } from "../../src/cms/der.js";
import { CONTENT_CIPHERS, envelopedData, type ContentCipher } from "../../src/cms/envelope.js";
import { DES_BLOCK, desCbcEncrypt, newDesKey } from "./des.js";

/** Content ciphers a SCEP exchange may use: the CMS writer's, and single DES where an endpoint opts in. */
export type ScepCipher = ContentCipher | "des-cbc";

export const SCEP_CIPHERS: Record<ScepCipher, { oid: string; keyLength: number; ivLength: number }> = {
  ...CONTENT_CIPHERS,
  "des-cbc": { oid: OID.desCbc, keyLength: 8, ivLength: DES_BLOCK },
};

/**
 * The pkcsPKIEnvelope of a SUCCESS CertRep: ContentInfo(EnvelopedData) of id-data to `recipient`, PKCS #1 v1.5 key
 * transport (RFC 8894 §3.2). Single DES is for a request that came under single DES: the device reads nothing else.
 */
export function scepEnvelope(content: Uint8Array, recipient: CertFacts, cipher: ScepCipher): Uint8Array {
  if (cipher !== "des-cbc") return envelopedData({ content, contentType: OID.data, recipient, cipher, rsaKeyTransport: "pkcs1-v1_5" });
  // Only an RSA signer can have sent a DES request (key transport is RSA on both sides).
  if (recipient.publicKey.asymmetricKeyType !== "rsa") throw new Error("a single-DES reply needs an RSA recipient");
  const cek = newDesKey();
  const iv = randomBytes(DES_BLOCK);
  const encryptedKey = publicEncrypt({ key: recipient.publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
  // KeyTransRecipientInfo v0 by IssuerAndSerialNumber; EnvelopedData v0 (RFC 5652 §6.1).
  const ktri = derSequence(smallInteger(0), recipient.issuerAndSerial, algId(OID.rsaEncryption, DER_NULL), octetString(encryptedKey));
  const eci = derSequence(oidDer(OID.data), algId(OID.desCbc, octetString(iv)), derTlv(0x80, desCbcEncrypt(cek, iv, content)));
  return contentInfo(OID.envelopedData, derSequence(smallInteger(0), derSetOf([ktri]), eci));
}
