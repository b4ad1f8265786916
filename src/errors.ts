/**
 * The one internal error type. Every failure a client can cause carries a stable
 * code; each front-end maps `kind` (and sometimes `code`) onto its own protocol.
 */
export type ErrorKind = "badRequest" | "unauthorized" | "rejected" | "notFound" | "pending" | "conflict" | "unavailable" | "internal";

/** Registry of codes: one place, each documented; a test checks they stay unique. */
export const ERROR_CODES = {
  RA_ERR_MALFORMED: { kind: "badRequest", doc: "The request could not be parsed (bad DER, bad JSON, bad encoding)." },
  RA_ERR_DER_LIMIT: { kind: "badRequest", doc: "DER input exceeded a parsing limit (size, depth, node count), had lying lengths, or broke a DER rule (BER)." },
  RA_ERR_BODY_TOO_LARGE: { kind: "badRequest", doc: "The request body exceeded the configured cap." },
  RA_ERR_BAD_CSR_SIGNATURE: { kind: "badRequest", doc: "The CSR's self-signature does not verify." },
  RA_ERR_WEAK_SIGNATURE_ALG: { kind: "rejected", doc: "The CSR is signed with MD5, SHA-1 (accepted on SCEP endpoints with legacyAlgorithms only) or an unknown algorithm." },
  RA_ERR_ALGORITHM_NOT_ALLOWED: { kind: "rejected", doc: "A message's digest, signature, key transport or content-encryption algorithm is not accepted here (SCEP and CMP failInfo badAlg)." },
  RA_ERR_KEY_NOT_ALLOWED: { kind: "rejected", doc: "The public key type or size is not allowed by the profile." },
  RA_ERR_KEY_WEAK: { kind: "rejected", doc: "The public key is weak (RSA below 2048 bits, modulus not a multiple of 8, unnamed curve)." },
  RA_ERR_NAME_NOT_ALLOWED: { kind: "rejected", doc: "A requested name is not allowed by the profile's name rules." },
  RA_ERR_TOO_MANY_NAMES: { kind: "rejected", doc: "The request carries more subject alternative names than the profile allows." },
  RA_ERR_NO_NAMES: { kind: "rejected", doc: "The request carries no name the profile could put in the certificate." },
  RA_ERR_VALIDITY_TOO_LONG: { kind: "rejected", doc: "The requested validity exceeds the profile's maximum." },
  RA_ERR_UNKNOWN_PROFILE: { kind: "notFound", doc: "The requested profile does not exist." },
  RA_ERR_PROFILE_NOT_ALLOWED: { kind: "unauthorized", doc: "The requester may not use this profile (identity or protocol not allowed)." },
  RA_ERR_UNAUTHORIZED: { kind: "unauthorized", doc: "Authentication failed or is missing." },
  RA_ERR_NOT_FOUND: { kind: "notFound", doc: "The referenced object (certificate, approval, secret) does not exist." },
  RA_ERR_PENDING_APPROVAL: { kind: "pending", doc: "The request awaits an administrator's approval." },
  RA_ERR_APPROVAL_REJECTED: { kind: "rejected", doc: "An administrator rejected the request." },
  RA_ERR_ALREADY_DECIDED: { kind: "conflict", doc: "The approval was already approved or rejected." },
  RA_ERR_ALREADY_REVOKED: { kind: "conflict", doc: "The certificate is already revoked." },
  RA_ERR_BAD_REVOCATION_REASON: { kind: "badRequest", doc: "The revocation reason is not an RFC 5280 reason code usable here." },
  RA_ERR_LINT_FAILED: { kind: "internal", doc: "The prepared certificate failed a pre-signing lint; nothing was signed." },
  RA_ERR_SIGNER_FAILED: { kind: "internal", doc: "The signer failed or produced a signature that does not verify." },
  RA_ERR_BAD_NONCE: { kind: "badRequest", doc: "ACME: the anti-replay nonce is missing, unknown, expired or already used." },
  RA_ERR_BAD_SIGNATURE_ALG: { kind: "badRequest", doc: "ACME: the JWS algorithm is not allowed or does not match the key type." },
  RA_ERR_BAD_SIGNATURE: { kind: "badRequest", doc: "ACME: the JWS signature or its protected header is invalid." },
  RA_ERR_ACCOUNT_NOT_FOUND: { kind: "badRequest", doc: "ACME: no account exists for this key or key identifier." },
  RA_ERR_ACCOUNT_DEACTIVATED: { kind: "unauthorized", doc: "ACME: the account is deactivated." },
  RA_ERR_EAB_REQUIRED: { kind: "unauthorized", doc: "ACME: this endpoint requires external account binding." },
  RA_ERR_EAB_INVALID: { kind: "unauthorized", doc: "ACME: the external account binding is unknown, used, expired or does not verify." },
  RA_ERR_ORDER_NOT_READY: { kind: "conflict", doc: "ACME: the order cannot be finalized in its current state." },
  RA_ERR_RATE_LIMITED: { kind: "rejected", doc: "Too many requests from this account or address; retry later." },
  RA_ERR_ALREADY_REPLACED: { kind: "conflict", doc: "The certificate named as replaced (ACME ARI `replaces`) was already replaced or is not this account's." },
  RA_ERR_BAD_CSR: { kind: "badRequest", doc: "The CSR is unusable for this order (names differ, key reused, malformed)." },
  RA_ERR_METHOD_NOT_ALLOWED: { kind: "badRequest", doc: "The HTTP method is not allowed on this resource." },
  RA_ERR_UNSUPPORTED_MEDIA: { kind: "badRequest", doc: "The request's Content-Type is not the one the protocol requires." },
  RA_ERR_KEY_IN_USE: { kind: "conflict", doc: "ACME: the new account key already belongs to another account." },
  RA_ERR_UNSUPPORTED_IDENTIFIER: { kind: "badRequest", doc: "ACME: the identifier type is not supported here." },
  RA_ERR_VALIDATION_CONNECTION: { kind: "unauthorized", doc: "Challenge validation could not connect to the client (refused, timed out, address not allowed)." },
  RA_ERR_VALIDATION_DNS: { kind: "unauthorized", doc: "Challenge validation found no usable DNS record." },
  RA_ERR_VALIDATION_INCORRECT: { kind: "unauthorized", doc: "Challenge validation got a response that does not match the key authorization." },
  RA_ERR_VALIDATION_TLS: { kind: "unauthorized", doc: "Challenge validation failed in TLS (no acme-tls/1, wrong certificate or extension)." },
  RA_ERR_POP_FAILED: { kind: "unauthorized", doc: "Proof of possession failed (EST channel binding in the CSR, CMP proof of possession)." },
  RA_ERR_BAD_ATTESTATION: { kind: "unauthorized", doc: "A device attestation failed a check (chain, freshness, signature, identifier) or the CSR key is not the attested key." },
  RA_ERR_AUTHORIZATION_DENIED: { kind: "rejected", doc: "The profile's authorization webhook denied the enrollment (device posture, group membership…); its reason is shown." },
  RA_ERR_AUTHORIZATION_UNAVAILABLE: { kind: "rejected", doc: "The profile's authorization webhook could not be asked (timeout, error, bad answer) and the profile fails closed." },
  RA_ERR_CSRF: { kind: "rejected", doc: "A console request that changes something came without the session's CSRF token." },
  RA_ERR_NOT_SUPPORTED: { kind: "badRequest", doc: "The request asks for an optional feature this gateway does not implement (e.g. EST symmetric key encryption, /fullcmc)." },
  RA_ERR_CONFIG: { kind: "badRequest", doc: "The configuration is invalid." },
  RA_ERR_STORE_UNAVAILABLE: { kind: "unavailable", doc: "The database could not be reached or did not answer in time; nothing was issued or changed. Retry after the Retry-After delay." },
  RA_ERR_INTERNAL: { kind: "internal", doc: "An unexpected internal failure; details are in the log." },
} as const satisfies Record<string, { kind: ErrorKind; doc: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERROR_CODES, s);
}

/** Facts a front-end may show the client besides the message. */
export interface ErrorHints {
  /** Seconds after which a retry may succeed (rate limits, pending work). */
  retryAfterSeconds?: number;
  /** One failure per item (e.g. per ACME identifier) when several failed at once. */
  parts?: Array<{ identifier: { type: string; value: string }; error: GatewayError }>;
  /** Algorithms that would have been accepted. */
  algorithms?: string[];
  /** URL of the existing resource a conflict is about. */
  location?: string;
}

export class GatewayError extends Error {
  readonly kind: ErrorKind;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra facts for the log, never sent to clients. */
    readonly detail?: Record<string, unknown>,
    readonly hints?: ErrorHints,
  ) {
    super(message);
    this.name = "GatewayError";
    this.kind = ERROR_CODES[code].kind;
  }
}

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}

/** Wraps anything thrown into a GatewayError without leaking internals into the message. */
export function toGatewayError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  return new GatewayError("RA_ERR_INTERNAL", "internal error", { cause: e instanceof Error ? e.message : String(e) });
}

/** The HTTP status an error has on every endpoint whatever the protocol (a body over its cap is 413); undefined: the front-end decides. */
export function uniformHttpStatus(e: GatewayError): number | undefined {
  return e.code === "RA_ERR_BODY_TOO_LARGE" ? 413 : undefined;
}

export function httpStatusFor(kind: ErrorKind): number {
  switch (kind) {
    case "badRequest": return 400;
    case "unauthorized": return 401;
    case "rejected": return 403;
    case "notFound": return 404;
    case "pending": return 202;
    case "conflict": return 409;
    case "unavailable": return 503;
    default: return 500;
  }
}
