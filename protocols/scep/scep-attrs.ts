import { derTlv } from "../../src/asn1/der-encode.js";
import { octetString } from "../../src/cms/der.js";
import { content, type Tlv } from "../../src/cms/read.js";
import { attribute, type CmsHash } from "../../src/cms/signed-data.js";
import { GatewayError } from "../../src/errors.js";

/** SCEP signed attributes (RFC 8894 §3.2.1), all under id-VeriSign pki attributes 2.16.840.1.113733.1.9. */
export const SCEP_OID = {
  messageType: "2.16.840.1.113733.1.9.2",
  pkiStatus: "2.16.840.1.113733.1.9.3",
  failInfo: "2.16.840.1.113733.1.9.4",
  senderNonce: "2.16.840.1.113733.1.9.5",
  recipientNonce: "2.16.840.1.113733.1.9.6",
  transactionID: "2.16.840.1.113733.1.9.7",
} as const;

/** messageType values (RFC 8894 §3.2.1.2), sent as decimal PrintableStrings. */
export const MESSAGE_TYPE = { CertRep: 3, RenewalReq: 17, PKCSReq: 19, CertPoll: 20, GetCert: 21, GetCRL: 22 } as const;

/** pkiStatus values (§3.2.1.3). */
export const PKI_STATUS = { SUCCESS: "0", FAILURE: "2", PENDING: "3" } as const;
export type PkiStatus = keyof typeof PKI_STATUS;

/** failInfo values (§3.2.1.4). */
export const FAIL_INFO = { badAlg: "0", badMessageCheck: "1", badRequest: "2", badTime: "3", badCertId: "4" } as const;
export type FailInfo = keyof typeof FAIL_INFO;

export type ScepDigest = CmsHash;

/** The senderNonce / recipientNonce size (§3.2.1.5: "a 16 byte random number"). */
export const NONCE_LENGTH = 16;

/** What could be read from a request that failed, so a signed FAILURE can still echo them. Not authenticated. */
export interface ScepPartial {
  transactionId?: string;
  senderNonce?: Uint8Array;
  signerCert?: Uint8Array;
  digest?: ScepDigest;
  /** The content cipher the envelope names (node name), when it is one the RA knows; for the audit trail. */
  contentEncryption?: string;
}

/**
 * A request the RA answers with CertRep FAILURE and this failInfo. A GatewayError too (badAlg →
 * RA_ERR_ALGORITHM_NOT_ALLOWED, badCertId → RA_ERR_NOT_FOUND, otherwise RA_ERR_MALFORMED), so generic handlers
 * keep the message instead of calling it internal.
 */
export class ScepFailure extends GatewayError {
  constructor(readonly failInfo: FailInfo, message: string, readonly partial?: ScepPartial) {
    super(failInfo === "badAlg" ? "RA_ERR_ALGORITHM_NOT_ALLOWED" : failInfo === "badCertId" ? "RA_ERR_NOT_FOUND" : "RA_ERR_MALFORMED", message);
    this.name = "ScepFailure";
  }
}

/**
 * The failInfo of any refusal (§3.2.1.4): a ScepFailure keeps its own; an algorithm refused anywhere (message
 * digest, signature, content cipher, the CSR's own signature) is badAlg; anything else is badRequest.
 */
export function failInfoOf(e: GatewayError): FailInfo {
  if (e instanceof ScepFailure) return e.failInfo;
  switch (e.code) {
    case "RA_ERR_ALGORITHM_NOT_ALLOWED":
    case "RA_ERR_WEAK_SIGNATURE_ALG": return "badAlg";
    default: return "badRequest";
  }
}

/** PrintableString's alphabet (X.680 §41.4). */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]+$/;

export function isPrintable(s: string, maxLength = 255): boolean {
  return s.length <= maxLength && PRINTABLE.test(s);
}

/** Attribute with one PrintableString value (messageType, pkiStatus, failInfo, transactionID). */
export function printableAttr(oid: string, text: string): Uint8Array {
  if (!isPrintable(text)) throw new Error(`"${text}" is not a PrintableString`);
  return attribute(oid, derTlv(0x13, Buffer.from(text, "ascii")));
}

/** Attribute with one OCTET STRING value (senderNonce, recipientNonce). */
export const octetAttr = (oid: string, bytes: Uint8Array) => attribute(oid, octetString(bytes));

/** The text of a PrintableString value; undefined when it is another type or has characters outside the alphabet. */
export function readPrintable(der: Uint8Array, t: Tlv | undefined): string | undefined {
  if (t?.tag !== 0x13) return undefined;
  const s = Buffer.from(content(der, t)).toString("latin1");
  return isPrintable(s) ? s : undefined;
}

/** A nonce value: OCTET STRING of {@link NONCE_LENGTH} bytes, copied out of the message. */
export function readNonce(der: Uint8Array, t: Tlv | undefined): Uint8Array | undefined {
  if (t?.tag !== 0x04 || t.end - t.body !== NONCE_LENGTH) return undefined;
  return Uint8Array.from(content(der, t));
}
