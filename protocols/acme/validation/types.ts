import type { GatewayError } from "../../../src/errors.js";

export type ChallengeType = "http-01" | "dns-01" | "tls-alpn-01";

export interface AcmeIdentifier {
  type: "dns" | "ip";
  /** For a wildcard authorization, the base name (without "*."). IPs in RFC 5952 / dotted form. */
  value: string;
}

export interface ValidationInput {
  type: ChallengeType;
  identifier: AcmeIdentifier;
  token: string;
  /** token "." base64url(JWK thumbprint of the account key) — RFC 8555 §8.1 */
  keyAuthorization: string;
}

/** What was contacted, kept with the challenge for the audit trail (Boulder's validationRecord). */
export interface ValidationRecord {
  url?: string;
  hostname: string;
  port?: number;
  addressesResolved?: string[];
  addressUsed?: string;
  /** dns-01: the name queried. */
  query?: string;
}

export type ValidationResult =
  | { ok: true; records: ValidationRecord[] }
  /** error.code is one of RA_ERR_VALIDATION_CONNECTION | _DNS | _INCORRECT | _TLS; its message is shown to the client. */
  | { ok: false; error: GatewayError; records: ValidationRecord[] };

export interface ChallengeValidator {
  /** Never throws and never exceeds the configured timeout. */
  validate(input: ValidationInput): Promise<ValidationResult>;
}
