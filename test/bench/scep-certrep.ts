import { constants, createDecipheriv, createHash, privateDecrypt, verify, type KeyObject } from "node:crypto";
import { checkDer } from "../../src/asn1/der-limits.js";
import { OID, type CertFacts } from "../../src/cms/der.js";
import { children, content, identifies, need, oid, readContentInfo, readSignedData, readSignerInfo, singleAttribute, type Tlv } from "../../src/cms/read.js";
import { FAIL_INFO, PKI_STATUS, SCEP_OID, type FailInfo, type PkiStatus } from "../../protocols/scep/scep-attrs.js";

/**
 * The bench's CertRep reader. test/helpers/scep-client.ts `openCertRep` checks the same things but reads
 * DER only and the gateway's ciphers; micromdm's scepserver 2.1.0 answers with what go.mozilla.org/pkcs7
 * writes, whatever the request used: single DES-CBC content encryption (the package default) and the
 * encryptedContent as a constructed [0] holding an OCTET STRING (BER). One reader serves both servers so
 * the load generator does the same work for each.
 */
export interface CertRep {
  status: PkiStatus;
  failInfo?: FailInfo;
  transactionId: string;
  recipientNonce: Uint8Array;
  /** The content cipher of a SUCCESS answer's envelope (OID name). */
  contentEncryption?: string;
  certs: Uint8Array[];
}

const HASHES: Record<string, "sha1" | "sha256" | "sha384" | "sha512"> = { [OID.sha1]: "sha1", [OID.sha256]: "sha256", [OID.sha384]: "sha384", [OID.sha512]: "sha512" };

/** Content ciphers by OID: node cipher and key length. OpenSSL 3's default provider has no single DES: K|K|K Triple-DES is DES. */
const CIPHERS: Record<string, { name: string; node: string; keyLength: number; expand?: (k: Buffer) => Buffer }> = {
  [OID.aes128Cbc]: { name: "aes-128-cbc", node: "aes-128-cbc", keyLength: 16 },
  [OID.aes192Cbc]: { name: "aes-192-cbc", node: "aes-192-cbc", keyLength: 24 },
  [OID.aes256Cbc]: { name: "aes-256-cbc", node: "aes-256-cbc", keyLength: 32 },
  [OID.desEde3Cbc]: { name: "des-ede3-cbc", node: "des-ede3-cbc", keyLength: 24 },
  [OID.desCbc]: { name: "des-cbc", node: "des-ede3-cbc", keyLength: 8, expand: (k) => Buffer.concat([k, k, k]) },
};

const LIMITS = { maxBytes: 1 << 20, maxDepth: 32, maxNodes: 50_000 };

function keyOf<T extends Record<string, string>>(table: T, value: string | undefined, what: string): keyof T & string {
  const k = Object.keys(table).find((name) => table[name] === value);
  if (!k) throw new Error(`${what} ${value ?? "(absent)"} is unknown`);
  return k;
}

/**
 * Reads a CertRep signed by `signer` (the certificate the request was encrypted to, parsed once per server);
 * a SUCCESS envelope is opened with `recipientKey`. Throws on anything wrong.
 */
export function readCertRep(der: Uint8Array, o: { recipientKey: KeyObject; signer: CertFacts }): CertRep {
  checkDer(der, LIMITS);
  const ci = readContentInfo(der);
  if (ci.type !== OID.signedData) throw new Error("a CertRep is a SignedData");
  const sd = readSignedData(der, ci.content);
  if (sd.signerInfos.length !== 1) throw new Error("a CertRep has one signer");
  const si = readSignerInfo(der, sd.signerInfos[0]);
  const signer = o.signer;
  if (!identifies(si.sid, signer)) throw new Error("the CertRep is not signed by the certificate the request was encrypted to");
  const digest = HASHES[si.digestAlg];
  if (!digest || !si.signedAttrs) throw new Error("unexpected digest or no signed attributes");
  if (!verify(digest, si.signedAttrs, signer.publicKey, si.signature)) throw new Error("the CertRep signature does not verify");
  const md = content(der, need(singleAttribute(si, OID.messageDigestAttr, "messageDigest"), 0x04, "messageDigest"));
  if (!createHash(digest).update(sd.eContent ?? new Uint8Array(0)).digest().equals(md)) throw new Error("messageDigest does not match");
  if (oid(der, singleAttribute(si, OID.contentTypeAttr, "contentType"), "contentType") !== OID.data) throw new Error("contentType is not id-data");

  const text = (type: string) => {
    const t = singleAttribute(si, type, type);
    return t?.tag === 0x13 ? Buffer.from(content(der, t)).toString("latin1") : undefined;
  };
  const nonce = singleAttribute(si, SCEP_OID.recipientNonce, "recipientNonce");
  if (text(SCEP_OID.messageType) !== "3") throw new Error("messageType is not CertRep (3)");
  const status = keyOf(PKI_STATUS, text(SCEP_OID.pkiStatus), "pkiStatus");
  const failInfo = status === "FAILURE" ? keyOf(FAIL_INFO, text(SCEP_OID.failInfo), "failInfo") : undefined;
  const transactionId = text(SCEP_OID.transactionID);
  if (!transactionId || nonce?.tag !== 0x04) throw new Error("transactionID or recipientNonce missing");
  const rep: CertRep = { status, failInfo, transactionId, recipientNonce: Uint8Array.from(content(der, nonce)), certs: [] };
  if (status !== "SUCCESS") return rep; // scepserver's FAILURE carries an empty id-data eContent; nothing to open
  if (!sd.eContent?.length) throw new Error("a SUCCESS CertRep carries the pkcsPKIEnvelope");
  const opened = openEnvelope(Uint8Array.from(sd.eContent), o.recipientKey);
  const inner = readContentInfo(opened.content);
  if (inner.type !== OID.signedData) throw new Error("the envelope holds no SignedData");
  const degenerate = readSignedData(opened.content, inner.content);
  if (degenerate.signerInfos.length) throw new Error("the inner SignedData is not degenerate");
  return { ...rep, contentEncryption: opened.cipher, certs: degenerate.certificates.map((c) => Uint8Array.from(c)) };
}

/** encryptedContent [0] IMPLICIT OCTET STRING: primitive (DER), or constructed from OCTET STRING segments (BER). */
function encryptedContent(der: Uint8Array, t: Tlv): Buffer {
  if (t.tag === 0x80) return Buffer.from(content(der, t));
  if (t.tag !== 0xa0) throw new Error("encryptedContent is not [0]");
  return Buffer.concat(children(der, t).map((s) => Buffer.from(content(der, need(s, 0x04, "encryptedContent segment")))));
}

/** ContentInfo(EnvelopedData) to one RSA key transport recipient: raw RSA and a strict PKCS #1 v1.5 unpad (a client has no oracle to fear). */
function openEnvelope(envelope: Uint8Array, key: KeyObject): { cipher: string; content: Uint8Array } {
  checkDer(envelope, LIMITS);
  const ci = readContentInfo(envelope);
  if (ci.type !== OID.envelopedData) throw new Error("the pkcsPKIEnvelope is not an EnvelopedData");
  const parts = children(envelope, need(ci.content, 0x30, "EnvelopedData"));
  let i = 1;
  if (parts[i]?.tag === 0xa0) i++; // originatorInfo
  const recipients = children(envelope, need(parts[i++], 0x31, "recipientInfos"));
  if (recipients.length !== 1) throw new Error("expected one recipient");
  const [, , keyAlg, encryptedKey] = children(envelope, need(recipients[0], 0x30, "KeyTransRecipientInfo"));
  if (oid(envelope, children(envelope, need(keyAlg, 0x30, "keyEncryptionAlgorithm"))[0], "keyEncryptionAlgorithm") !== OID.rsaEncryption) throw new Error("expected rsaEncryption key transport");
  const [, alg, body] = children(envelope, need(parts[i], 0x30, "encryptedContentInfo"));
  const [algOid, ivTlv] = children(envelope, need(alg, 0x30, "contentEncryptionAlgorithm"));
  const spec = CIPHERS[oid(envelope, algOid, "contentEncryptionAlgorithm")];
  if (!spec || !body) throw new Error("unexpected content cipher or no encryptedContent");
  const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, content(envelope, need(encryptedKey, 0x04, "encryptedKey")));
  const sep = em.indexOf(0, 2);
  if (em[0] !== 0 || em[1] !== 2 || sep < 10 || em.length - sep - 1 !== spec.keyLength) throw new Error("bad PKCS #1 v1.5 padding or key length");
  const cek = em.subarray(sep + 1);
  const d = createDecipheriv(spec.node, spec.expand ? spec.expand(cek) : cek, content(envelope, need(ivTlv, 0x04, "IV")));
  const plain = Buffer.concat([d.update(encryptedContent(envelope, body)), d.final()]);
  checkDer(plain, LIMITS);
  return { cipher: spec.name, content: new Uint8Array(plain) };
}
