/** ACME front-end records. Times are ISO strings except nonce expiry (epoch ms, hot path). */

export type AcmeAccountStatus = "valid" | "deactivated" | "revoked";
export type AcmeOrderStatus = "pending" | "ready" | "processing" | "valid" | "invalid";
export type AcmeAuthzStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
export type AcmeChallengeStatus = "pending" | "processing" | "valid" | "invalid";

export interface AcmeIdentifierRecord {
  /** dns, ip (RFC 8738), and the device identifiers of draft-ietf-acme-device-attest. */
  type: "dns" | "ip" | "permanent-identifier" | "hardware-module";
  value: string;
}

/** A problem document as stored and served (RFC 7807 + RFC 8555 §6.7). */
export interface AcmeProblemRecord {
  type: string;
  detail: string;
  status?: number;
  identifier?: AcmeIdentifierRecord;
  subproblems?: AcmeProblemRecord[];
}

export interface AcmeAccountRecord {
  id: string;
  endpoint: string;
  thumbprint: string;
  /** The account public key as a JSON JWK. */
  jwk: string;
  status: AcmeAccountStatus;
  contact: string[];
  eabKeyId?: string;
  createdAt: string;
}

export interface AcmeOrderRecord {
  id: string;
  accountId: string;
  endpoint: string;
  /** Stored status; pending/ready are derived from the authorizations on read. */
  status: AcmeOrderStatus;
  identifiers: AcmeIdentifierRecord[];
  authzIds: string[];
  profile: string;
  notBefore?: string;
  notAfter?: string;
  expires: string;
  error?: AcmeProblemRecord;
  requestId?: string;
  certSerial?: string;
  /** Serial (hex) of the certificate this order renews (ARI `replaces`). */
  replaces?: string;
  createdAt: string;
  /** When finalize claimed the order: a finalization unsettled long after it was abandoned (protocols/acme/orders.ts). */
  finalizeStartedAt?: string;
}

/** Where a page of an account's orders continues: after this (createdAt, id) in that order. */
export interface AcmeOrderCursor {
  createdAt: string;
  id: string;
}

/** How a processing order ends: with its certificate, or invalid with the problem. */
export type AcmeOrderSettlement = { status: "valid"; certSerial: string } | { status: "invalid"; error: AcmeProblemRecord };

export interface AcmeChallengeRecord {
  type: "http-01" | "dns-01" | "tls-alpn-01" | "device-attest-01";
  status: AcmeChallengeStatus;
  validated?: string;
  error?: AcmeProblemRecord;
  /** What validation contacted (hostnames, addresses, ports). */
  records?: unknown[];
  /** device-attest-01: the profile whose trust anchors apply (fixed when the order is made). */
  profile?: string;
  /**
   * device-attest-01, once valid: the attested key (SPKI DER, base64), what the attestation said, and whether
   * it proved the identifier ("attested") or the profile's authorization webhook decides it ("delegated").
   */
  attestation?: { format: string; spki: string; facts: Record<string, string>; identity?: "attested" | "delegated" };
}

export interface AcmeAuthzRecord {
  id: string;
  accountId: string;
  identifier: AcmeIdentifierRecord;
  wildcard: boolean;
  status: AcmeAuthzStatus;
  expires: string;
  /** One token for all of the authorization's challenges (as Boulder does). */
  token: string;
  challenges: AcmeChallengeRecord[];
  updatedAt: string;
}

export interface AcmeEabKeyRecord {
  id: string;
  /** The base64url MAC key: needed to verify, so it is stored (the database is owner-only). */
  hmacKey: string;
  /** ACME endpoint the key is for; any when absent. */
  endpoint?: string;
  profiles: string[];
  /** DNS suffixes the bound account may order; any name the profile allows when empty. */
  nameSuffixes: string[];
  createdBy: string;
  createdAt: string;
  expiresAt?: string;
  /** The account the key was bound to (each key binds once). */
  accountId?: string;
}

export interface AcmeStore {
  /** The nonce MAC key all instances share, created on first use (never log it). */
  nonceKey(): Promise<Buffer>;
  /** Single use across instances: true the first time a (verified) nonce is claimed, false forever after. */
  claimNonce(expiresAtMs: number, id: Buffer): Promise<boolean>;
  /** Deletes at most `limit` claimed nonces that expired before `beforeMs`; returns how many. */
  purgeUsedNonces(beforeMs: number, limit: number): Promise<number>;
  /** Claimed nonces kept (tests, metrics). */
  countUsedNonces(): Promise<number>;

  insertAccount(a: AcmeAccountRecord): Promise<void>;
  getAccount(id: string): Promise<AcmeAccountRecord | undefined>;
  accountByThumbprint(thumbprint: string): Promise<AcmeAccountRecord | undefined>;
  updateAccount(id: string, f: Partial<Pick<AcmeAccountRecord, "contact" | "status" | "jwk" | "thumbprint">>): Promise<void>;

  insertOrder(o: AcmeOrderRecord): Promise<void>;
  getOrder(id: string): Promise<AcmeOrderRecord | undefined>;
  updateOrder(id: string, f: Partial<Pick<AcmeOrderRecord, "status" | "error" | "requestId" | "certSerial">>): Promise<void>;
  /** Atomically moves a ready order to processing under `requestId`, at `startedAt` (now when absent); false when another finalize won. */
  claimOrderForFinalize(id: string, requestId: string, startedAt?: string): Promise<boolean>;
  /** Ends a processing order, only if it is still processing: false when it was settled or abandoned meanwhile. */
  settleOrder(id: string, s: AcmeOrderSettlement): Promise<boolean>;
  /**
   * Abandons a finalization no instance will finish: the order, if still processing since before `startedBefore` and
   * its request missing or approved (by an operator: before `startedBefore` too), becomes invalid with `error`, and an
   * approved request becomes failed with `reason`. Both writes are conditional, so of several callers one wins (true).
   * Call it inside a transaction: both writes then commit together.
   */
  abandonFinalize(id: string, startedBefore: string, error: AcmeProblemRecord, reason: string): Promise<boolean>;
  /** The account's orders in (createdAt, id) order, after `after`: keyset paging, so a full walk lists each order once. */
  orderIdsForAccount(accountId: string, after: AcmeOrderCursor | undefined, limit: number): Promise<AcmeOrderCursor[]>;

  insertAuthz(a: AcmeAuthzRecord): Promise<void>;
  getAuthz(id: string): Promise<AcmeAuthzRecord | undefined>;
  getAuthzs(ids: string[]): Promise<AcmeAuthzRecord[]>;
  updateAuthz(id: string, f: Partial<Pick<AcmeAuthzRecord, "status" | "expires" | "challenges">>): Promise<void>;
  /** Moves a pending challenge to processing; false when it is not pending (double POST). */
  claimChallenge(id: string, type: string, challenges: AcmeChallengeRecord[], expectedUpdatedAt: string): Promise<boolean>;
  findReusableAuthz(accountId: string, identifier: AcmeIdentifierRecord, wildcard: boolean, validUntilAtLeast: string): Promise<AcmeAuthzRecord | undefined>;
  validAuthzIdentifiers(accountId: string, now: string): Promise<AcmeIdentifierRecord[]>;

  insertEabKey(k: AcmeEabKeyRecord): Promise<void>;
  getEabKey(id: string): Promise<AcmeEabKeyRecord | undefined>;
  listEabKeys(): Promise<AcmeEabKeyRecord[]>;
  /** Binds an unbound key to an account, once. */
  bindEabKey(id: string, accountId: string): Promise<boolean>;
  deleteEabKey(id: string): Promise<boolean>;
}
