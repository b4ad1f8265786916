import { randomBytes } from "node:crypto";

/**
 * Base64 with CRLF after every 64 characters and at the end: the body form of every EST answer
 * (RFC 7030 §4: "base64" Content-Transfer-Encoding, RFC 2045 §6.8 lines of at most 76 characters;
 * 64 as PEM does). RFC 8951 §3.1 has receivers ignore the whitespace, so the line length is cosmetic.
 */
export function base64Lines(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let out = "";
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\r\n`;
  return out;
}

const HEADER_VALUE = /^[\x20-\x7e]+$/;
const BASE64_BODY = /^[A-Za-z0-9+/=]*(\r?\n[A-Za-z0-9+/=]*)*$/;

/**
 * A `multipart/mixed` body (RFC 2046 §5.1) of base64 parts, as RFC 7030 §4.4.2 answers /serverkeygen:
 * each part has Content-Type and `Content-Transfer-Encoding: base64`, lines end in CRLF, and the random
 * boundary (RFC 2046 §5.1.1: 1–70 characters, here a token so it needs no quoting) cannot occur in base64.
 */
export function multipartMixed(parts: Array<{ contentType: string; body: string }>): { contentType: string; body: string } {
  if (!parts.length) throw new Error("multipart/mixed needs at least one part");
  for (const p of parts) {
    // A CR or LF in a header value would let the caller's string start new headers.
    if (!HEADER_VALUE.test(p.contentType)) throw new Error(`part Content-Type ${JSON.stringify(p.contentType)} is not a single printable header line`);
    if (!BASE64_BODY.test(p.body)) throw new Error("part body is not base64 text");
  }
  // "_" and a leading "--" never occur in base64, so no body line can be taken for the delimiter.
  const boundary = `est_${randomBytes(18).toString("hex")}`;
  const body =
    parts
      .map((p) => {
        const crlf = p.body.replace(/\r?\n/g, "\r\n");
        const text = crlf.endsWith("\r\n") ? crlf : `${crlf}\r\n`;
        return `--${boundary}\r\nContent-Type: ${p.contentType}\r\nContent-Transfer-Encoding: base64\r\n\r\n${text}`;
      })
      .join("") + `--${boundary}--\r\n`;
  return { contentType: `multipart/mixed; boundary=${boundary}`, body };
}
