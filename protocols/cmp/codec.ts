import { BitString } from "@peculiar/asn1-schema";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { checkDer } from "../../src/asn1/der-limits.js";
import { childSpans, header as tlvHeader } from "../../src/asn1/der-walk.js";
import { GatewayError } from "../../src/errors.js";
import { decodeDer, DerShapeError, ownBytes } from "./asn1/der-codec.js";
import { encodeDer } from "./asn1/der-encoder.js";
import { BODY_TYPES, PKIBody, PKIHeader, PKIMessage, type BodyType } from "./asn1/message.js";

export { BODY_TYPES, type BodyType };

/**
 * A request that is not a well-formed DER PKIMessage. A GatewayError (RA_ERR_DER_LIMIT for limit and
 * BER violations, RA_ERR_MALFORMED otherwise) so generic handlers keep the message; CMP answers it with
 * an error message carrying failInfo badDataFormat.
 */
export class CmpDecodeError extends GatewayError {
  readonly failInfo = "badDataFormat";
  constructor(message: string, code: "RA_ERR_MALFORMED" | "RA_ERR_DER_LIMIT" = "RA_ERR_MALFORMED", cause?: string) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.name = "CmpDecodeError";
  }
}

export interface DecodeLimits {
  /** Default 256 KiB. */
  maxBytes?: number;
  /** Default 32 (a Name inside a CertTemplate inside a CertReqMsg is about 11 deep). */
  maxDepth?: number;
  /** Default 20 000 ASN.1 nodes. */
  maxNodes?: number;
}

export const DEFAULT_CMP_LIMITS = { maxBytes: 256 * 1024, maxDepth: 32, maxNodes: 20_000 } as const;

export interface DecodedMessage {
  message: PKIMessage;
  bodyType: BodyType;
  /** PKIHeader and PKIBody DER exactly as received (views into the input). */
  header: Uint8Array;
  body: Uint8Array;
  /** DER of ProtectedPart ::= SEQUENCE { header, body }, built from the received bytes: what protection covers. */
  protectedPart: Uint8Array;
  /** The PKIProtection BIT STRING's octets (whole octets only); undefined when unprotected. */
  protection?: Uint8Array;
  /** Each extraCerts CMPCertificate's DER as received, in order. */
  extraCerts: Uint8Array[];
  messageTime?: Date;
}

/**
 * Decodes a PKIMessage. DER limits first over the raw bytes (lying lengths, BER, depth and node floods fail
 * in one linear pass), then the top-level shape by a TLV walk, then header and body by the strict schema
 * codec (asn1/der-codec.ts: nothing undeclared, nothing non-DER, so they re-encode to the received bytes).
 * extraCerts stay DER as received and are not parsed here. Throws CmpDecodeError only.
 */
export function decodePkiMessage(der: Uint8Array, limits: DecodeLimits = {}): DecodedMessage {
  if (!(der instanceof Uint8Array)) throw new CmpDecodeError("input is not bytes");
  try {
    checkDer(der, {
      maxBytes: limits.maxBytes ?? DEFAULT_CMP_LIMITS.maxBytes,
      maxDepth: limits.maxDepth ?? DEFAULT_CMP_LIMITS.maxDepth,
      maxNodes: limits.maxNodes ?? DEFAULT_CMP_LIMITS.maxNodes,
    });
  } catch (e) {
    throw new CmpDecodeError((e as Error).message, "RA_ERR_DER_LIMIT");
  }
  if (der[0] !== 0x30) throw new CmpDecodeError("PKIMessage is not a SEQUENCE");
  const parts = childSpans(der, 0);
  const [h, b] = parts;
  if (!h || der[h[0]] !== 0x30) throw new CmpDecodeError("PKIHeader is missing");
  if (!b || der[b[0]] < 0xa0 || der[b[0]] > 0xa0 + BODY_TYPES.length - 1) throw new CmpDecodeError("PKIBody is missing or has an unknown tag");
  let i = 2;
  const protectionSpan = der[parts[i]?.[0]] === 0xa0 ? parts[i++] : undefined;
  const extraSpan = der[parts[i]?.[0]] === 0xa1 ? parts[i++] : undefined;
  if (i !== parts.length) throw new CmpDecodeError("PKIMessage has unexpected fields");

  const header = der.subarray(h[0], h[1]);
  const body = der.subarray(b[0], b[1]);
  let message: PKIMessage;
  try {
    message = new PKIMessage({
      header: decodeDer(PKIHeader, header),
      body: decodeDer(PKIBody, body),
      protection: protectionSpan ? protectionBits(der, protectionSpan[0]) : undefined,
    });
  } catch (e) {
    // DerShapeError and CmpDecodeError are expected; anything else is still the input's fault here.
    const known = e instanceof DerShapeError || e instanceof CmpDecodeError;
    throw new CmpDecodeError(`not a CMP PKIMessage: ${known ? (e as Error).message : "undecodable"}`, "RA_ERR_MALFORMED", known ? undefined : String(e));
  }
  const bodyType = BODY_TYPES[der[b[0]] - 0xa0];
  const extraCerts = extraSpan ? certificateSpans(der, extraSpan[0]) : [];
  if (extraCerts.length) message.extraCerts = extraCerts.map(ownBytes);
  return {
    message,
    bodyType,
    header,
    body,
    protectedPart: derSequence(header, body),
    protection: message.protection ? new Uint8Array(message.protection.value) : undefined,
    extraCerts,
    messageTime: message.header.messageTime ? generalizedTime(new Uint8Array(message.header.messageTime)) : undefined,
  };
}

/** PKIMessage DER from header and body DER, the protection octets and extraCerts DER (each as given). */
export function encodePkiMessage(header: Uint8Array, body: Uint8Array, protection?: Uint8Array, extraCerts: Uint8Array[] = []): Uint8Array {
  const parts = [header, body];
  if (protection) parts.push(derTlv(0xa0, derTlv(0x03, Uint8Array.of(0), protection)));
  if (extraCerts.length) parts.push(derTlv(0xa1, derSequence(...extraCerts)));
  const out = derSequence(...parts);
  return new Uint8Array(out.buffer, out.byteOffset, out.length); // a plain Uint8Array: Buffer's slice() shares memory
}

/** DER of a header or body object (builders' output); throws DerShapeError on objects the schema cannot encode. */
export function toDer(value: PKIHeader | PKIBody): Uint8Array {
  return encodeDer(value);
}

/** PKIProtection ::= BIT STRING, whole octets (a MAC or signature). */
function protectionBits(der: Uint8Array, tag: number): BitString {
  const [bits, extra] = childSpans(der, tag);
  if (!bits || extra || der[bits[0]] !== 0x03) throw new CmpDecodeError("protection must be one BIT STRING");
  const content = der.subarray(tlvHeader(der, bits[0]).contentStart, bits[1]);
  if (content[0] !== 0) throw new CmpDecodeError("PKIProtection must be whole octets");
  return new BitString(ownBytes(content.subarray(1)), 0);
}

/** GeneralizedTime TLV → Date; DER form YYYYMMDDHHMMSS[.fff]Z only (RFC 5280 §4.1.2.5.2 allows no other). */
export function generalizedTime(tlv: Uint8Array): Date {
  const m = tlv[0] === 0x18 ? /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d*[1-9])?Z$/.exec(Buffer.from(tlv.subarray(tlvHeader(tlv, 0).contentStart)).toString("latin1")) : null;
  if (!m) throw new CmpDecodeError("messageTime is not a DER GeneralizedTime");
  const ms = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms));
  if (Number.isNaN(d.getTime()) || d.getUTCDate() !== +m[3] || +m[4] > 23 || +m[5] > 59 || +m[6] > 59) throw new CmpDecodeError("messageTime is not a valid date");
  return d;
}

/** GeneralizedTime TLV for a Date, whole seconds (what messageTime carries in responses). */
export function generalizedTimeDer(d: Date): Uint8Array {
  const text = d.toISOString().slice(0, 19).replace(/[-T:]/g, "") + "Z";
  return derTlv(0x18, Buffer.from(text, "latin1"));
}

function certificateSpans(der: Uint8Array, extraTag: number): Uint8Array[] {
  const [seq, extra] = childSpans(der, extraTag);
  if (!seq || extra || der[seq[0]] !== 0x30) throw new CmpDecodeError("extraCerts must be one SEQUENCE");
  const certs = childSpans(der, seq[0]);
  if (!certs.length || certs.some(([s]) => der[s] !== 0x30)) throw new CmpDecodeError("extraCerts must hold 1..n certificates");
  return certs.map(([s, e]) => der.subarray(s, e));
}

