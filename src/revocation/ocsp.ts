import { createHash } from "node:crypto";
import { AsnConvert, AsnProp, AsnPropTypes, OctetString } from "@peculiar/asn1-schema";
import { CRLReason, Extension, GeneralName, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import {
  CertID, CertStatus as AsnCertStatus, KeyHash, OCSPResponse, OCSPResponseStatus, ResponderID, ResponseBytes, ResponseData, RevokedInfo,
  Signature, SingleResponse, id_pkix_ocsp_basic, id_pkix_ocsp_nonce,
} from "@peculiar/asn1-ocsp";
import { algorithmIdentifier } from "../asn1/algorithms.js";
import { derSequence, derBitString, derTlv } from "../asn1/der-encode.js";
import { checkDer } from "../asn1/der-limits.js";
import type { CertificateAuthority } from "../ca/authority.js";
import { serialHex } from "../ca/serial.js";
import { signAndVerify } from "../ca/sign-object.js";
import { wholeSeconds } from "../ca/tbs.js";
import { GatewayError, toGatewayError } from "../errors.js";

export type CertStatus = { status: "good" } | { status: "revoked"; revokedAt: Date; reason?: number } | { status: "unknown" };
export type StatusLookup = (caName: string, serialHex: string) => CertStatus;
export interface OcspResponderOptions {
  validityMinutes: number;
  now?: () => Date;
  /** Cap on the DER request size; default 8 KiB. */
  maxRequestBytes?: number;
  /** Told why a request got a non-successful response (the response itself never says). Must not throw; if it does, that is ignored. */
  onError?: (err: GatewayError) => void;
}

export const OCSP_MAX_REQUESTS = 16;
export const OCSP_MAX_NONCE_BYTES = 128;
const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024;

/** RFC 6960 OCSPResponseStatus values we emit. */
export const OcspStatus = { successful: 0, malformedRequest: 1, internalError: 2, unauthorized: 6 } as const;

type HashName = "sha1" | "sha256" | "sha384" | "sha512";
const HASH_BY_OID: Record<string, HashName> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

/**
 * Returns a DER OCSPResponse for any input: malformedRequest for bad input,
 * unauthorized when no CA (with a delegated responder) matches, internalError otherwise; never throws.
 */
export async function respondOcsp(requestDer: Uint8Array, cas: CertificateAuthority[], lookup: StatusLookup, opts: OcspResponderOptions): Promise<Uint8Array> {
  try {
    return await respond(requestDer, cas, lookup, opts);
  } catch (e) {
    const err = toGatewayError(e);
    try {
      opts.onError?.(err);
    } catch {
      // Logging must not turn an answer into a crash.
    }
    return errorResponse(statusFor(err));
  }
}

/** By code, not kind: only the request's own faults may be blamed on the client (a config error is ours). */
function statusFor(err: GatewayError): 1 | 2 | 6 {
  if (err.code === "RA_ERR_MALFORMED" || err.code === "RA_ERR_DER_LIMIT") return OcspStatus.malformedRequest;
  return err.code === "RA_ERR_UNAUTHORIZED" ? OcspStatus.unauthorized : OcspStatus.internalError;
}

/** OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } — constant bytes, so building it cannot fail. */
export function errorResponse(status: 1 | 2 | 3 | 5 | 6): Uint8Array {
  return Uint8Array.of(0x30, 0x03, 0x0a, 0x01, status);
}

/*
 * Request schema. @peculiar/asn1-ocsp 2.6's `Request` declares singleRequestExtensions without its
 * [0] tag, so any request carrying them fails to parse; these mirror its classes with the tag fixed.
 * AsnProp is applied as a plain function so no decorator transform is needed.
 */
class OcspSingleRequest {
  reqCert = new CertID();
  singleRequestExtensions?: Extension[];
}
AsnProp({ type: CertID })(OcspSingleRequest.prototype, "reqCert");
AsnProp({ type: Extension, context: 0, repeated: "sequence", optional: true })(OcspSingleRequest.prototype, "singleRequestExtensions");

class OcspTbsRequest {
  version = 0;
  requestorName?: GeneralName;
  requestList: OcspSingleRequest[] = [];
  requestExtensions?: Extension[];
}
AsnProp({ type: AsnPropTypes.Integer, context: 0, defaultValue: 0 })(OcspTbsRequest.prototype, "version");
AsnProp({ type: GeneralName, context: 1, optional: true })(OcspTbsRequest.prototype, "requestorName");
AsnProp({ type: OcspSingleRequest, repeated: "sequence" })(OcspTbsRequest.prototype, "requestList");
AsnProp({ type: Extension, context: 2, optional: true, repeated: "sequence" })(OcspTbsRequest.prototype, "requestExtensions");

class OcspRequest {
  tbsRequest = new OcspTbsRequest();
  optionalSignature?: Signature;
}
AsnProp({ type: OcspTbsRequest })(OcspRequest.prototype, "tbsRequest");
AsnProp({ type: Signature, context: 0, optional: true })(OcspRequest.prototype, "optionalSignature");

async function respond(requestDer: Uint8Array, cas: CertificateAuthority[], lookup: StatusLookup, opts: OcspResponderOptions): Promise<Uint8Array> {
  const req = parseRequest(requestDer, opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES);
  const nonce = nonceOf(req);
  const certIds = req.tbsRequest.requestList.map((r) => r.reqCert);

  let ca: CertificateAuthority | undefined;
  for (const id of certIds) {
    const found = cas.find((c) => issuedBy(id, c));
    if (!found) throw unauthorized("a CertID matches no CA served here");
    if (ca && ca !== found) throw unauthorized("CertIDs for different CAs in one request");
    ca = found;
  }
  if (!ca?.ocsp) throw unauthorized(`CA ${ca?.name} has no delegated OCSP responder`);
  const responder = ca.ocsp;

  if (!Number.isFinite(opts.validityMinutes) || opts.validityMinutes <= 0) {
    throw new GatewayError("RA_ERR_INTERNAL", "OCSP validityMinutes must be positive");
  }
  const now = wholeSeconds(opts.now?.() ?? new Date());
  const next = new Date(now.getTime() + opts.validityMinutes * 60_000);
  const caName = ca.name;
  const responses = certIds.map((certID) => new SingleResponse({
    certID,
    certStatus: certStatusOf(lookup(caName, serialHex(certID.serialNumber))),
    thisUpdate: now,
    nextUpdate: next,
  }));

  const tbs = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(sha("sha1", publicKeyBits(responder.cert.publicKey.export({ type: "spki", format: "der" })))) }),
    producedAt: now,
    responses,
    responseExtensions: nonce ? [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(nonce) })] : undefined,
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const sig = await signAndVerify(responder.signer, tbsDer);
  // Assembled by hand so the signed bytes are exactly the bytes sent.
  const basic = derSequence(
    tbsDer,
    new Uint8Array(AsnConvert.serialize(algorithmIdentifier(responder.signer.algorithm))),
    derBitString(sig),
    derTlv(0xa0, derSequence(responder.certDer)),
  );
  const out = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(basic) }),
  });
  return new Uint8Array(AsnConvert.serialize(out));
}

function parseRequest(der: Uint8Array, maxBytes: number): OcspRequest {
  checkDer(der, { maxBytes, maxDepth: 16, maxNodes: 2000 });
  let req: OcspRequest;
  try {
    req = AsnConvert.parse(der, OcspRequest);
  } catch (e) {
    throw new GatewayError("RA_ERR_MALFORMED", "not an OCSPRequest", { cause: (e as Error).message });
  }
  const list = req.tbsRequest.requestList;
  if (req.tbsRequest.version !== 0) throw malformed("unsupported OCSPRequest version");
  if (list.length === 0 || list.length > OCSP_MAX_REQUESTS) throw malformed(`requestList must hold 1..${OCSP_MAX_REQUESTS} entries, not ${list.length}`);
  for (const r of list) if (r.reqCert.serialNumber.byteLength === 0) throw malformed("empty serial number");
  return req;
}

/** The nonce extnValue to echo verbatim (RFC 8954), or undefined when absent. */
function nonceOf(req: OcspRequest): ArrayBuffer | undefined {
  const nonces = (req.tbsRequest.requestExtensions ?? []).filter((e) => e.extnID === id_pkix_ocsp_nonce);
  if (nonces.length === 0) return undefined;
  if (nonces.length > 1) throw malformed("more than one nonce extension");
  const v = nonces[0].extnValue.buffer;
  if (v.byteLength === 0 || v.byteLength > OCSP_MAX_NONCE_BYTES) throw malformed(`nonce of ${v.byteLength} bytes (allowed 1..${OCSP_MAX_NONCE_BYTES})`);
  return v;
}

/** Hashes of each CA's name and key, per hash algorithm, computed once. */
const caHashes = new WeakMap<CertificateAuthority, Map<HashName, { name: Buffer; key: Buffer }>>();

function issuedBy(id: CertID, ca: CertificateAuthority): boolean {
  const hash = HASH_BY_OID[id.hashAlgorithm.algorithm];
  if (!hash) return false;
  let perCa = caHashes.get(ca);
  if (!perCa) caHashes.set(ca, (perCa = new Map()));
  let h = perCa.get(hash);
  if (!h) {
    h = { name: sha(hash, ca.subjectDer), key: sha(hash, publicKeyBits(ca.cert.publicKey.export({ type: "spki", format: "der" }))) };
    perCa.set(hash, h);
  }
  return h.name.equals(new Uint8Array(id.issuerNameHash.buffer)) && h.key.equals(new Uint8Array(id.issuerKeyHash.buffer));
}

function certStatusOf(s: CertStatus): AsnCertStatus {
  switch (s.status) {
    case "good": return new AsnCertStatus({ good: null });
    case "unknown": return new AsnCertStatus({ unknown: null });
    case "revoked": {
      if (s.reason !== undefined && (!Number.isInteger(s.reason) || s.reason < 0 || s.reason > 10 || s.reason === 7)) {
        throw new GatewayError("RA_ERR_INTERNAL", `invalid CRLReason ${s.reason} from the status lookup`);
      }
      // Like the CRL, leave out "unspecified" (RFC 5280 §5.3.1), so both say the same thing.
      const reason = s.reason ? new CRLReason(s.reason) : undefined;
      return new AsnCertStatus({ revoked: new RevokedInfo({ revocationTime: wholeSeconds(s.revokedAt), revocationReason: reason }) });
    }
  }
}

/** subjectPublicKey BIT STRING contents (what RFC 6960 key hashes cover). */
function publicKeyBits(spkiDer: Uint8Array): Uint8Array {
  return new Uint8Array(AsnConvert.parse(spkiDer, SubjectPublicKeyInfo).subjectPublicKey);
}

function sha(hash: HashName, data: Uint8Array): Buffer {
  return createHash(hash).update(data).digest();
}

const malformed = (why: string) => new GatewayError("RA_ERR_MALFORMED", `malformed OCSP request: ${why}`);
const unauthorized = (why: string) => new GatewayError("RA_ERR_UNAUTHORIZED", `OCSP request not served: ${why}`);

/** A GET path component is base64 of a small DER request; this bounds the work before decoding. */
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
