import { randomFillSync } from "node:crypto";
import type { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer } from "../../src/asn1/der-values.js";
import { childSpans } from "../../src/asn1/der-walk.js";
import { encodeDer } from "./asn1/der-encoder.js";
import { generalizedTimeDer, type DecodedMessage } from "./codec.js";
import { CMP_OID } from "./oids.js";

/*
 * The header of an answer to a decoded request and the bodies of the usual answers, written as DER directly:
 * the schema encoder builds and walks object trees for the same bytes (responseHeader, certRepBody + toDer).
 * Fields the answer mirrors (the request's sender as recipient, its protectionAlg) are cut from the request's
 * header DER, which the strict codec decoded, so they are exactly what re-encoding the decoded values gives.
 * test/cmp/protection.test.ts checks the output against the schema encoder byte for byte.
 */

const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;

/** A fresh 16-byte senderNonce: cut from one CSPRNG fill per 256 nonces (a randomBytes call each costs ~10 µs), copied out, never reused. */
export function freshNonce(): Uint8Array {
  if (poolAt + 16 > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const n = new Uint8Array(16);
  n.set(POOL.subarray(poolAt, poolAt + 16));
  poolAt += 16;
  return n;
}

const PVNO = [derTlv(0x02, Uint8Array.of(2)), derTlv(0x02, Uint8Array.of(3))];
/** recipient when the request named no sender: directoryName [4] EXPLICIT with the empty Name. */
const NULL_DN = derTlv(0xa4, derSequence());
/** generalInfo [8] with id-it-implicitConfirm, infoValue NULL. */
const IMPLICIT_CONFIRM = derTlv(0xa8, derSequence(derSequence(oidDer(CMP_OID.implicitConfirm), Uint8Array.of(0x05, 0))));

let timeSecond = -1;
let timeTlv: Uint8Array = new Uint8Array(0);
/** messageTime in whole seconds, made once per second. */
function messageTime(now: number): Uint8Array {
  const s = Math.floor(now / 1000);
  if (s !== timeSecond) {
    timeTlv = generalizedTimeDer(new Date(s * 1000));
    timeSecond = s;
  }
  return timeTlv;
}

export interface HeaderDerOptions {
  /** The sender GeneralName's DER (this RA's name). */
  sender: Uint8Array;
  /** protectionAlg; the request's own object is copied from the request's DER. */
  protectionAlg?: AlgorithmIdentifier;
  senderKID?: Uint8Array;
  implicitConfirm?: boolean;
  /** Default now. */
  now?: number;
}

/**
 * DER of the response header responseHeader() describes, for a decoded request: the request's pvno (3 stays 3,
 * else 2), recipient = the request's sender, transactionID echoed, a fresh senderNonce (returned), recipNonce =
 * the request's senderNonce, messageTime now.
 */
export function responseHeaderDer(req: DecodedMessage, o: HeaderDerOptions): { der: Uint8Array; senderNonce: Uint8Array } {
  const h = req.message.header;
  const spans = childSpans(req.header, 0);
  const received = (tag: number) => {
    for (let i = 3; i < spans.length; i++) if (req.header[spans[i][0]] === tag) return req.header.subarray(spans[i][0], spans[i][1]);
    return undefined;
  };
  const senderNonce = freshNonce();
  // A decoded header always has a sender; NULL_DN stands in as responseHeader's does for one without.
  const parts: Uint8Array[] = [PVNO[h.pvno === 3 ? 1 : 0], o.sender, spans[1] ? req.header.subarray(spans[1][0], spans[1][1]) : NULL_DN];
  parts.push(derTlv(0xa0, messageTime(o.now ?? Date.now())));
  if (o.protectionAlg) parts.push((o.protectionAlg === h.protectionAlg && received(0xa1)) || derTlv(0xa1, encodeDer(o.protectionAlg)));
  if (o.senderKID) parts.push(derTlv(0xa2, derTlv(0x04, o.senderKID)));
  if (h.transactionID) parts.push(received(0xa4) ?? derTlv(0xa4, derTlv(0x04, new Uint8Array(h.transactionID))));
  parts.push(derTlv(0xa5, derTlv(0x04, senderNonce)));
  if (h.senderNonce) parts.push(derTlv(0xa6, derTlv(0x04, new Uint8Array(h.senderNonce))));
  if (o.implicitConfirm) parts.push(IMPLICIT_CONFIRM);
  return { der: derSequence(...parts), senderNonce };
}

/** pkiconf: [19] EXPLICIT PKIConfirmContent ::= NULL. */
export const PKICONF_DER = Uint8Array.of(0xb3, 0x02, 0x05, 0x00);

const BODY_TAG = { ip: 0xa1, cp: 0xa3, kup: 0xa8 } as const;
const STATUS_ACCEPTED = derSequence(derTlv(0x02, Uint8Array.of(0)));

/** INTEGER content of a bigint: minimal two's complement. */
function integerContent(v: bigint): Uint8Array {
  const out: number[] = [];
  let n = v;
  do {
    out.unshift(Number(n & 0xffn));
    n >>= 8n;
  } while (!(n === 0n && !(out[0] & 0x80)) && !(n === -1n && out[0] & 0x80));
  return Uint8Array.from(out);
}

/**
 * ip, cp or kup with one CertResponse, status accepted, and the certificate: what certRepBody gives for
 * { certReqId, status: 0, cert, caPubs }, as DER.
 */
export function acceptedCertRepDer(kind: keyof typeof BODY_TAG, certReqId: bigint, cert: Uint8Array, caPubs?: Uint8Array[]): Uint8Array {
  const response = derSequence(derSequence(derTlv(0x02, integerContent(certReqId)), STATUS_ACCEPTED, derSequence(derTlv(0xa0, cert))));
  const rep = caPubs?.length ? derSequence(derTlv(0xa1, derSequence(...caPubs)), response) : derSequence(response);
  return derTlv(BODY_TAG[kind], rep);
}
