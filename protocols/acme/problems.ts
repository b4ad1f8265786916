import { toGatewayError, type ErrorCode } from "../../src/errors.js";
import type { AcmeIdentifierRecord, AcmeProblemRecord } from "../../src/store/acme-types.js";

const NS = "urn:ietf:params:acme:error:";

/** Our error codes → RFC 8555 §6.7 (and ARI/profiles drafts) problem types and HTTP status. */
const MAP: Partial<Record<ErrorCode, [string, number]>> = {
  RA_ERR_MALFORMED: ["malformed", 400],
  RA_ERR_DER_LIMIT: ["malformed", 400],
  RA_ERR_BODY_TOO_LARGE: ["malformed", 413],
  RA_ERR_UNSUPPORTED_MEDIA: ["malformed", 415],
  RA_ERR_METHOD_NOT_ALLOWED: ["malformed", 405],
  RA_ERR_BAD_NONCE: ["badNonce", 400],
  RA_ERR_BAD_SIGNATURE_ALG: ["badSignatureAlgorithm", 400],
  RA_ERR_BAD_SIGNATURE: ["malformed", 400],
  RA_ERR_ACCOUNT_NOT_FOUND: ["accountDoesNotExist", 400],
  RA_ERR_ACCOUNT_DEACTIVATED: ["unauthorized", 403],
  RA_ERR_EAB_REQUIRED: ["externalAccountRequired", 400],
  RA_ERR_EAB_INVALID: ["unauthorized", 403],
  RA_ERR_ORDER_NOT_READY: ["orderNotReady", 403],
  RA_ERR_RATE_LIMITED: ["rateLimited", 429],
  RA_ERR_BAD_CSR: ["badCSR", 400],
  RA_ERR_BAD_CSR_SIGNATURE: ["badCSR", 400],
  RA_ERR_WEAK_SIGNATURE_ALG: ["badCSR", 400],
  RA_ERR_ALGORITHM_NOT_ALLOWED: ["malformed", 400],
  RA_ERR_NO_NAMES: ["badCSR", 400],
  RA_ERR_KEY_NOT_ALLOWED: ["badPublicKey", 400],
  RA_ERR_KEY_WEAK: ["badPublicKey", 400],
  RA_ERR_KEY_IN_USE: ["malformed", 409],
  RA_ERR_NAME_NOT_ALLOWED: ["rejectedIdentifier", 400],
  RA_ERR_TOO_MANY_NAMES: ["rejectedIdentifier", 400],
  RA_ERR_UNSUPPORTED_IDENTIFIER: ["unsupportedIdentifier", 400],
  RA_ERR_VALIDITY_TOO_LONG: ["malformed", 400],
  RA_ERR_UNKNOWN_PROFILE: ["invalidProfile", 400],
  RA_ERR_PROFILE_NOT_ALLOWED: ["unauthorized", 403],
  RA_ERR_UNAUTHORIZED: ["unauthorized", 403],
  RA_ERR_NOT_FOUND: ["malformed", 404],
  RA_ERR_ALREADY_REVOKED: ["alreadyRevoked", 400],
  RA_ERR_BAD_REVOCATION_REASON: ["badRevocationReason", 400],
  RA_ERR_ALREADY_REPLACED: ["alreadyReplaced", 409],
  RA_ERR_APPROVAL_REJECTED: ["unauthorized", 403],
  RA_ERR_VALIDATION_CONNECTION: ["connection", 400],
  RA_ERR_VALIDATION_DNS: ["dns", 400],
  RA_ERR_VALIDATION_INCORRECT: ["incorrectResponse", 403],
  RA_ERR_VALIDATION_TLS: ["tls", 400],
  RA_ERR_BAD_ATTESTATION: ["badAttestationStatement", 400],
  // Authorization webhook: both end the order (finalize invalidates it), so no Retry-After-style 503.
  RA_ERR_AUTHORIZATION_DENIED: ["unauthorized", 403],
  RA_ERR_AUTHORIZATION_UNAVAILABLE: ["unauthorized", 403],
  // The database is down: try again later (RFC 8555 §6.6 allows 503 with Retry-After); nothing changed.
  RA_ERR_STORE_UNAVAILABLE: ["serverInternal", 503],
};

export interface RenderedProblem {
  status: number;
  body: AcmeProblemRecord & { algorithms?: string[] };
  retryAfterSeconds?: number;
  location?: string;
}

/** Renders any failure as an ACME problem document; internals never reach the client. */
export function toProblem(err: unknown): RenderedProblem {
  const e = toGatewayError(err);
  const [type, status] = MAP[e.code] ?? ["serverInternal", 500];
  const body: RenderedProblem["body"] = { type: NS + type, detail: status === 500 ? "internal error" : e.message, status };
  if (e.hints?.algorithms) body.algorithms = e.hints.algorithms;
  if (e.hints?.parts?.length) {
    body.subproblems = e.hints.parts.map((p) => ({ ...problemRecord(p.error), identifier: { type: p.identifier.type as AcmeIdentifierRecord["type"], value: p.identifier.value } }));
  }
  return { status, body, retryAfterSeconds: e.hints?.retryAfterSeconds, location: e.hints?.location };
}

/** The stored form (for order/challenge `error` fields). */
export function problemRecord(err: unknown): AcmeProblemRecord {
  const { body } = toProblem(err);
  return { type: body.type, detail: body.detail, status: body.status, ...(body.subproblems ? { subproblems: body.subproblems } : {}) };
}
