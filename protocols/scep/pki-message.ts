import { createDecipheriv, createHash, timingSafeEqual, verify } from "node:crypto";
import { checkDer, type DerLimits } from "../../src/asn1/der-limits.js";
import { serialHex } from "../../src/ca/serial.js";
import { certFacts, certIds, OID, type CertFacts, type CertIds } from "../../src/cms/der.js";
import { unwrapPkcs1v15 } from "../../src/cms/pkcs1v15.js";
import {
  children, CmsFormatError, content, identifies, need, oid, readContentInfo, readEnvelopedData, readKeyTrans, readSignedData,
  readSignerInfo, singleAttribute, tlv, whole, type SignedDataView, type SignerInfoView,
} from "../../src/cms/read.js";
import { desCbcDecrypt } from "./des.js";
import { SCEP_CIPHERS, type ScepCipher } from "./envelope.js";
import { readNonce, readPrintable, SCEP_OID, ScepFailure, type FailInfo, type ScepDigest, type ScepPartial } from "./scep-attrs.js";

export { ScepFailure, type FailInfo, type ScepDigest, type ScepPartial } from "./scep-attrs.js";

export interface OpenOptions {
  /** RA (or CA) certificates a request may be encrypted to. */
  raCerts: Uint8Array[];
  /** Raw RSA private operation (no padding) of the key of raCerts[raCertIndex]: RSA_NO_PADDING or CKM_RSA_X_509. */
  rawRsaDecrypt: (raCertIndex: number, block: Uint8Array) => Promise<Uint8Array>;
  /** Accept SHA-1 digests and Triple-DES content encryption (old clients). */
  allowLegacy: boolean;
  /** Accept single-DES content encryption (an endpoint's explicit opt-in; never implied by allowLegacy). */
  allowSingleDes?: boolean;
  /** Size cap of the whole message; default 256 KiB. */
  maxBytes?: number;
}

export interface PkiRequest {
  messageType: number;
  transactionId: string;
  senderNonce: Uint8Array;
  /** DER, from SignedData.certificates, matching the SignerInfo sid. */
  signerCert: Uint8Array;
  /** That certificate parsed once (its key, IssuerAndSerialNumber): callers reuse it instead of parsing again. */
  signer: CertFacts;
  /** DER SubjectPublicKeyInfo of the signer's key, as its certificate encodes it. */
  signerSpki: Uint8Array;
  digest: ScepDigest;
  /** The content cipher the client used (node name); the CertRep answers with the same. */
  contentEncryption: ScepCipher;
  /** Decrypted messageData: PKCS #10 (PKCSReq, RenewalReq), IssuerAndSubject (CertPoll), IssuerAndSerialNumber (GetCert, GetCRL). */
  content: Uint8Array;
}

const DEFAULT_MAX_BYTES = 256 * 1024;

/** The one answer to every failed verification or decryption, whatever failed: no oracle. */
export const BAD_MESSAGE_CHECK = "the message signature, digest or encryption does not check out";

const DIGESTS: Record<string, ScepDigest> = { [OID.sha1]: "sha1", [OID.sha256]: "sha256", [OID.sha384]: "sha384", [OID.sha512]: "sha512" };

/** Signature algorithms a SignerInfo may name; rsaEncryption (what PKCS #7 signers write) takes the digestAlgorithm's hash. */
const SIGNATURES: Record<string, { keyType: "rsa" | "ec"; hash?: ScepDigest }> = {
  [OID.rsaEncryption]: { keyType: "rsa" },
  [OID.sha1WithRsa]: { keyType: "rsa", hash: "sha1" },
  [OID.sha256WithRsa]: { keyType: "rsa", hash: "sha256" },
  [OID.sha384WithRsa]: { keyType: "rsa", hash: "sha384" },
  [OID.sha512WithRsa]: { keyType: "rsa", hash: "sha512" },
  [OID.ecdsaWithSha1]: { keyType: "ec", hash: "sha1" },
  [OID.ecdsaWithSha256]: { keyType: "ec", hash: "sha256" },
  [OID.ecdsaWithSha384]: { keyType: "ec", hash: "sha384" },
  [OID.ecdsaWithSha512]: { keyType: "ec", hash: "sha512" },
};

const CIPHERS = new Map(Object.entries(SCEP_CIPHERS).map(([name, spec]) => [spec.oid, { name: name as ScepCipher, ...spec }]));
const NAMED_REFUSALS: Record<string, string> = { [OID.md5]: "MD5", [OID.rc2Cbc]: "RC2", [OID.rsaesOaep]: "RSAES-OAEP" };
const named = (oid: string) => NAMED_REFUSALS[oid] ?? oid;

/** RA certificates are the same objects on every request: parse them once. */
const raFactsCache = new WeakMap<Uint8Array, CertFacts>();
function raFacts(der: Uint8Array, i: number): CertFacts {
  let f = raFactsCache.get(der);
  if (!f) raFactsCache.set(der, (f = certFacts(der, `RA certificate ${i + 1}`)));
  return f;
}

/**
 * Opens a SCEP pkiMessage (RFC 8894 §3): ContentInfo(SignedData) whose id-data eContent holds the DER of a
 * ContentInfo(EnvelopedData) (the pkcsPKIEnvelope, §3.2) around the messageData. Checks run in order and fail
 * with a {@link ScepFailure}: DER limits and shape (badRequest) → one SignerInfo and its certificate →
 * digest and signature algorithms (badAlg) → signed attributes: contentType id-data, messageDigest and the
 * signature over the attributes as received (badMessageCheck) → SCEP attributes (badRequest) → one
 * KeyTransRecipientInfo for one of `raCerts` (badMessageCheck) → key transport and content cipher (badAlg)
 * → PKCS #1 v1.5 unwrap with implicit rejection and decryption (badMessageCheck).
 */
export async function openPkiMessage(der: Uint8Array, o: OpenOptions): Promise<PkiRequest> {
  const partial: ScepPartial = {};
  const fail = (failInfo: FailInfo, message: string) => new ScepFailure(failInfo, message, partial);
  const limits: DerLimits = { maxBytes: o.maxBytes ?? DEFAULT_MAX_BYTES, maxDepth: 32, maxNodes: 20_000 };
  const shape = <T>(what: () => T): T => {
    try {
      return what();
    } catch (e) {
      if (e instanceof CmsFormatError) throw fail("badRequest", `malformed pkiMessage: ${e.message}`);
      throw e;
    }
  };
  derOk(der, limits, fail);

  const { sd, si } = shape(() => {
    const ci = readContentInfo(der);
    if (ci.type !== OID.signedData) throw new CmsFormatError("the message is not a SignedData");
    const sd = readSignedData(der, ci.content);
    if (sd.signerInfos.length !== 1) throw new CmsFormatError(`it has ${sd.signerInfos.length} SignerInfos instead of one`);
    return { sd, si: readSignerInfo(der, sd.signerInfos[0]) };
  });
  const scep = shape(() => scepAttributes(der, si));
  if (scep.transactionId) partial.transactionId = scep.transactionId;
  if (scep.senderNonce) partial.senderNonce = scep.senderNonce;

  const found = signerOf(sd, si);
  if (!found) throw fail("badRequest", "the signer's certificate is not in the message");
  const signerCert = found.cert;
  let signer: CertFacts;
  try {
    signer = certFacts(signerCert, "the signer certificate", found.ids);
  } catch (e) {
    throw fail("badRequest", (e as Error).message);
  }
  partial.signerCert = signerCert;

  const digest = DIGESTS[si.digestAlg];
  const digestAllowed = digest !== undefined && (digest !== "sha1" || o.allowLegacy);
  if (digestAllowed) partial.digest = digest;
  // A message signed by an ML-DSA key (a RenewalReq from an ML-DSA certificate; CMS per RFC 9882) cannot be checked:
  // SignerInfos here are RSA or ECDSA. RFC 8894 §3.2.1.4.5 makes that badAlg (unsupported algorithm), not
  // badMessageCheck (a signature checked and found wrong). Told first, whatever digest or OID the SignerInfo names.
  const signerType = signer.publicKey.asymmetricKeyType;
  if (signerType?.startsWith("ml-dsa")) {
    throw fail("badAlg", `the message is signed with an ${signerType.toUpperCase()} key, which SCEP here does not verify (RSA or EC signers only); renew or enroll ML-DSA certificates over EST, CMP or ACME`);
  }
  if (!digestAllowed) throw fail("badAlg", `digest algorithm ${digest ?? named(si.digestAlg)} is not allowed`);
  const sigAlg = SIGNATURES[si.signatureAlg.oid];
  if (!sigAlg || (sigAlg.hash && sigAlg.hash !== digest)) throw fail("badAlg", `signature algorithm ${named(si.signatureAlg.oid)} is not allowed with ${digest}`);

  const eContent = shape(() => signedContent(der, sd, si));
  const messageDigest = createHash(digest).update(eContent.bytes).digest();
  const digestOk = eContent.digest.length === messageDigest.length && timingSafeEqual(eContent.digest, messageDigest);
  let signatureOk = false;
  try {
    signatureOk = signer.publicKey.asymmetricKeyType === sigAlg.keyType && verify(digest, si.signedAttrs!, signer.publicKey, si.signature);
  } catch {
    signatureOk = false;
  }
  if (!digestOk || !signatureOk) throw fail("badMessageCheck", BAD_MESSAGE_CHECK);

  if (scep.messageType === undefined) throw fail("badRequest", "the messageType attribute is missing or not a decimal PrintableString");
  if (!scep.transactionId) throw fail("badRequest", "the transactionID attribute is missing or not a PrintableString");
  if (!scep.senderNonce) throw fail("badRequest", "the senderNonce attribute is missing or not a 16-byte OCTET STRING");

  const messageData = await openEnvelope(eContent.bytes, o, limits, fail, partial);
  const signerSpki = signer.spki; // as the certificate encodes it (a view into our copy): exporting the key costs ~0.15 ms
  return { messageType: scep.messageType, transactionId: scep.transactionId, senderNonce: scep.senderNonce, signerCert, signer, signerSpki, digest, ...messageData };
}

/**
 * The certificate the SignerInfo names and its walk, copied (the caller may reuse the request buffer): the walk's
 * views are moved into the copy, so each certificate is walked once. Unparseable certificates never match.
 */
function signerOf(sd: SignedDataView, si: SignerInfoView): { cert: Uint8Array; ids: CertIds } | undefined {
  for (const c of sd.certificates) {
    let ids: CertIds;
    try {
      ids = certIds(c);
    } catch {
      continue;
    }
    if (!identifies(si.sid, ids)) continue;
    const cert = Uint8Array.from(c);
    const into = (v: Uint8Array) => cert.subarray(v.byteOffset - c.byteOffset, v.byteOffset - c.byteOffset + v.byteLength);
    return { cert, ids: { issuerAndSerial: Uint8Array.from(ids.issuerAndSerial), spki: into(ids.spki), ...(ids.ski ? { ski: Uint8Array.from(ids.ski) } : {}) } };
  }
  return undefined;
}

function derOk(der: Uint8Array, limits: DerLimits, fail: (f: FailInfo, m: string) => ScepFailure): void {
  try {
    checkDer(der, limits);
  } catch (e) {
    throw fail("badRequest", (e as Error).message);
  }
}

/** The SCEP attributes, leniently: a malformed one reads as absent (the caller decides what is required). */
function scepAttributes(der: Uint8Array, si: SignerInfoView): { messageType?: number; transactionId?: string; senderNonce?: Uint8Array } {
  const type = readPrintable(der, singleAttribute(si, SCEP_OID.messageType, "messageType"));
  return {
    messageType: type && /^\d{1,3}$/.test(type) ? Number(type) : undefined,
    transactionId: readPrintable(der, singleAttribute(si, SCEP_OID.transactionID, "transactionID")),
    senderNonce: readNonce(der, singleAttribute(si, SCEP_OID.senderNonce, "senderNonce")),
  };
}

/** eContent (id-data, present) and the messageDigest attribute; contentType must say id-data (RFC 5652 §5.3). */
function signedContent(der: Uint8Array, sd: SignedDataView, si: SignerInfoView): { bytes: Uint8Array; digest: Uint8Array } {
  if (sd.eContentType !== OID.data) throw new CmsFormatError("eContentType is not id-data");
  if (!sd.eContent) throw new CmsFormatError("there is no pkcsPKIEnvelope (eContent is absent)");
  if (!si.signedAttrs) throw new CmsFormatError("the SignerInfo has no signed attributes");
  const ct = singleAttribute(si, OID.contentTypeAttr, "contentType");
  if (!ct || oid(der, ct, "contentType") !== OID.data) throw new CmsFormatError("the contentType attribute is missing or not id-data");
  const md = singleAttribute(si, OID.messageDigestAttr, "messageDigest");
  return { bytes: sd.eContent, digest: content(der, need(md, 0x04, "the messageDigest attribute")) };
}

/** pkcsPKIEnvelope → messageData. Every cryptographic failure ends as the same badMessageCheck. */
async function openEnvelope(
  envelope: Uint8Array, o: OpenOptions, limits: DerLimits, fail: (f: FailInfo, m: string) => ScepFailure, partial: ScepPartial,
): Promise<{ contentEncryption: ScepCipher; content: Uint8Array }> {
  derOk(envelope, limits, fail);
  const shape = <T>(what: () => T): T => {
    try {
      return what();
    } catch (e) {
      if (e instanceof CmsFormatError) throw fail("badRequest", `malformed pkcsPKIEnvelope: ${e.message}`);
      throw e;
    }
  };
  const { env, ri } = shape(() => {
    const ci = readContentInfo(envelope);
    if (ci.type !== OID.envelopedData) throw new CmsFormatError("it is not an EnvelopedData");
    const env = readEnvelopedData(envelope, ci.content);
    if (env.recipientInfos.length !== 1) throw new CmsFormatError(`it has ${env.recipientInfos.length} RecipientInfos instead of one`);
    return { env, ri: env.recipientInfos[0] };
  });
  if (ri.tag !== 0x30) throw fail("badAlg", "only key transport (RSA) recipients are supported");
  const ktri = shape(() => readKeyTrans(envelope, ri));

  const raIndex = o.raCerts.findIndex((c, i) => identifies(ktri.rid, raFacts(c, i)));
  if (raIndex < 0) throw fail("badMessageCheck", BAD_MESSAGE_CHECK);
  if (ktri.keyEncryptionAlg.oid !== OID.rsaEncryption) throw fail("badAlg", `key transport ${named(ktri.keyEncryptionAlg.oid)} is not supported (rsaEncryption)`);
  const cipher = CIPHERS.get(env.contentEncryptionAlg.oid);
  if (cipher) partial.contentEncryption = cipher.name;
  if (cipher?.name === "des-cbc" && !o.allowSingleDes) throw fail("badAlg", "content encryption des-cbc (single DES) is not allowed on this endpoint");
  if (!cipher || (cipher.name === "des-ede3-cbc" && !o.allowLegacy)) throw fail("badAlg", `content encryption ${cipher?.name ?? named(env.contentEncryptionAlg.oid)} is not allowed`);
  const iv = shape(() => {
    const p = need(env.contentEncryptionAlg.params, 0x04, "the content cipher's IV");
    if (p.end - p.body !== cipher.ivLength) throw new CmsFormatError(`the IV must be ${cipher.ivLength} bytes`);
    return content(envelope, p);
  });
  if (!env.encryptedContent) throw fail("badRequest", "malformed pkcsPKIEnvelope: encryptedContent is absent");

  // Implicit rejection: a bad padding yields a wrong key, which fails below like any wrong key.
  const cek = await unwrapPkcs1v15({
    encryptedKey: ktri.encryptedKey, publicKey: raFacts(o.raCerts[raIndex], raIndex).publicKey, keyLength: cipher.keyLength,
    rawDecrypt: (block) => o.rawRsaDecrypt(raIndex, block),
  });
  let plain: Buffer;
  try {
    if (cipher.name === "des-cbc") {
      plain = Buffer.from(desCbcDecrypt(cek, iv, env.encryptedContent));
    } else {
      const d = createDecipheriv(cipher.name, cek, iv);
      plain = Buffer.concat([d.update(env.encryptedContent), d.final()]);
    }
    // Every messageData is one DER SEQUENCE; with a wrong key, CBC padding passes 1 time in 256 and this catches it.
    checkDer(plain, limits);
    if (plain[0] !== 0x30) throw new Error("not a SEQUENCE");
  } catch {
    throw fail("badMessageCheck", BAD_MESSAGE_CHECK);
  }
  return { contentEncryption: cipher.name, content: new Uint8Array(plain) };
}

const INNER_LIMITS: DerLimits = { maxBytes: 16 * 1024, maxDepth: 16, maxNodes: 2_000 };

/** A two-field SEQUENCE whose first field is a Name, as TLVs; throws ScepFailure badRequest otherwise. */
function pair(der: Uint8Array, what: string, secondTag: number): [Uint8Array, Uint8Array] {
  try {
    checkDer(der, INNER_LIMITS);
    const parts = children(der, need(tlv(der, 0), 0x30, what));
    if (parts.length !== 2) throw new CmsFormatError(`${what} must have two fields`);
    return [Uint8Array.from(whole(der, need(parts[0], 0x30, `${what} issuer`))), Uint8Array.from(whole(der, need(parts[1], secondTag, `${what} second field`)))];
  } catch (e) {
    throw new ScepFailure("badRequest", `malformed ${what}: ${(e as Error).message}`);
  }
}

/** IssuerAndSerialNumber (GetCert, GetCRL messageData): issuer Name DER and the serial as lowercase hex. */
export function parseIssuerAndSerial(der: Uint8Array): { issuer: Uint8Array; serialHex: string } {
  const [issuer, serial] = pair(der, "IssuerAndSerialNumber", 0x02);
  return { issuer, serialHex: serialHex(content(serial, tlv(serial, 0))) };
}

/** IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } (CertPoll messageData, RFC 8894 §3.3.3). */
export function parseIssuerAndSubject(der: Uint8Array): { issuer: Uint8Array; subject: Uint8Array } {
  const [issuer, subject] = pair(der, "IssuerAndSubject", 0x30);
  return { issuer, subject };
}
