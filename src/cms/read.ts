import { header } from "../asn1/der-walk.js";

/**
 * Readers for received CMS (RFC 5652): ContentInfo, SignedData, SignerInfo, EnvelopedData. They walk DER that
 * already passed `checkDer`, keep byte offsets into it (signatures are checked over the bytes as received,
 * never a re-encoding) and throw {@link CmsFormatError} on any shape they do not expect.
 */
export class CmsFormatError extends Error {
  override readonly name = "CmsFormatError";
}

/** One TLV: its tag byte and [start, contentStart, end) offsets. */
export interface Tlv {
  tag: number;
  start: number;
  body: number;
  end: number;
}

export function tlv(der: Uint8Array, offset: number): Tlv {
  if ((der[offset] & 0x1f) === 0x1f) throw new CmsFormatError("high tag numbers are not used in CMS");
  const h = header(der, offset);
  return { tag: der[offset], start: offset, body: h.contentStart, end: h.end };
}

export function children(der: Uint8Array, t: Tlv): Tlv[] {
  if (!(t.tag & 0x20)) throw new CmsFormatError(`tag 0x${t.tag.toString(16)} is not constructed`);
  const out: Tlv[] = [];
  for (let pos = t.body; pos < t.end; ) {
    const c = tlv(der, pos);
    out.push(c);
    pos = c.end;
  }
  return out;
}

export const whole = (der: Uint8Array, t: Tlv) => der.subarray(t.start, t.end);
export const content = (der: Uint8Array, t: Tlv) => der.subarray(t.body, t.end);

export function need(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new CmsFormatError(`${what} is missing or not the expected type`);
  return t;
}

/** Dotted text of an OBJECT IDENTIFIER TLV. */
export function oid(der: Uint8Array, t: Tlv | undefined, what: string): string {
  const b = content(der, need(t, 0x06, what));
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    if (v === 0 && b[i] === 0x80) throw new CmsFormatError(`${what}: OID is not minimally encoded`);
    v = v * 128 + (b[i] & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 256) throw new CmsFormatError(`${what}: OID arc too large`);
    if (!(b[i] & 0x80)) {
      if (!arcs.length) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  if (!b.length || b[b.length - 1] & 0x80) throw new CmsFormatError(`${what}: OID is truncated`);
  return arcs.join(".");
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }. */
export function algorithm(der: Uint8Array, t: Tlv | undefined, what: string): { oid: string; params?: Tlv } {
  const parts = children(der, need(t, 0x30, what));
  if (parts.length > 2) throw new CmsFormatError(`${what} has extra fields`);
  return { oid: oid(der, parts[0], what), params: parts[1] };
}

/** ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY } with the content required. */
export function readContentInfo(der: Uint8Array, at = 0): { type: string; content: Tlv } {
  const parts = children(der, need(tlv(der, at), 0x30, "ContentInfo"));
  const explicit = need(parts[1], 0xa0, "ContentInfo content");
  const inner = children(der, explicit);
  if (parts.length !== 2 || inner.length !== 1) throw new CmsFormatError("ContentInfo must hold exactly one content");
  return { type: oid(der, parts[0], "ContentInfo contentType"), content: inner[0] };
}

export interface SignedDataView {
  eContentType: string;
  /** The eContent OCTET STRING's value; undefined when absent. */
  eContent?: Uint8Array;
  /** Certificate SEQUENCEs from `certificates` (other CertificateChoices are skipped), DER as received. */
  certificates: Uint8Array[];
  /** CRLs from `crls` (plain CertificateList SEQUENCEs only). */
  crls: Uint8Array[];
  signerInfos: Tlv[];
}

/**
 * SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo, certificates [0] IMPLICIT OPTIONAL,
 * crls [1] IMPLICIT OPTIONAL, signerInfos SET }. eContent must be one primitive OCTET STRING (DER).
 */
export function readSignedData(der: Uint8Array, t: Tlv): SignedDataView {
  const parts = children(der, need(t, 0x30, "SignedData"));
  need(parts[0], 0x02, "SignedData version");
  need(parts[1], 0x31, "SignedData digestAlgorithms");
  const encap = children(der, need(parts[2], 0x30, "encapContentInfo"));
  if (encap.length > 2) throw new CmsFormatError("encapContentInfo has extra fields");
  let eContent: Uint8Array | undefined;
  if (encap[1]) {
    const wrapped = children(der, need(encap[1], 0xa0, "eContent"));
    if (wrapped.length !== 1) throw new CmsFormatError("eContent must be one OCTET STRING");
    eContent = content(der, need(wrapped[0], 0x04, "eContent OCTET STRING"));
  }
  let i = 3;
  const certificates: Uint8Array[] = [];
  const crls: Uint8Array[] = [];
  if (parts[i]?.tag === 0xa0) for (const c of children(der, parts[i++])) if (c.tag === 0x30) certificates.push(whole(der, c));
  if (parts[i]?.tag === 0xa1) for (const c of children(der, parts[i++])) if (c.tag === 0x30) crls.push(whole(der, c));
  const signerInfos = children(der, need(parts[i], 0x31, "SignedData signerInfos"));
  if (parts.length !== i + 1) throw new CmsFormatError("SignedData has unexpected fields");
  return { eContentType: oid(der, encap[0], "eContentType"), eContent, certificates, crls, signerInfos };
}

/** SignerIdentifier / RecipientIdentifier: IssuerAndSerialNumber (DER as received) or a subjectKeyIdentifier. */
export type CmsIdentifier = { issuerAndSerial: Uint8Array } | { ski: Uint8Array };

export interface SignerInfoView {
  sid: CmsIdentifier;
  digestAlg: string;
  /** signedAttrs as received with the [0] tag replaced by SET OF (0x31): the bytes the signature covers (§5.4). */
  signedAttrs?: Uint8Array;
  /** Each signed attribute: type and its values' TLVs (offsets into `der`). */
  attributes: Array<{ type: string; values: Tlv[] }>;
  signatureAlg: { oid: string; params?: Tlv };
  signature: Uint8Array;
}

/**
 * SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT OPTIONAL,
 * signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1] IMPLICIT OPTIONAL }.
 */
export function readSignerInfo(der: Uint8Array, t: Tlv): SignerInfoView {
  const parts = children(der, need(t, 0x30, "SignerInfo"));
  need(parts[0], 0x02, "SignerInfo version");
  const sid = identifier(der, parts[1], "SignerInfo sid");
  const digestAlg = algorithm(der, parts[2], "SignerInfo digestAlgorithm").oid;
  let i = 3;
  let signedAttrs: Uint8Array | undefined;
  const attributes: SignerInfoView["attributes"] = [];
  if (parts[i]?.tag === 0xa0) {
    const set = parts[i++];
    signedAttrs = Uint8Array.from(whole(der, set));
    signedAttrs[0] = 0x31;
    for (const a of children(der, set)) {
      const [type, values, extra] = children(der, need(a, 0x30, "Attribute"));
      if (extra) throw new CmsFormatError("Attribute has extra fields");
      attributes.push({ type: oid(der, type, "Attribute type"), values: children(der, need(values, 0x31, "Attribute values")) });
    }
  }
  const signatureAlg = algorithm(der, parts[i++], "SignerInfo signatureAlgorithm");
  const signature = content(der, need(parts[i++], 0x04, "SignerInfo signature"));
  if (parts[i] && (parts[i].tag !== 0xa1 || parts[i + 1])) throw new CmsFormatError("SignerInfo has unexpected fields");
  return { sid, digestAlg, signedAttrs, attributes, signatureAlg, signature };
}

/** The only value of the only attribute of `type`; undefined when absent; throws when repeated or multi-valued. */
export function singleAttribute(si: SignerInfoView, type: string, what: string): Tlv | undefined {
  const found = si.attributes.filter((a) => a.type === type);
  if (!found.length) return undefined;
  if (found.length > 1 || found[0].values.length !== 1) throw new CmsFormatError(`the ${what} attribute must appear once with one value`);
  return found[0].values[0];
}

function identifier(der: Uint8Array, t: Tlv | undefined, what: string): CmsIdentifier {
  if (t?.tag === 0x30) return { issuerAndSerial: whole(der, t) };
  if (t?.tag === 0x80) return { ski: content(der, t) }; // [0] IMPLICIT SubjectKeyIdentifier
  throw new CmsFormatError(`${what} is neither IssuerAndSerialNumber nor subjectKeyIdentifier`);
}

export interface KeyTransView {
  rid: CmsIdentifier;
  keyEncryptionAlg: { oid: string; params?: Tlv };
  encryptedKey: Uint8Array;
}

export interface EnvelopedDataView {
  /** RecipientInfo TLVs; KeyTransRecipientInfo is the plain SEQUENCE, the other choices are [1]..[4]. */
  recipientInfos: Tlv[];
  contentType: string;
  contentEncryptionAlg: { oid: string; params?: Tlv };
  encryptedContent?: Uint8Array;
}

/**
 * EnvelopedData ::= SEQUENCE { version, originatorInfo [0] IMPLICIT OPTIONAL, recipientInfos SET,
 * encryptedContentInfo SEQUENCE { contentType, contentEncryptionAlgorithm, encryptedContent [0] IMPLICIT OPTIONAL },
 * unprotectedAttrs [1] IMPLICIT OPTIONAL }. encryptedContent must be primitive (DER).
 */
export function readEnvelopedData(der: Uint8Array, t: Tlv): EnvelopedDataView {
  const parts = children(der, need(t, 0x30, "EnvelopedData"));
  need(parts[0], 0x02, "EnvelopedData version");
  let i = 1;
  if (parts[i]?.tag === 0xa0) i++;
  const recipientInfos = children(der, need(parts[i++], 0x31, "EnvelopedData recipientInfos"));
  const eci = children(der, need(parts[i++], 0x30, "encryptedContentInfo"));
  if (parts[i] && (parts[i].tag !== 0xa1 || parts[i + 1])) throw new CmsFormatError("EnvelopedData has unexpected fields");
  if (eci.length > 3) throw new CmsFormatError("encryptedContentInfo has extra fields");
  return {
    recipientInfos,
    contentType: oid(der, eci[0], "encryptedContentInfo contentType"),
    contentEncryptionAlg: algorithm(der, eci[1], "contentEncryptionAlgorithm"),
    encryptedContent: eci[2] ? encryptedContent(der, eci[2]) : undefined,
  };
}

/**
 * encryptedContent [0] IMPLICIT OCTET STRING: primitive in DER; Go's pkcs7 (micromdm scepclient, many MDM
 * stacks) sends the BER constructed form, one level of OCTET STRING segments, which is accepted too.
 */
function encryptedContent(der: Uint8Array, t: Tlv): Uint8Array {
  if (t.tag === 0x80) return content(der, t);
  const segments = t.tag === 0xa0 ? children(der, t) : [];
  if (!segments.length || segments.some((s) => s.tag !== 0x04)) throw new CmsFormatError("encryptedContent must be a [0] OCTET STRING");
  return segments.length === 1 ? content(der, segments[0]) : Buffer.concat(segments.map((s) => content(der, s)));
}

/** KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey OCTET STRING }. */
export function readKeyTrans(der: Uint8Array, t: Tlv): KeyTransView {
  const parts = children(der, need(t, 0x30, "KeyTransRecipientInfo"));
  need(parts[0], 0x02, "KeyTransRecipientInfo version");
  if (parts.length !== 4) throw new CmsFormatError("KeyTransRecipientInfo must have four fields");
  return {
    rid: identifier(der, parts[1], "KeyTransRecipientInfo rid"),
    keyEncryptionAlg: algorithm(der, parts[2], "keyEncryptionAlgorithm"),
    encryptedKey: content(der, need(parts[3], 0x04, "encryptedKey")),
  };
}

/** Whether a CMS identifier names the certificate with these facts (byte comparison, as received). */
export function identifies(id: CmsIdentifier, cert: { issuerAndSerial: Uint8Array; ski?: Uint8Array }): boolean {
  if ("issuerAndSerial" in id) return Buffer.from(id.issuerAndSerial).equals(Buffer.from(cert.issuerAndSerial));
  return !!cert.ski && Buffer.from(id.ski).equals(Buffer.from(cert.ski));
}
