import { BitString } from "@peculiar/asn1-schema";
import { checkDer } from "../../src/asn1/der-limits.js";
import { GeneralName, Name, type AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { InfoTypeAndValue, PKIFreeText, PKIStatusInfo } from "./asn1/common.js";
import { decodeDer } from "./asn1/der-codec.js";
import {
  CertifiedKeyPair, CertOrEncCert, CertRepMessage, CertResponse, ErrorMsgContent, GenMsgContent, PollRep, PollRepContent, RevRepContent,
} from "./asn1/content.js";
import { PKIBody, PKIHeader } from "./asn1/message.js";
import { generalizedTimeDer } from "./codec.js";
import { freshNonce } from "./answer-der.js";
import { CMP_OID } from "./oids.js";

/** PKIFailureInfo bit numbers (RFC 4210 §5.2.3, RFC 9480). */
export const FAIL_INFO = {
  badAlg: 0, badMessageCheck: 1, badRequest: 2, badTime: 3, badCertId: 4, badDataFormat: 5, wrongAuthority: 6, incorrectData: 7,
  missingTimeStamp: 8, badPOP: 9, certRevoked: 10, certConfirmed: 11, wrongIntegrity: 12, badRecipientNonce: 13, timeNotAvailable: 14,
  unacceptedPolicy: 15, unacceptedExtension: 16, addInfoNotAvailable: 17, badSenderNonce: 18, badCertTemplate: 19, signerNotTrusted: 20,
  transactionIdInUse: 21, unsupportedVersion: 22, notAuthorized: 23, systemUnavail: 24, systemFailure: 25, duplicateCertReq: 26,
} as const;
export type FailInfoName = keyof typeof FAIL_INFO;

/** PKIStatus: accepted 0, grantedWithMods 1, rejection 2, waiting 3, revocationWarning 4, revocationNotification 5, keyUpdateWarning 6. */
export type PkiStatus = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** Named-bit BIT STRING in DER: trailing zero bits dropped (X.690 §11.2.2). Throws on unknown names. */
export function failInfoBits(names: readonly string[]): BitString {
  const bits = names.map((n) => {
    const bit = (FAIL_INFO as Record<string, number>)[n];
    if (bit === undefined) throw new Error(`unknown PKIFailureInfo ${n}`);
    return bit;
  });
  if (!bits.length) return new BitString(new Uint8Array(0), 0);
  const top = Math.max(...bits);
  const bytes = new Uint8Array((top >> 3) + 1);
  for (const b of bits) bytes[b >> 3] |= 0x80 >> (b & 7);
  return new BitString(bytes, 7 - (top & 7));
}

/** The names of the bits set in a PKIFailureInfo (unknown bits are reported as `bit<n>`). */
export function failInfoNames(bits: BitString | undefined): string[] {
  if (!bits) return [];
  const bytes = new Uint8Array(bits.value);
  const byBit = Object.fromEntries(Object.entries(FAIL_INFO).map(([k, v]) => [v, k]));
  const out: string[] = [];
  for (let i = 0; i < bytes.length * 8 - bits.unusedBits; i++) if (bytes[i >> 3] & (0x80 >> (i & 7))) out.push(byBit[i] ?? `bit${i}`);
  return out;
}

export interface StatusOptions {
  status: PkiStatus;
  failInfo?: readonly string[];
  text?: string;
}

export function statusInfo(o: StatusOptions): PKIStatusInfo {
  return new PKIStatusInfo({
    status: o.status,
    statusString: o.text ? new PKIFreeText([o.text]) : undefined,
    failInfo: o.failInfo?.length ? failInfoBits(o.failInfo) : undefined,
  });
}

export interface ResponseHeaderOptions {
  /** This RA's name: a Name's DER (becomes directoryName) or a GeneralName. With signature protection, the protection certificate's subject. */
  sender: Uint8Array | GeneralName;
  /** Default: the request's sender. */
  recipient?: GeneralName;
  protectionAlg?: AlgorithmIdentifier;
  senderKID?: Uint8Array;
  /** Adds id-it-implicitConfirm to generalInfo: the certificate needs no certConf (RFC 9483 §4.1.1). */
  implicitConfirm?: boolean;
  extraFreeText?: string[];
  /** Further generalInfo entries (value DER, or null for NULL). */
  generalInfo?: Array<{ oid: string; value?: Uint8Array | null }>;
  now?: Date;
}

/**
 * A response header: the request's pvno (2 or 3, else 2), transactionID echoed, a fresh 16-byte senderNonce,
 * recipNonce = the request's senderNonce, messageTime now (RFC 9483 §3.1).
 */
export function responseHeader(req: PKIHeader, o: ResponseHeaderOptions): PKIHeader {
  const generalInfo = [
    ...(o.implicitConfirm ? [new InfoTypeAndValue({ infoType: CMP_OID.implicitConfirm, infoValue: null })] : []),
    ...(o.generalInfo ?? []).map((g) => new InfoTypeAndValue({ infoType: g.oid, infoValue: g.value === null ? null : g.value ? ab(g.value) : undefined })),
  ];
  return new PKIHeader({
    pvno: req.pvno === 3 ? 3 : 2,
    sender: o.sender instanceof GeneralName ? o.sender : new GeneralName({ directoryName: nameOf(o.sender) }),
    recipient: o.recipient ?? (hasName(req.sender) ? req.sender : new GeneralName({ directoryName: new Name() })),
    messageTime: ab(generalizedTimeDer(o.now ?? new Date())),
    protectionAlg: o.protectionAlg,
    senderKID: o.senderKID ? ab(o.senderKID) : undefined,
    transactionID: req.transactionID,
    senderNonce: ab(freshNonce()),
    recipNonce: req.senderNonce,
    freeText: o.extraFreeText?.length ? new PKIFreeText(o.extraFreeText) : undefined,
    generalInfo: generalInfo.length ? generalInfo : undefined,
  });
}

export interface CertRepOptions {
  certReqId: bigint | number;
  status: PkiStatus;
  failInfo?: readonly string[];
  statusText?: string;
  /** The issued certificate's DER (status 0 or 1). */
  cert?: Uint8Array;
  /** CA certificates for the client to trust (RFC 9483 §4.1.1: with ir, the root of the issuing chain). */
  caPubs?: Uint8Array[];
}

/** ip, cp or kup with one CertResponse. */
export function certRepBody(kind: "ip" | "cp" | "kup", o: CertRepOptions): PKIBody {
  if (o.cert && o.status !== 0 && o.status !== 1) throw new Error("a certificate goes only with status accepted or grantedWithMods");
  const rep = new CertRepMessage({
    caPubs: o.caPubs?.length ? o.caPubs.map(ab) : undefined,
    response: [new CertResponse({
      certReqId: BigInt(o.certReqId),
      status: statusInfo({ status: o.status, failInfo: o.failInfo, text: o.statusText }),
      certifiedKeyPair: o.cert ? new CertifiedKeyPair({ certOrEncCert: new CertOrEncCert({ certificate: ab(o.cert) }) }) : undefined,
    })],
  });
  return new PKIBody({ [kind]: rep });
}

/** rp: one PKIStatusInfo per RevDetails of the rr, in order. */
export function rpBody(statuses: StatusOptions[]): PKIBody {
  if (!statuses.length) throw new Error("rp needs at least one status");
  return new PKIBody({ rp: new RevRepContent({ status: statuses.map(statusInfo) }) });
}

/** pkiconf: PKIConfirmContent ::= NULL. */
export function pkiConfBody(): PKIBody {
  return new PKIBody({ pkiconf: null });
}

/** pollRep for one request: retry after `checkAfterSeconds`. */
export function pollRepBody(certReqId: bigint | number, checkAfterSeconds: number, reason?: string): PKIBody {
  if (!Number.isSafeInteger(checkAfterSeconds) || checkAfterSeconds < 0) throw new Error("checkAfter must be a non-negative integer");
  const rep = new PollRep({ certReqId: BigInt(certReqId), checkAfter: BigInt(checkAfterSeconds), reason: reason ? new PKIFreeText([reason]) : undefined });
  return new PKIBody({ pollRep: new PollRepContent([rep]) });
}

/** genp: InfoTypeAndValue list; a value is DER, absent when undefined. */
export function genpBody(itavs: Array<{ oid: string; value?: Uint8Array }>): PKIBody {
  return new PKIBody({ genp: new GenMsgContent(itavs.map((i) => new InfoTypeAndValue({ infoType: i.oid, infoValue: i.value ? ab(i.value) : undefined }))) });
}

/** error: status rejection with these failInfo bits and text (RFC 9483 §3.6.4). */
export function errorBody(o: { failInfo: readonly string[]; text: string; errorCode?: number }): PKIBody {
  return new PKIBody({
    error: new ErrorMsgContent({
      pKIStatusInfo: statusInfo({ status: 2, failInfo: o.failInfo, text: o.text }),
      errorCode: o.errorCode === undefined ? undefined : BigInt(o.errorCode),
    }),
  });
}

/** A Name from configuration DER, checked like any input. */
function nameOf(der: Uint8Array): Name {
  checkDer(der, { maxBytes: 8192, maxDepth: 8, maxNodes: 512 });
  return decodeDer(Name, der);
}

/** A request that could not be read has a default GeneralName with no alternative: answer to the NULL-DN then. */
function hasName(g: GeneralName | undefined): g is GeneralName {
  return !!g && Object.values(g).some((v) => v !== undefined);
}

function ab(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
