import { GatewayError } from "../../src/errors.js";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The DER inside an EST request body: base64 (RFC 7030 §4.2.1, line breaks allowed), also
 * tolerated with PEM armour since some device firmware sends that. Anything else is refused
 * before any ASN.1 parsing.
 */
export function derFromBase64Body(body: Buffer | undefined, what: string): Uint8Array {
  if (!body?.length) throw new GatewayError("RA_ERR_MALFORMED", `the body is empty; expected a base64 ${what}`);
  const text = body.toString("latin1").replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, "").replace(/[\r\n\t ]+/g, "");
  if (!text.length || text.length % 4 !== 0 || !BASE64.test(text)) throw new GatewayError("RA_ERR_MALFORMED", `the body is not base64; expected a base64 ${what}`);
  return new Uint8Array(Buffer.from(text, "base64"));
}

/** RFC 7030 §4.2.1: `application/pkcs10` (parameters allowed). */
export function requirePkcs10(contentType: string | undefined): void {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/pkcs10") {
    throw new GatewayError("RA_ERR_UNSUPPORTED_MEDIA", `Content-Type must be application/pkcs10, not ${type || "absent"}`);
  }
}
