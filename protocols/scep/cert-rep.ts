import { randomBytes } from "node:crypto";
import { algId, certFacts, contentInfo, DER_NULL, OID, type CertFacts } from "../../src/cms/der.js";
import { degenerateSignedData, signatureAlgId, signedData } from "../../src/cms/signed-data.js";
import { SCEP_CIPHERS, scepEnvelope, type ScepCipher } from "./envelope.js";
import { FAIL_INFO, isPrintable, MESSAGE_TYPE, NONCE_LENGTH, octetAttr, PKI_STATUS, printableAttr, SCEP_OID, type FailInfo, type PkiStatus, type ScepDigest } from "./scep-attrs.js";

export interface CertRepOptions {
  status: PkiStatus;
  /** Required with FAILURE. */
  failInfo?: FailInfo;
  transactionId: string;
  /** The request's senderNonce. */
  recipientNonce: Uint8Array;
  /** The request's digest; the RA signs with it. */
  digest: ScepDigest;
  /** The request's content cipher (single DES only for a request that used it); default AES-256-CBC. */
  contentEncryption?: ScepCipher;
  /** The request signer's certificate: the SUCCESS reply is encrypted to it. */
  recipientCert?: Uint8Array;
  /** `recipientCert` already parsed (the request's signer), to skip parsing it again. */
  recipient?: CertFacts;
  /** SUCCESS for PKCSReq, RenewalReq, CertPoll, GetCert: the issued certificate first. */
  certs?: Uint8Array[];
  /** SUCCESS for GetCRL. */
  crl?: Uint8Array;
  raCert: Uint8Array;
  /** Signature over `data` with the RA key: RSA PKCS #1 v1.5 (or ECDSA for an EC RA certificate) with `hash`. */
  raSign: (data: Uint8Array, hash: ScepDigest) => Promise<Uint8Array>;
}

/**
 * rsaEncryption (NULL parameters) for an RSA RA, as PKCS #7 signers write it and RFC 3370 §3.2 requires receivers
 * to accept: strongSwan's pkcs7 plugin accepts nothing else ("only RSA digest encryption supported").
 */
function raSignatureAlg(ra: CertFacts, digest: ScepDigest): Uint8Array {
  return ra.publicKey.asymmetricKeyType === "rsa" ? algId(OID.rsaEncryption, DER_NULL) : signatureAlgId(ra.publicKey.asymmetricKeyType, digest);
}

/** The RA certificate is the same object on every reply: parse it once. */
const raCache = new WeakMap<Uint8Array, CertFacts>();

/**
 * A CertRep pkiMessage (RFC 8894 §3.3.2), DER ContentInfo(SignedData) signed by the RA with the signed attributes
 * contentType, messageDigest, signingTime, messageType 3, pkiStatus, failInfo (FAILURE), transactionID,
 * a fresh senderNonce and the recipientNonce; the RA certificate is in `certificates`.
 *  - SUCCESS: eContent is the pkcsPKIEnvelope, the DER of ContentInfo(EnvelopedData) to `recipientCert`
 *    (PKCS #1 v1.5 key transport, §3.2) around ContentInfo(degenerate SignedData) with the certificates or the CRL (§3.4);
 *  - FAILURE, PENDING: no eContent (§3.3.2.2, §3.3.2.3 "the pkcsPKIEnvelope is omitted"); messageDigest is then
 *    over empty content, as OpenSSL, BouncyCastle and Go clients compute it for a content-less SignedData.
 */
export async function buildCertRep(o: CertRepOptions): Promise<Uint8Array> {
  if (!isPrintable(o.transactionId)) throw new Error("a CertRep needs the request's transactionID (a PrintableString)");
  if (!o.recipientNonce.length) throw new Error("a CertRep needs the request's senderNonce as recipientNonce");
  if (o.status === "FAILURE" && !o.failInfo) throw new Error("a FAILURE CertRep needs a failInfo");
  const cipher = o.contentEncryption ?? "aes-256-cbc";
  if (!Object.hasOwn(SCEP_CIPHERS, cipher)) throw new Error(`content cipher ${cipher} is not supported`);
  let ra = raCache.get(o.raCert);
  if (!ra) raCache.set(o.raCert, (ra = certFacts(o.raCert, "the RA certificate")));

  const attributes = [
    printableAttr(SCEP_OID.messageType, String(MESSAGE_TYPE.CertRep)),
    printableAttr(SCEP_OID.pkiStatus, PKI_STATUS[o.status]),
    ...(o.status === "FAILURE" ? [printableAttr(SCEP_OID.failInfo, FAIL_INFO[o.failInfo!])] : []),
    printableAttr(SCEP_OID.transactionID, o.transactionId),
    octetAttr(SCEP_OID.senderNonce, randomBytes(NONCE_LENGTH)),
    octetAttr(SCEP_OID.recipientNonce, o.recipientNonce),
  ];

  let envelope: Uint8Array | undefined;
  if (o.status === "SUCCESS") {
    if (!o.recipientCert) throw new Error("a SUCCESS CertRep needs the request signer's certificate to encrypt to");
    if (!o.certs?.length && !o.crl) throw new Error("a SUCCESS CertRep needs certificates or a CRL");
    const degenerate = degenerateSignedData({ certs: o.certs, crls: o.crl ? [o.crl] : [] });
    // RSA recipients get PKCS #1 v1.5 as SCEP clients expect; an EC signer (outside RFC 8894) gets ECDH as in EST.
    envelope = scepEnvelope(degenerate, o.recipient ?? certFacts(o.recipientCert, "the recipient certificate"), cipher);
  }

  const signed = await signedData({
    contentType: OID.data,
    content: envelope,
    signer: { cert: o.raCert, hash: o.digest, signatureAlg: raSignatureAlg(ra, o.digest) },
    attributes,
    sign: o.raSign,
  });
  return contentInfo(OID.signedData, signed);
}
