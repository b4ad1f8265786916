import type { CertificateAuthority } from "../ca/authority.js";
import { OcspResponder, type OcspResponderOptions, type StatusLookup } from "./ocsp-responder.js";

export type { CertStatus } from "./ocsp-der.js";
export { OCSP_MAX_NONCE_BYTES, OCSP_MAX_REQUESTS } from "./ocsp-request.js";
export { errorResponse, OcspResponder, OcspStatus, type OcspAnswer, type OcspResponderOptions, type OcspStatusLabel, type StatusLookup } from "./ocsp-responder.js";

/**
 * One answer, signed for this request alone (no pre-signed responses unless `opts.cacheEntries` is set):
 * a DER OCSPResponse for any input, never throws. The HTTP listeners keep one OcspResponder instead.
 */
export async function respondOcsp(requestDer: Uint8Array, cas: CertificateAuthority[], lookup: StatusLookup, opts: OcspResponderOptions): Promise<Uint8Array> {
  return (await new OcspResponder(() => cas, lookup, opts).respond(requestDer)).der;
}

/**
 * A GET path component is base64 of a small DER request (RFC 6960 A.1); this bounds the work before decoding. Node's
 * 16 KiB limit on the request line and headers bounds the URL anyway, and 16 Ki characters decode to at most 12 KiB,
 * under DEFAULT_MAX_REQUEST_BYTES: whatever GET can carry, POST takes too. Larger requests (a signed ML-DSA one) are POSTed.
 */
const MAX_GET_PATH_CHARS = 16 * 1024;

/**
 * For the HTTP layer: decodes the GET path component (RFC 6960 A.1: URL-encoded base64 of the DER,
 * possibly with %2F/%2B/%3D; base64url and missing padding are tolerated) into bytes, or undefined.
 */
export function decodeOcspGetPath(pathComponent: string): Uint8Array | undefined {
  if (pathComponent.length === 0 || pathComponent.length > MAX_GET_PATH_CHARS) return undefined;
  let s: string;
  try {
    s = decodeURIComponent(pathComponent.replace(/[?#].*$/s, ""));
  } catch {
    return undefined;
  }
  s = s.replace(/-/g, "+").replace(/_/g, "/");
  // Strict alphabet: Buffer's decoder silently skips junk, which would hide mangled input.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return undefined;
  const body = s.replace(/=+$/, "");
  if (body.length % 4 === 1 || (s.length !== body.length && s.length % 4 !== 0)) return undefined;
  const bytes = Buffer.from(body, "base64");
  return bytes.length ? new Uint8Array(bytes) : undefined;
}
