import { constants, createCipheriv, createDecipheriv, createHash, privateDecrypt, publicEncrypt, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { checkDer } from "../../src/asn1/der-limits.js";
import { oidDer } from "../../src/asn1/der-values.js";
import { algId, certFacts, contentInfo, DER_NULL, derSetOf, octetString, OID, smallInteger, type CertFacts } from "../../src/cms/der.js";
import { CONTENT_CIPHERS, envelopedData, type ContentCipher } from "../../src/cms/envelope.js";
import {
  content, identifies, need, oid, readContentInfo, readEnvelopedData, readKeyTrans, readSignedData, readSignerInfo, singleAttribute,
} from "../../src/cms/read.js";
import { prepareSignedData, signatureAlgId, type CmsHash } from "../../src/cms/signed-data.js";
import { FAIL_INFO, octetAttr, PKI_STATUS, printableAttr, SCEP_OID, type FailInfo, type PkiStatus } from "../../protocols/scep/scep-attrs.js";

/**
 * The client side of SCEP messages (RFC 8894) for tests and benchmarks: the inverse of openPkiMessage
 * and a CertRep reader that checks the RA signature and opens the envelope.
 */

/**
 * Ciphers a test may ask for. des-cbc is real single DES (as Triple DES with K|K|K: OpenSSL 3's default provider has no
 * des-cbc); rc2-cbc, which node cannot run, gets random ciphertext: the RA must refuse it unread.
 */
export type RequestCipher = ContentCipher | "des-cbc" | "rc2-cbc";

export interface PkiMessageInput {
  messageType: number;
  transactionId: string;
  senderNonce: Uint8Array;
  /** messageData: PKCS #10, IssuerAndSubject or IssuerAndSerialNumber DER. */
  content: Uint8Array;
  signerCert: Uint8Array;
  signerKey: KeyObject;
  /** The RA certificate the envelope is encrypted to (PKCS #1 v1.5 key transport). */
  recipientCert: Uint8Array;
  /** md5 only to see it refused. */
  digest: CmsHash | "md5";
  /** A {@link RequestCipher} name. */
  contentEncryption: string;
  /** Use this pkcsPKIEnvelope (DER ContentInfo(EnvelopedData), e.g. from `openssl cms -encrypt`) as is. */
  envelope?: Uint8Array;
}

/** ContentInfo(SignedData { id-data eContent = ContentInfo(EnvelopedData) }) with messageType, transactionID, senderNonce. */
export function buildPkiMessage(o: PkiMessageInput): Uint8Array {
  const envelope = o.envelope ?? pkcsPkiEnvelope(o.content, o.recipientCert, o.contentEncryption);
  const signatureAlg = o.digest === "md5" ? algId(OID.md5WithRsa, DER_NULL) : signatureAlgId(o.signerKey.asymmetricKeyType, o.digest);
  const p = prepareSignedData({
    contentType: OID.data,
    content: envelope,
    // OID and node both know "md5": the writer needs no special case to produce the message the RA must refuse.
    signer: { cert: o.signerCert, hash: o.digest as CmsHash, signatureAlg },
    attributes: [
      printableAttr(SCEP_OID.messageType, String(o.messageType)),
      printableAttr(SCEP_OID.transactionID, o.transactionId),
      octetAttr(SCEP_OID.senderNonce, o.senderNonce),
    ],
  });
  return contentInfo(OID.signedData, p.finish(sign(o.digest, p.toBeSigned, o.signerKey)));
}

/** The pkcsPKIEnvelope: ContentInfo(EnvelopedData) of id-data, rsaEncryption key transport. */
export function pkcsPkiEnvelope(messageData: Uint8Array, recipientCert: Uint8Array, cipher: string): Uint8Array {
  const recipient = certFacts(recipientCert, "the RA certificate");
  if (cipher in CONTENT_CIPHERS) return envelopedData({ content: messageData, contentType: OID.data, recipient, cipher: cipher as ContentCipher, rsaKeyTransport: "pkcs1-v1_5" });
  const other = { "des-cbc": { oid: OID.desCbc, keyLength: 8 }, "rc2-cbc": { oid: OID.rc2Cbc, keyLength: 16 } }[cipher];
  if (!other) throw new Error(`unknown cipher ${cipher}`);
  const cek = randomBytes(other.keyLength);
  const iv = randomBytes(8);
  let encrypted: Buffer;
  if (cipher === "des-cbc") {
    const c = createCipheriv("des-ede3-cbc", Buffer.concat([cek, cek, cek]), iv);
    encrypted = Buffer.concat([c.update(messageData), c.final()]);
  } else {
    encrypted = randomBytes(messageData.length + 8 - (messageData.length % 8));
  }
  const encryptedKey = publicEncrypt({ key: recipient.publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
  const ktri = derSequence(smallInteger(0), recipient.issuerAndSerial, algId(OID.rsaEncryption, DER_NULL), octetString(encryptedKey));
  const eci = derSequence(oidDer(OID.data), algId(other.oid, octetString(iv)), derTlv(0x80, encrypted));
  return contentInfo(OID.envelopedData, derSequence(smallInteger(0), derSetOf([ktri]), eci));
}

export interface CertRepRead {
  status: PkiStatus;
  failInfo?: FailInfo;
  transactionId: string;
  recipientNonce: Uint8Array;
  senderNonce: Uint8Array;
  digest: CmsHash;
  /** The cipher of the SUCCESS envelope. */
  contentEncryption?: ContentCipher | "des-cbc";
  certs: Uint8Array[];
  crl?: Uint8Array;
}

const HASHES: Record<string, CmsHash> = { [OID.sha1]: "sha1", [OID.sha256]: "sha256", [OID.sha384]: "sha384", [OID.sha512]: "sha512" };

/** Reads a CertRep: the RA's signature must verify; a SUCCESS envelope is decrypted with `recipientKey`. Throws on anything wrong. */
/**
 * `signer`: the RA certificate already parsed (benchmarks parse it once per server). `legacyPeer`: also read what
 * micromdm's scepserver 2.1.0 answers (go.mozilla.org/pkcs7): single DES-CBC envelopes, a signer certificate
 * not among `certificates`, and an empty id-data eContent on FAILURE and PENDING. `singleDes`: read a single-DES
 * envelope (what the gateway answers a single-DES request with on an endpoint with allowSingleDes).
 */
export function openCertRep(der: Uint8Array, o: { recipientKey: KeyObject; raCert: Uint8Array; signer?: CertFacts; legacyPeer?: boolean; singleDes?: boolean }): CertRepRead {
  checkDer(der, { maxBytes: 1 << 20, maxDepth: 32, maxNodes: 50_000 });
  const ci = readContentInfo(der);
  if (ci.type !== OID.signedData) throw new Error("a CertRep is a SignedData");
  const sd = readSignedData(der, ci.content);
  if (sd.signerInfos.length !== 1) throw new Error("a CertRep has one signer");
  const si = readSignerInfo(der, sd.signerInfos[0]);
  const ra = o.signer ?? certFacts(o.raCert, "the RA certificate");
  if (!identifies(si.sid, ra)) throw new Error("the CertRep is not signed by the RA certificate");
  if (!o.legacyPeer && !sd.certificates.some((c) => Buffer.from(c).equals(Buffer.from(o.raCert)))) throw new Error("the RA certificate is not in the CertRep");
  const digest = HASHES[si.digestAlg];
  if (!digest || !si.signedAttrs) throw new Error("unexpected digest or no signed attributes");
  if (!verify(digest, si.signedAttrs, ra.publicKey, si.signature)) throw new Error("the RA signature does not verify");
  const md = content(der, need(singleAttribute(si, OID.messageDigestAttr, "messageDigest"), 0x04, "messageDigest"));
  if (!createHash(digest).update(sd.eContent ?? new Uint8Array(0)).digest().equals(md)) throw new Error("messageDigest does not match");
  if (oid(der, singleAttribute(si, OID.contentTypeAttr, "contentType"), "contentType") !== OID.data) throw new Error("contentType is not id-data");

  const text = (type: string) => {
    const t = singleAttribute(si, type, type);
    return t?.tag === 0x13 ? Buffer.from(content(der, t)).toString("latin1") : undefined;
  };
  const bytes = (type: string) => {
    const t = singleAttribute(si, type, type);
    return t?.tag === 0x04 ? Uint8Array.from(content(der, t)) : undefined;
  };
  if (text(SCEP_OID.messageType) !== "3") throw new Error("messageType is not CertRep (3)");
  const status = keyOf(PKI_STATUS, text(SCEP_OID.pkiStatus), "pkiStatus");
  const failInfo = status === "FAILURE" ? keyOf(FAIL_INFO, text(SCEP_OID.failInfo), "failInfo") : undefined;
  const transactionId = text(SCEP_OID.transactionID);
  const recipientNonce = bytes(SCEP_OID.recipientNonce);
  const senderNonce = bytes(SCEP_OID.senderNonce);
  if (!transactionId || !recipientNonce || senderNonce?.length !== 16) throw new Error("transactionID, recipientNonce or senderNonce missing");

  const rep: CertRepRead = { status, failInfo, transactionId, recipientNonce, senderNonce, digest, certs: [] };
  if (status !== "SUCCESS") {
    if (sd.eContent?.length || (sd.eContent && !o.legacyPeer)) throw new Error(`a ${status} CertRep carries no pkcsPKIEnvelope`);
    return rep;
  }
  if (!sd.eContent) throw new Error("a SUCCESS CertRep carries the pkcsPKIEnvelope");
  const opened = openEnvelope(Uint8Array.from(sd.eContent), o.recipientKey, o.legacyPeer === true || o.singleDes === true);
  const inner = readContentInfo(opened.content);
  if (inner.type !== OID.signedData) throw new Error("the envelope holds no SignedData");
  const degenerate = readSignedData(opened.content, inner.content);
  if (degenerate.signerInfos.length) throw new Error("the inner SignedData is not degenerate");
  return { ...rep, contentEncryption: opened.cipher, certs: degenerate.certificates.map((c) => Uint8Array.from(c)), crl: degenerate.crls[0] && Uint8Array.from(degenerate.crls[0]) };
}

function keyOf<T extends Record<string, string>>(table: T, value: string | undefined, what: string): keyof T & string {
  const k = Object.keys(table).find((name) => table[name] === value);
  if (!k) throw new Error(`${what} ${value ?? "(absent)"} is unknown`);
  return k;
}

/** Opens ContentInfo(EnvelopedData) with an RSA key: raw RSA and a strict PKCS #1 v1.5 unpad (a client has no oracle to fear here). */
function openEnvelope(envelope: Uint8Array, key: KeyObject, singleDes: boolean): { cipher: ContentCipher | "des-cbc"; content: Uint8Array } {
  checkDer(envelope, { maxBytes: 1 << 20, maxDepth: 32, maxNodes: 50_000 });
  const env = readEnvelopedData(envelope, readContentInfo(envelope).content);
  if (env.recipientInfos.length !== 1) throw new Error("expected one recipient");
  const ktri = readKeyTrans(envelope, env.recipientInfos[0]);
  if (ktri.keyEncryptionAlg.oid !== OID.rsaEncryption) throw new Error("expected rsaEncryption key transport");
  const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ktri.encryptedKey);
  const sep = em.indexOf(0, 2);
  if (em[0] !== 0 || em[1] !== 2 || sep < 10) throw new Error("bad PKCS #1 v1.5 padding");
  const iv = content(envelope, need(env.contentEncryptionAlg.params, 0x04, "IV"));
  const cek = em.subarray(sep + 1);
  if (!env.encryptedContent) throw new Error("no encryptedContent");
  if (singleDes && env.contentEncryptionAlg.oid === OID.desCbc && cek.length === 8) {
    // OpenSSL 3's default provider has no single DES; Triple-DES with K|K|K is DES.
    const d = createDecipheriv("des-ede3-cbc", Buffer.concat([cek, cek, cek]), iv);
    return { cipher: "des-cbc", content: Buffer.concat([d.update(env.encryptedContent), d.final()]) };
  }
  const [name, spec] = Object.entries(CONTENT_CIPHERS).find(([, s]) => s.oid === env.contentEncryptionAlg.oid) ?? [];
  if (!name || !spec) throw new Error("unexpected content cipher");
  const d = createDecipheriv(name, cek, iv);
  return { cipher: name as ContentCipher, content: Buffer.concat([d.update(env.encryptedContent), d.final()]) };
}
