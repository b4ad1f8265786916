import { derSequence, derTlv } from "../asn1/der-encode.js";
import { GatewayError } from "../errors.js";
import { NONCE_OID } from "./ocsp-request.js";

/*
 * OCSP response DER (RFC 6960 §4.2.1) written by hand from already-encoded parts: the bytes signed are
 * exactly the bytes sent, and a response costs a few small concatenations instead of schema objects.
 */

export type CertStatus = { status: "good" } | { status: "revoked"; revokedAt: Date; reason?: number } | { status: "unknown" };

/** id-pkix-ocsp-basic 1.3.6.1.5.5.7.48.1.1 */
const BASIC_OID = Uint8Array.of(0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01);
const NONCE_OID_TLV = derTlv(0x06, NONCE_OID);
const GOOD = Uint8Array.of(0x80, 0x00);
const UNKNOWN = Uint8Array.of(0x82, 0x00);

/** GeneralizedTime YYYYMMDDHHMMSSZ (whole seconds, as RFC 5280 requires). */
export function generalizedTime(d: Date): Uint8Array {
  const iso = d.toISOString(); // 2024-03-04T05:06:07.000Z
  const text = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const out = new Uint8Array(17);
  out[0] = 0x18;
  out[1] = 15;
  for (let i = 0; i < 15; i++) out[2 + i] = text.charCodeAt(i);
  return out;
}

/** CertStatus CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] IMPLICIT NULL } */
export function certStatusDer(s: CertStatus): Uint8Array {
  switch (s.status) {
    case "good": return GOOD;
    case "unknown": return UNKNOWN;
    case "revoked": {
      if (s.reason !== undefined && (!Number.isInteger(s.reason) || s.reason < 0 || s.reason > 10 || s.reason === 7)) {
        throw new GatewayError("RA_ERR_INTERNAL", `invalid CRLReason ${s.reason} from the status lookup`);
      }
      if (Number.isNaN(s.revokedAt.getTime())) throw new GatewayError("RA_ERR_INTERNAL", "invalid revocation time from the status lookup");
      const time = generalizedTime(new Date(Math.floor(s.revokedAt.getTime() / 1000) * 1000));
      // Like the CRL, leave out "unspecified" (RFC 5280 §5.3.1), so both say the same thing.
      return s.reason ? derTlv(0xa1, time, derTlv(0xa0, Uint8Array.of(0x0a, 0x01, s.reason))) : derTlv(0xa1, time);
    }
  }
}

/** SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate, nextUpdate [0] EXPLICIT } */
export function singleResponseDer(certIdDer: Uint8Array, status: Uint8Array, thisUpdate: Uint8Array, nextUpdate: Uint8Array): Uint8Array {
  return derSequence(certIdDer, status, thisUpdate, derTlv(0xa0, nextUpdate));
}

/**
 * ResponseData ::= SEQUENCE { version [0] DEFAULT v1 (omitted), responderID byKey [2], producedAt,
 * responses, responseExtensions [1] EXPLICIT OPTIONAL (the nonce, echoed) }
 */
export function responseDataDer(responderKeyHash: Uint8Array, producedAt: Uint8Array, singles: Uint8Array[], nonce?: Uint8Array): Uint8Array {
  const responderId = derTlv(0xa2, derTlv(0x04, responderKeyHash));
  const ext = nonce ? [derTlv(0xa1, derSequence(derSequence(NONCE_OID_TLV, derTlv(0x04, nonce))))] : [];
  return derSequence(responderId, producedAt, derSequence(...singles), ...ext);
}

/** OCSPResponse { successful, responseBytes [0] EXPLICIT { id-pkix-ocsp-basic, BasicOCSPResponse } } */
export function successfulResponseDer(tbsDer: Uint8Array, algorithmDer: Uint8Array, signature: Uint8Array, responderCertDer: Uint8Array): Buffer {
  const basic = derSequence(tbsDer, algorithmDer, derTlv(0x03, Uint8Array.of(0), signature), derTlv(0xa0, derSequence(responderCertDer)));
  return derSequence(Uint8Array.of(0x0a, 0x01, 0x00), derTlv(0xa0, derSequence(BASIC_OID, derTlv(0x04, basic)))) as Buffer;
}
