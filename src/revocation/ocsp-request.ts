import { checkDer } from "../asn1/der-limits.js";
import { header } from "../asn1/der-walk.js";
import { serialHex } from "../ca/serial.js";
import { GatewayError } from "../errors.js";

/*
 * OCSPRequest (RFC 6960 §4.1.1) read straight off the DER bytes: checkDer bounds size, depth and node
 * count first, then one walk checks the structure and keeps subarrays, no schema objects. This is the
 * per-request parse of every OCSP answer, including the pre-signed ones, so it must stay cheap.
 */

export const OCSP_MAX_REQUESTS = 16;
export const OCSP_MAX_NONCE_BYTES = 128;
/**
 * The body cap of an OCSP request, a constant against abuse sized for the largest request answered: one signed
 * with ML-DSA-87 (RFC 6960 §4.1.2; a 4,627-byte signature) carrying the requestor's ML-DSA-87 certificate and its
 * issuing CA's (about 7.6 KB each) is about 20 KB; with 16 SHA-512 CertIDs and the largest nonce, about 23 KB.
 * 32 KiB leaves about 9 KB for longer names and request extensions.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 32 * 1024;

export type HashName = "sha1" | "sha256" | "sha384" | "sha512";

export interface OcspCertId {
  /** The whole CertID TLV, echoed verbatim in the SingleResponse. */
  der: Uint8Array;
  /** undefined for a hash algorithm we do not support (no CA can match it). */
  hash: HashName | undefined;
  nameHash: Uint8Array;
  keyHash: Uint8Array;
  /** Lowercase hex, leading zero octets dropped (the store's spelling). */
  serial: string;
}

export interface OcspRequestInfo {
  certIds: OcspCertId[];
  /** The nonce extension's extnValue contents, echoed verbatim (RFC 8954); undefined when absent. */
  nonce?: Uint8Array;
}

const hex = (s: string) => Buffer.from(s, "hex");
const HASH_OIDS: Array<[HashName, Buffer]> = [
  ["sha1", hex("2b0e03021a")],
  ["sha256", hex("608648016503040201")],
  ["sha384", hex("608648016503040202")],
  ["sha512", hex("608648016503040203")],
];
/** id-pkix-ocsp-nonce 1.3.6.1.5.5.7.48.1.2, contents of the OID. */
export const NONCE_OID = hex("2b0601050507300102");

interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/** The TLVs directly inside `parent` (input already passed checkDer, so lengths are sound). */
function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.contentStart; pos < parent.end;) {
    const h = header(der, pos);
    out.push({ tag: der[pos], start: pos, contentStart: h.contentStart, end: h.end });
    pos = h.end;
  }
  return out;
}

function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw malformed(`${what} missing or of the wrong type`);
  return t;
}

/** Parses and checks an OCSPRequest; throws RA_ERR_MALFORMED / RA_ERR_DER_LIMIT for anything else. */
export function parseOcspRequest(der: Uint8Array, maxBytes = DEFAULT_MAX_REQUEST_BYTES): OcspRequestInfo {
  checkDer(der, { maxBytes, maxDepth: 16, maxNodes: 2000 });
  // Only constructed values are walked: a primitive's contents were not checked by checkDer.
  if (der[0] !== 0x30) throw malformed("not a SEQUENCE");
  const h = header(der, 0);
  const top = children(der, { tag: der[0], start: 0, contentStart: h.contentStart, end: h.end });
  // OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }
  // The optionalSignature is not verified: status is public (RFC 6960 §4.1.2 lets a responder not require it), so a
  // signed request is answered as an unsigned one; its certificates only count towards the size cap.
  if (top.length < 1 || top.length > 2 || (top.length === 2 && top[1].tag !== 0xa0)) throw malformed("not an OCSPRequest");
  const tbs = children(der, expect(top[0], 0x30, "tbsRequest"));
  let i = 0;
  if (tbs[i]?.tag === 0xa0) {
    // version [0] EXPLICIT INTEGER DEFAULT v1(0): only v1 exists.
    const v = children(der, tbs[i++]);
    if (v.length !== 1 || v[0].tag !== 0x02 || v[0].end - v[0].contentStart !== 1 || der[v[0].contentStart] !== 0) throw malformed("unsupported OCSPRequest version");
  }
  if (tbs[i]?.tag === 0xa1) i++; // requestorName: not used
  const list = children(der, expect(tbs[i++], 0x30, "requestList"));
  let nonce: Uint8Array | undefined;
  if (tbs[i]?.tag === 0xa2) nonce = nonceOf(der, tbs[i++]);
  if (i !== tbs.length) throw malformed("unexpected field in tbsRequest");
  if (list.length === 0 || list.length > OCSP_MAX_REQUESTS) throw malformed(`requestList must hold 1..${OCSP_MAX_REQUESTS} entries, not ${list.length}`);
  return { certIds: list.map((r) => singleRequest(der, r)), nonce };
}

/** Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL } */
function singleRequest(der: Uint8Array, r: Tlv): OcspCertId {
  const parts = children(der, expect(r, 0x30, "Request"));
  if (parts.length < 1 || parts.length > 2 || (parts.length === 2 && parts[1].tag !== 0xa0)) throw malformed("not a Request");
  if (parts.length === 2) extensions(der, parts[1]);
  const certId = expect(parts[0], 0x30, "CertID");
  // CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash, issuerKeyHash OCTET STRING, serialNumber INTEGER }
  const f = children(der, certId);
  if (f.length !== 4) throw malformed("CertID must have four fields");
  const alg = children(der, expect(f[0], 0x30, "hashAlgorithm"));
  const oid = expect(alg[0], 0x06, "hash algorithm OID");
  if (alg.length > 2) throw malformed("bad AlgorithmIdentifier");
  const oidBytes = der.subarray(oid.contentStart, oid.end);
  const hash = HASH_OIDS.find(([, b]) => b.equals(oidBytes))?.[0];
  const nameHash = expect(f[1], 0x04, "issuerNameHash");
  const keyHash = expect(f[2], 0x04, "issuerKeyHash");
  const serial = expect(f[3], 0x02, "serialNumber");
  return {
    der: der.subarray(certId.start, certId.end), hash,
    nameHash: der.subarray(nameHash.contentStart, nameHash.end),
    keyHash: der.subarray(keyHash.contentStart, keyHash.end),
    serial: serialHex(der.subarray(serial.contentStart, serial.end)),
  };
}

/**
 * Extensions ::= SEQUENCE OF Extension { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING },
 * inside an EXPLICIT tag; returns the nonce's extnValue contents if there is one.
 */
function extensions(der: Uint8Array, wrapper: Tlv): Uint8Array | undefined {
  const inner = children(der, wrapper);
  if (inner.length !== 1) throw malformed("bad extensions");
  let nonce: Uint8Array | undefined;
  for (const ext of children(der, expect(inner[0], 0x30, "Extensions"))) {
    const f = children(der, expect(ext, 0x30, "Extension"));
    const oid = expect(f[0], 0x06, "extnID");
    const hasCritical = f.length === 3;
    if (f.length < 2 || f.length > 3 || (hasCritical && f[1].tag !== 0x01)) throw malformed("bad Extension");
    const value = expect(f[f.length - 1], 0x04, "extnValue");
    if (!NONCE_OID.equals(der.subarray(oid.contentStart, oid.end))) continue;
    if (nonce) throw malformed("more than one nonce extension");
    nonce = der.subarray(value.contentStart, value.end);
  }
  return nonce;
}

function nonceOf(der: Uint8Array, wrapper: Tlv): Uint8Array | undefined {
  const nonce = extensions(der, wrapper);
  if (nonce && (nonce.length === 0 || nonce.length > OCSP_MAX_NONCE_BYTES)) throw malformed(`nonce of ${nonce.length} bytes (allowed 1..${OCSP_MAX_NONCE_BYTES})`);
  return nonce;
}

export const malformed = (why: string) => new GatewayError("RA_ERR_MALFORMED", `malformed OCSP request: ${why}`);
