import { createHash, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Extensions, type Time } from "@peculiar/asn1-x509";
import { RsaSaPssParams } from "@peculiar/asn1-rsa";
import { childSpans, header as tlvHeader } from "../../src/asn1/der-walk.js";
import { checkDer } from "../../src/asn1/der-limits.js";
import { importSpki } from "../../src/asn1/spki-import.js";
import { serialHex } from "../../src/ca/serial.js";
import type { AttributeTypeAndValue } from "./asn1/common.js";
import { CertId, type CertReqMsg, type CertTemplate } from "./asn1/crmf.js";
import { decodeDer } from "./asn1/der-codec.js";
import { encodeDer } from "./asn1/der-encoder.js";
import type { PKIBody } from "./asn1/message.js";
import { failInfoNames } from "./bodies.js";
import { CmpDecodeError } from "./codec.js";
import { CMP_OID, HASH_BY_OID, type HashName } from "./oids.js";
import { verifyAlgSignature } from "./signature.js";
import { commonNameOfName } from "./template.js";

/*
 * Readers that turn a decoded PKIBody into plain values for the operations. Everything handed out is DER
 * (Names, SubjectPublicKeyInfo, Extensions) or primitive; malformed content throws CmpDecodeError.
 */

export interface TemplateInfo {
  subject?: Uint8Array;
  /** The subject's CN (the last one when several), read from the decoded Name. */
  commonName?: string;
  issuer?: Uint8Array;
  publicKey?: Uint8Array;
  /** Extensions ::= SEQUENCE OF Extension. */
  extensions?: Uint8Array;
  validity?: { notBefore?: Date; notAfter?: Date };
  serialHex?: string;
}

export type PopKind = "signature" | "raVerified" | "none" | "other";

export interface CertReqInfo {
  certReqId: bigint;
  template: TemplateInfo;
  popo: {
    kind: PopKind;
    /** POPOSigningKey over the DER CertRequest (or poposkInput) with the template's key (RFC 4211 §4.1); false for other kinds. */
    verify(): boolean;
    /** The template's key as imported for a proof of possession that verified: the engine need not import it again. */
    verifiedKey(): KeyObject | undefined;
  };
  controls: Array<{ oid: string; value: Uint8Array | null }>;
  /** kur: the id-regCtrl-oldCertID control (RFC 4211 §6.5): issuer GeneralName DER and serial. */
  oldCertId?: { issuer: Uint8Array; serialHex: string };
}

/** The requests of an ir, cr or kur (one per CertReqMsg, in order). */
export function certRequests(body: PKIBody): CertReqInfo[] {
  const msgs = body.ir ?? body.cr ?? body.kur;
  if (!msgs) throw new CmpDecodeError("body is not ir, cr or kur");
  if (!msgs.length) throw new CmpDecodeError("CertReqMessages is empty");
  return msgs.map(certRequest);
}

function certRequest(m: CertReqMsg): CertReqInfo {
  const req = m.certReq;
  const template = templateInfo(req.certTemplate, m.certReqRaw && templateSpans(m.certReqRaw));
  const controls = (req.controls ?? []).map(attribute);
  const old = controls.filter((c) => c.oid === CMP_OID.regCtrlOldCertId);
  if (old.length > 1) throw new CmpDecodeError("oldCertID control appears more than once");
  let oldCertId: CertReqInfo["oldCertId"];
  if (old[0]) {
    const id = parse(old[0].value, CertId, "oldCertID");
    oldCertId = { issuer: encodeDer(id.issuer), serialHex: serialHex(id.serialNumber) };
  }
  return { certReqId: req.certReqId, template, popo: pop(m, template), controls, oldCertId };
}

function pop(m: CertReqMsg, template: TemplateInfo): CertReqInfo["popo"] {
  const p = m.popo;
  const none = () => undefined;
  if (!p) return { kind: "none", verify: () => false, verifiedKey: none };
  if (p.raVerified !== undefined) return { kind: "raVerified", verify: () => false, verifiedKey: none };
  const sk = p.signature;
  if (!sk) return { kind: "other", verify: () => false, verifiedKey: none };
  let verdict: boolean | undefined;
  let key: KeyObject | undefined;
  const verify = (): boolean => {
    if (!template.publicKey || sk.signature.unusedBits !== 0) return false;
    try {
      key = importSpki(template.publicKey);
    } catch {
      return false;
    }
    // With poposkInput the signature covers POPOSigningKeyInput (universal SEQUENCE) and its key must be the template's.
    let data: Uint8Array;
    if (sk.poposkInput) {
      const key = encodeDer(sk.poposkInput.publicKey);
      if (!Buffer.from(key).equals(Buffer.from(template.publicKey))) return false;
      data = encodeDer(sk.poposkInput);
    } else {
      data = m.certReqRaw ?? encodeDer(m.certReq);
    }
    return verifyAlgSignature(key, sk.algorithmIdentifier, data, new Uint8Array(sk.signature.value)).ok;
  };
  return { kind: "signature", verify: () => (verdict ??= verify()), verifiedKey: () => (verdict ? key : undefined) };
}

type TemplateDer = Partial<Record<"issuer" | "subject" | "publicKey" | "extensions", Uint8Array>>;

/**
 * The DER of a template's Names, key and extensions as received, cut from the CertRequest's DER (which the
 * strict codec decoded, so it equals their re-encoding): no encoding per request. EXPLICIT [3]/[5] hold the
 * Name; IMPLICIT [6]/[9] are the SEQUENCE with its tag replaced.
 */
function templateSpans(certReq: Uint8Array): TemplateDer {
  const out: TemplateDer = {};
  const tpl = childSpans(certReq, 0)[1];
  if (!tpl) return out;
  for (const [s, e] of childSpans(certReq, tpl[0])) {
    const tag = certReq[s];
    if (tag === 0xa3 || tag === 0xa5) out[tag === 0xa3 ? "issuer" : "subject"] = certReq.slice(tlvHeader(certReq, s).contentStart, e);
    else if (tag === 0xa6 || tag === 0xa9) {
      const v = certReq.slice(s, e);
      v[0] = 0x30;
      out[tag === 0xa6 ? "publicKey" : "extensions"] = v;
    }
  }
  return out;
}

/** `raw`: the fields' DER as received (templateSpans); encoded from the objects otherwise (templates built here). */
function templateInfo(t: CertTemplate, raw?: TemplateDer): TemplateInfo {
  const der = (v: object | undefined, received: Uint8Array | undefined) => (v ? received ?? encodeDer(v) : undefined);
  const time = (v: Time | undefined) => (v ? v.getTime() : undefined);
  return {
    subject: der(t.subject, raw?.subject),
    commonName: t.subject && commonNameOfName(t.subject),
    issuer: der(t.issuer, raw?.issuer),
    publicKey: der(t.publicKey, raw?.publicKey),
    extensions: t.extensions ? der(new Extensions(t.extensions), raw?.extensions) : undefined,
    validity: t.validity ? { notBefore: time(t.validity.notBefore), notAfter: time(t.validity.notAfter) } : undefined,
    serialHex: t.serialNumber ? serialHex(t.serialNumber) : undefined,
  };
}

/** The PKCS #10 CertificationRequest of a p10cr, DER as received. */
export function p10Request(body: PKIBody): Uint8Array {
  if (!body.p10cr) throw new CmpDecodeError("body is not p10cr");
  const csr = new Uint8Array(body.p10cr);
  if (csr[0] !== 0x30) throw new CmpDecodeError("p10cr does not hold a CertificationRequest SEQUENCE");
  return csr;
}

export interface RevInfo {
  issuer?: Uint8Array;
  serialHex?: string;
  /** CRLReason from crlEntryDetails (RFC 5280 §5.3.1). */
  reason?: number;
  template: TemplateInfo;
}

/** The RevDetails of an rr, in order. */
export function revDetails(body: PKIBody): RevInfo[] {
  if (!body.rr) throw new CmpDecodeError("body is not rr");
  if (!body.rr.length) throw new CmpDecodeError("RevReqContent is empty");
  return body.rr.map((d) => {
    const template = templateInfo(d.certDetails);
    const reasons = (d.crlEntryDetails ?? []).filter((e) => e.extnID === CMP_OID.crlReason);
    if (reasons.length > 1) throw new CmpDecodeError("reasonCode appears more than once");
    return { issuer: template.issuer, serialHex: template.serialHex, reason: reasons[0] ? reasonCode(new Uint8Array(reasons[0].extnValue.buffer)) : undefined, template };
  });
}

/** CRLReason ::= ENUMERATED, one content octet, 0..10 without 7. */
function reasonCode(v: Uint8Array): number {
  if (v.length !== 3 || v[0] !== 0x0a || v[1] !== 1 || v[2] > 10 || v[2] === 7) throw new CmpDecodeError("reasonCode is not a CRLReason");
  return v[2];
}

export interface CertConfirm {
  certReqId: bigint;
  certHash: Uint8Array;
  hashAlgOid?: string;
  /** statusInfo absent, accepted or grantedWithMods. */
  accepted: boolean;
  status?: number;
  failInfo?: string[];
  text?: string;
}

/** The CertStatus entries of a certConf (may be empty: RFC 4210 reads that as rejecting all). */
export function certConfirms(body: PKIBody): CertConfirm[] {
  if (!body.certConf) throw new CmpDecodeError("body is not certConf");
  return body.certConf.map((c) => {
    const s = c.statusInfo;
    return {
      certReqId: c.certReqId,
      certHash: new Uint8Array(c.certHash),
      hashAlgOid: c.hashAlg?.algorithm,
      accepted: !s || s.status === 0 || s.status === 1,
      status: s?.status,
      failInfo: s?.failInfo ? failInfoNames(s.failInfo) : undefined,
      text: s?.statusString?.join("\n"),
    };
  });
}

/**
 * Whether a certConf's certHash is the hash of `certDer`: by hashAlg when given (RFC 9480 §2.10), else by the
 * certificate's signature hash (SHA-512 for Ed25519, RFC 9481 §2, and for ML-DSA). SHA-1 and unknown hashes never match.
 */
export function certHashMatches(c: Pick<CertConfirm, "certHash" | "hashAlgOid">, certDer: Uint8Array): boolean {
  const hash = c.hashAlgOid ? HASH_BY_OID[c.hashAlgOid] : signatureHashOf(certDer);
  return !!hash && createHash(hash).update(certDer).digest().equals(Buffer.from(c.certHash));
}

const SIG_HASH: Record<string, HashName> = {
  "1.2.840.10045.4.3.2": "sha256", "1.2.840.10045.4.3.3": "sha384", "1.2.840.10045.4.3.4": "sha512",
  "1.2.840.113549.1.1.11": "sha256", "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512",
  "1.3.101.112": "sha512",
  // ML-DSA has no hash of its own: SHA-512, as for Ed25519 and as CMS uses with ML-DSA.
  "2.16.840.1.101.3.4.3.17": "sha512", "2.16.840.1.101.3.4.3.18": "sha512", "2.16.840.1.101.3.4.3.19": "sha512",
};

function signatureHashOf(certDer: Uint8Array): HashName | undefined {
  try {
    checkDer(certDer, { maxBytes: 64 * 1024, maxDepth: 32, maxNodes: 20_000 });
    const [, alg] = childSpans(certDer, 0);
    const id = decodeDer(AlgorithmIdentifier, certDer.subarray(alg[0], alg[1]));
    if (id.algorithm === "1.2.840.113549.1.1.10" && id.parameters) return HASH_BY_OID[AsnConvert.parse(id.parameters, RsaSaPssParams).hashAlgorithm.algorithm];
    return SIG_HASH[id.algorithm];
  } catch {
    return undefined;
  }
}

/** The certReqIds of a pollReq. */
export function pollReqIds(body: PKIBody): bigint[] {
  if (!body.pollReq) throw new CmpDecodeError("body is not pollReq");
  if (!body.pollReq.length) throw new CmpDecodeError("PollReqContent is empty");
  return body.pollReq.map((p) => p.certReqId);
}

/** The InfoTypeAndValues of a genm (value DER; null for NULL; undefined when absent). */
export function genmInfos(body: PKIBody): Array<{ oid: string; value?: Uint8Array | null }> {
  if (!body.genm) throw new CmpDecodeError("body is not genm");
  return body.genm.map((i) => ({ oid: i.infoType, value: i.infoValue === null ? null : i.infoValue ? new Uint8Array(i.infoValue) : undefined }));
}

function attribute(a: AttributeTypeAndValue): { oid: string; value: Uint8Array | null } {
  return { oid: a.type, value: a.value === null ? null : new Uint8Array(a.value) };
}

function parse<C extends new () => object>(value: Uint8Array | null, type: C, what: string): InstanceType<C> {
  try {
    if (!value) throw new Error("empty");
    return decodeDer(type, value); // inside a message that passed checkDer
  } catch {
    throw new CmpDecodeError(`${what} is malformed`);
  }
}
