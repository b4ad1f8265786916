import type { Protocol } from "../policy/request.js";
import type { AcmeStore } from "./acme-types.js";
import type { DiscoveryStore } from "./discovery-types.js";
import type { OutboxStore } from "./outbox-types.js";
import type { CrlStore } from "./crl-types.js";
import type { ArchiveBatch, InventoryStats } from "./inventory-types.js";
import type { CmpStore } from "./cmp-types.js";
import type { SessionStore } from "./session-types.js";
import type { LeaseStore } from "./lease-types.js";

export type IssuanceStage = "intent" | "issued" | "failed";

export interface CertificateRecord {
  serial: string; // lowercase hex, no leading 00
  caName: string;
  profile: string;
  protocol: Protocol;
  requestId: string;
  requesterKind: string;
  requesterId: string;
  subject: string;
  sans: string[]; // "dns:x", "ip:y", ...
  notBefore: string; // ISO
  notAfter: string;
  keyAlgorithm: string;
  /** Issuance cycle: "intent" = serial reserved and TBS linted, not yet signed; "issued"; "failed" (reason in stageDetail). */
  stage: IssuanceStage;
  stageDetail?: string;
  tbsSha256: string;
  der?: Uint8Array;
  renewalOf?: string;
  replacedBy?: string;
  revokedAt?: string;
  revocationReason?: number;
  createdAt: string;
  /** Inventory classification (profile defaults, the requester's attributes, the authorization webhook, the admin API). */
  owner?: string;
  application?: string;
  environment?: string;
  criticality?: Criticality;
  /** Moved out of the hot table by retention (expired longer than `retention.archiveExpiredAfterDays`); found by serial only. */
  archived?: boolean;
}

export interface CertificateStatusRow {
  caName: string;
  stage: IssuanceStage;
  revokedAt?: string;
  revocationReason?: number;
}

export type Criticality = "low" | "medium" | "high" | "critical";
export interface Classification {
  owner?: string;
  application?: string;
  environment?: string;
  criticality?: Criticality;
}

export type RequestStatus = "pending" | "approved" | "rejected" | "issued" | "failed";

export interface RequestRecord {
  id: string;
  protocol: Protocol;
  requesterKind: string;
  requesterId: string;
  profile: string;
  status: RequestStatus;
  reason?: string;
  errorCode?: string;
  /** The serialisable EnrollmentRequest (CSR base64), kept so an approval can issue later. */
  payload: string;
  certificateSerial?: string;
  decidedBy?: string;
  createdAt: string;
  decidedAt?: string;
  /**
   * A protocol's retry key (unique): a repeated request finds this record instead of making a new one.
   * Kept on pending and issued requests; a failed one releases it so the client may try again.
   */
  lookupKey?: string;
}

export interface AuditEvent {
  seq: number;
  ts: string;
  type: string;
  actor: string;
  target?: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface EnrollmentSecretRecord {
  id: string;
  profile: string;
  subject?: string;
  protocols: string[];
  secretHash: string;
  createdAt: string;
  expiresAt: string;
  usedAt?: string;
  /** CMP only: the secret sealed with the gateway's secret key (a MAC needs the secret itself, not its hash). */
  sealed?: string;
}

export interface CertificateQuery {
  status?: "valid" | "revoked" | "expired" | "intent" | "failed";
  profile?: string;
  protocol?: string;
  caName?: string;
  /** Substring of the subject or any SAN. */
  name?: string;
  expiringBefore?: string;
  owner?: string;
  application?: string;
  environment?: string;
  criticality?: string;
  /** Requester as "kind:id" (exact). */
  requester?: string;
  limit?: number;
  offset?: number;
}

/** The most rows one page of a listing holds. */
export const MAX_PAGE_SIZE = 1000;

/** One page of a listing. `next` (opaque) continues it and is absent on the last page. */
export interface Page<T> {
  items: T[];
  next?: string;
}

/** Paging input: at most `limit` (1 to 1000) rows, after `cursor` (a `next` from the page before). */
export interface PageRequest {
  cursor?: string;
  limit: number;
}

export interface CrlRecord {
  caName: string;
  number: number;
  thisUpdate: string;
  nextUpdate: string;
  der: Uint8Array;
}

export interface AuditQuery {
  type?: string;
  target?: string;
  /** ISO times: events at or after `from`, before `to`. */
  from?: string;
  to?: string;
  afterSeq?: number;
  limit?: number;
  /** pageAudit only: "desc" lists newest first, and the cursor (`afterSeq`) is then the upper bound (events before it). */
  order?: "asc" | "desc";
}

/**
 * The storage repository: one contract, two engines (src/store/sqlite/, src/store/postgres/), no SQL above it.
 * Every method is one statement or one transaction and returns a promise: PostgreSQL answers over the network;
 * SQLite answers synchronously underneath (src/store/sqlite/facade.ts).
 */
export interface Store {
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** The ACME front-end's tables. */
  readonly acme: AcmeStore;
  readonly outbox: OutboxStore;
  readonly discovery: DiscoveryStore;
  /** CRL build state: revoked rows in CRL order, rebuild markers, stored CRLs. */
  readonly crl: CrlStore;
  /** CMP transactions in flight and transactionIDs used recently (cmp-types.ts). */
  readonly cmp: CmpStore;
  /** Console sessions, shared by every instance (src/store/session-types.ts). */
  readonly sessions: SessionStore;
  /** Leases for jobs that run on one instance at a time (src/store/lease-sqlite.ts). */
  readonly leases: LeaseStore;
  /**
   * Runs `fn` in one write transaction: committed when its promise resolves, rolled back when it rejects. Every
   * call that belongs to the transaction goes through `tx` (a Store bound to it; its own `transaction` is a
   * savepoint). `fn` awaits nothing but `tx` (no network, no signing): on SQLite every other caller of the store
   * waits while it runs, and on PostgreSQL it holds a pooled connection and its row locks.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;

  insertCertificateIntent(rec: CertificateRecord): Promise<void>;
  completeIssuance(serial: string, der: Uint8Array): Promise<void>;
  failIssuance(serial: string, detail: string): Promise<void>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  /** Just what an OCSP answer needs, by primary key (no DER, no mapping): read on every OCSP request. */
  certificateStatus(serial: string): Promise<CertificateStatusRow | undefined>;
  findCertificates(q: CertificateQuery): Promise<CertificateRecord[]>;
  /**
   * Certificates matching `q` (its limit and offset aside), newest first, keyset-paged: a walk page by page
   * sees every certificate that existed when it began exactly once, whatever is issued meanwhile.
   */
  pageCertificates(q: CertificateQuery, page: PageRequest): Promise<Page<CertificateRecord>>;
  markReplaced(oldSerial: string, newSerial: string): Promise<void>;
  /** Sets the given classification fields (undefined leaves a field, null clears it). */
  classify(serial: string, c: { [K in keyof Classification]?: Classification[K] | null }): Promise<boolean>;
  revoke(serial: string, reason: number, at: string): Promise<boolean>;
  revokedFor(caName: string): Promise<Array<{ serial: string; revokedAt: string; reason: number }>>;
  countExpiringWithin(days: number): Promise<number>;
  /** Issued, unrevoked, not replaced, of `profile`, expiring in (now, dueBefore]. */
  renewalDue(profile: string, now: string, dueBefore: string, limit?: number): Promise<CertificateRecord[]>;
  /** Issued, unrevoked, not replaced, already expired: renewals that never happened. */
  missedRenewals(now: string, limit?: number, profile?: string): Promise<CertificateRecord[]>;
  /** renewalDue / missedRenewals counted by owner ("" for none), for metrics. */
  countRenewalDue(profile: string, now: string, dueBefore: string): Promise<Array<{ owner: string; count: number }>>;
  countMissedRenewals(now: string): Promise<Array<{ profile: string; owner: string; count: number }>>;
  /** Records a lifecycle notice once; false when it was already raised. */
  insertNotice(serial: string, kind: string, at: string): Promise<boolean>;
  /** Valid certificates whose SAN list holds `entry` exactly ("permanentId:X", "dns:h") or, without a kind, any kind with that value. */
  findValidByName(entry: string, now: string, limit: number): Promise<CertificateRecord[]>;
  /** Like findValidByName, for certificates on hold (reason 6) and unexpired. */
  findHeldByName(entry: string, now: string, limit: number): Promise<CertificateRecord[]>;
  /** Moves at most `limit` certificates with notAfter <= cutoff to the archive, oldest first (caller holds the transaction). */
  archiveExpired(cutoff: string, at: string, limit: number): Promise<ArchiveBatch>;
  /** Issued certificates (any status) in serial order after `afterSerial`: keyset paging, so a full walk sees each once. */
  issuedAfter(afterSerial: string, limit: number): Promise<CertificateRecord[]>;
  /** The newest valid, unreplaced certificate of a requester and profile with the same names (any order), expiring in (now, notAfter], other than `exclude`. */
  replaceable(requester: { kind: string; id: string }, profile: string, sans: string[], notAfter: string, now: string, exclude: string): Promise<string | undefined>;
  /** Counts by state, by profile and owner, and by week of expiry (the console's dashboard), aggregated by the database. */
  certificateStats(q: { now: string; soon: string; weekStarts: string[] }): Promise<InventoryStats>;
  /** Lifts a certificateHold (reason 6): the certificate is valid again. */
  releaseHold(serial: string): Promise<boolean>;

  insertRequest(rec: RequestRecord): Promise<void>;
  getRequest(id: string): Promise<RequestRecord | undefined>;
  findRequestByLookupKey(key: string): Promise<RequestRecord | undefined>;
  listRequests(status?: RequestStatus, limit?: number): Promise<RequestRecord[]>;
  /** Requests (of one status, or all) oldest first, keyset-paged like pageCertificates. */
  pageRequests(status: RequestStatus | undefined, page: PageRequest): Promise<Page<RequestRecord>>;
  /** Atomically moves a pending request to its decision; false if it was not pending. */
  decideRequest(id: string, status: "approved" | "rejected", by: string, reason?: string): Promise<boolean>;
  updateRequest(id: string, fields: Partial<Pick<RequestRecord, "status" | "reason" | "errorCode" | "certificateSerial">>): Promise<void>;
  countPending(): Promise<number>;

  /** Links `e` to the chain head (next seq, the head's hash) and hashes it with the chain's one format (eventHash). */
  appendAudit(e: Omit<AuditEvent, "seq" | "prevHash" | "hash">): Promise<AuditEvent>;
  queryAudit(q: AuditQuery): Promise<AuditEvent[]>;
  /** Audit events in sequence order after `cursor` (a sequence number; `afterSeq` when absent); `next` is the last one's. */
  pageAudit(q: AuditQuery, page: PageRequest): Promise<Page<AuditEvent>>;

  insertSecret(rec: EnrollmentSecretRecord): Promise<void>;
  /** Redeems a one-time secret atomically: returns it once, then never again. */
  redeemSecret(id: string, now: string): Promise<EnrollmentSecretRecord | undefined>;
  getSecret(id: string): Promise<EnrollmentSecretRecord | undefined>;
  /** A secret by the SHA-256 (hex) of its value: SCEP challenges carry no id. */
  findSecretByHash(hash: string): Promise<EnrollmentSecretRecord | undefined>;
  /** Records a dynamic challenge (by hash) as used: true the first time only. */
  markChallengeUsed(hash: string, kind: string, at: string): Promise<boolean>;

  insertAdminToken(id: string, name: string, hash: string): Promise<void>;
  findAdminTokenByHash(hash: string): Promise<{ id: string; name: string } | undefined>;
  countAdminTokens(): Promise<number>;

  saveCrl(rec: CrlRecord): Promise<void>;
  latestCrl(caName: string): Promise<CrlRecord | undefined>;
  nextCrlNumber(caName: string): Promise<number>;
}
