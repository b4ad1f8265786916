import type Database from "better-sqlite3";
import type {
  AuditEvent, AuditQuery, CertificateQuery, CertificateRecord, CertificateStatusRow, Classification, IssuanceStage, CrlRecord, EnrollmentSecretRecord, Page, PageRequest, RequestRecord, RequestStatus, Store,
} from "../types.js";
import { migrateSqlite, openSqlite } from "./open.js";
import { SqliteAcmeStore } from "./acme.js";
import { cacheKibFor, StatementCache } from "./statements.js";
import { auditPageSql, certificatePageSql, decodeCursor, encodeCursor, fetchPage, requestPageSql } from "./listing.js";
import { GatewayError } from "../../errors.js";
import { eventHash } from "../../audit/event-hash.js";
import type { AcmeStore } from "../acme-types.js";
import type { CmpStore } from "../cmp-types.js";
import type { Synchronous } from "./facade.js";
import { SqliteDiscoveryStore } from "./discovery.js";
import type { DiscoveryStore } from "../discovery-types.js";
import { SqliteOutboxStore } from "./outbox.js";
import type { OutboxStore } from "../outbox-types.js";
import { SqliteCrlStore } from "./crl.js";
import type { CrlStore } from "../crl-types.js";
import { SqliteCmpStore } from "./cmp.js";
import { SqliteSessionStore } from "./session.js";
import { SqliteLeaseStore } from "./lease.js";
import type { LeaseStore } from "../lease-types.js";
import type { SessionStore } from "../session-types.js";
import { SqliteInventory } from "./inventory.js";
import { namesKey } from "../names.js";
import type { ArchiveBatch, InventoryStats } from "../inventory-types.js";

import { toAudit, toCert, toRequest, toSecret, type Row } from "../rows.js";

/** The Store contract's SQLite form: its sub-stores and methods, synchronous (the async face is store.ts). */
export type SyncStore = Synchronous<Omit<Store, "transaction" | SubStoreName>> & {
  readonly acme: Synchronous<AcmeStore>;
  readonly outbox: Synchronous<OutboxStore>;
  readonly discovery: Synchronous<DiscoveryStore>;
  readonly crl: Synchronous<CrlStore>;
  readonly cmp: Synchronous<CmpStore>;
  readonly sessions: Synchronous<SessionStore>;
  readonly leases: Synchronous<LeaseStore>;
};
export type SubStoreName = "acme" | "outbox" | "discovery" | "crl" | "cmp" | "sessions" | "leases";

/** The gateway's tables on one SQLite connection, answered synchronously. */
export class SqliteTables implements SyncStore {
  private readonly db: Database.Database;
  private readonly stmts: StatementCache;
  readonly acme: SqliteAcmeStore;
  readonly outbox: SqliteOutboxStore;
  readonly discovery: SqliteDiscoveryStore;
  readonly crl: SqliteCrlStore;
  readonly cmp: SqliteCmpStore;
  readonly sessions: SqliteSessionStore;
  readonly leases: SqliteLeaseStore;
  private readonly inventory: SqliteInventory;
  /** One wrapper for the appends made outside a transaction: db.transaction(fn) per call builds four new closures each time. */
  private readonly tx: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(path: string) {
    this.db = openSqlite(path);
    this.sizeCache(); // before migrating: a backfill over a large inventory gets the large cache
    migrateSqlite(this.db);
    this.stmts = new StatementCache(this.db);
    this.tx = this.db.transaction((fn: () => unknown) => fn());
    this.acme = new SqliteAcmeStore(this.db);
    this.outbox = new SqliteOutboxStore(this.db);
    this.discovery = new SqliteDiscoveryStore(this.db);
    this.crl = new SqliteCrlStore(this.db);
    this.cmp = new SqliteCmpStore(this.db);
    this.sessions = new SqliteSessionStore(this.db);
    this.leases = new SqliteLeaseStore(this.db);
    this.inventory = new SqliteInventory(this.db, this.stmts);
  }

  private st(sql: string): Database.Statement {
    return this.stmts.get(sql);
  }

  ping(): boolean {
    return (this.st("SELECT 1 AS ok").get() as Row).ok === 1;
  }

  close(): void {
    this.db.close();
  }

  /** BEGIN IMMEDIATE (the write lock now, not at the first write: no upgrade deadlock between processes). */
  begin(): void {
    if (--this.cacheCheckIn <= 0) this.sizeCache();
    this.st("BEGIN IMMEDIATE").run();
  }

  commit(): void {
    this.st("COMMIT").run();
  }

  /** Rolls back what is still open (SQLite may already have rolled back on some errors). */
  rollback(): void {
    if (this.db.inTransaction) this.st("ROLLBACK").run();
  }

  /** A nested transaction inside the open one: `name` must be unique among the open savepoints. */
  savepoint(name: string, op: "SAVEPOINT" | "RELEASE" | "ROLLBACK TO"): void {
    this.db.exec(`${op} ${name}`);
  }

  private cacheKib = 0;
  private cacheCheckIn = 0;

  /** See cacheKibFor; checked again every 4096 transactions, as the file grows. */
  private sizeCache(): void {
    this.cacheCheckIn = 4096;
    const kib = cacheKibFor(this.db);
    if (kib !== this.cacheKib) this.db.pragma(`cache_size = -${(this.cacheKib = kib)}`);
  }

  /** Raw handle for tests that must tamper with data on purpose. */
  get raw(): Database.Database {
    return this.db;
  }

  insertCertificateIntent(r: CertificateRecord): void {
    this.st(`INSERT INTO certificates (serial, ca_name, profile, protocol, request_id, requester_kind, requester_id, subject, sans,
      not_before, not_after, key_algorithm, stage, stage_detail, tbs_sha256, renewal_of, created_at, owner, application, environment, criticality, names_key)
      VALUES (@serial, @caName, @profile, @protocol, @requestId, @requesterKind, @requesterId, @subject, @sans,
      @notBefore, @notAfter, @keyAlgorithm, 'intent', NULL, @tbsSha256, @renewalOf, @createdAt, @owner, @application, @environment, @criticality, @namesKey)`).run({
      ...r, sans: JSON.stringify(r.sans), renewalOf: r.renewalOf ?? null, namesKey: namesKey(r.sans),
      owner: r.owner ?? null, application: r.application ?? null, environment: r.environment ?? null, criticality: r.criticality ?? null,
    });
  }

  completeIssuance(serial: string, der: Uint8Array): void {
    const res = this.st("UPDATE certificates SET stage = 'issued', der = ? WHERE serial = ? AND stage = 'intent'").run(Buffer.from(der), serial);
    if (res.changes !== 1) throw new Error(`certificate ${serial} was not in the intent stage`);
  }

  failIssuance(serial: string, detail: string): void {
    this.st("UPDATE certificates SET stage = 'failed', stage_detail = ? WHERE serial = ? AND stage = 'intent'").run(detail, serial);
  }

  certificateStatus(serial: string): CertificateStatusRow | undefined {
    // The archive only on a miss: OCSP still answers for a certificate retention moved out. Serials are stored
    // lowercase, as getCertificate looks them up.
    const s = serial.toLowerCase();
    const r = (this.st("SELECT ca_name, stage, revoked_at, revocation_reason FROM certificates WHERE serial = ?").get(s)
      ?? this.st("SELECT ca_name, stage, revoked_at, revocation_reason FROM certificates_archive WHERE serial = ?").get(s)) as Row | undefined;
    if (!r) return undefined;
    return { caName: r.ca_name as string, stage: r.stage as IssuanceStage, revokedAt: (r.revoked_at as string) ?? undefined, revocationReason: (r.revocation_reason as number) ?? undefined };
  }

  getCertificate(serial: string): CertificateRecord | undefined {
    // Hot table first; a certificate moved out by retention is still found, flagged archived.
    const s = serial.toLowerCase();
    const row = (this.st("SELECT * FROM certificates WHERE serial = ?").get(s) as Row | undefined) ?? this.inventory.archived(s);
    return row ? toCert(row) : undefined;
  }

  findCertificates(q: CertificateQuery): CertificateRecord[] {
    // The keyset listing's filters and order, skipped by offset: one definition of what each filter means.
    const { sql, args } = certificatePageSql(q, new Date().toISOString());
    return (this.st(`${sql} OFFSET @offset`).all({ ...args, limit: Math.min(q.limit ?? 100, 1000), offset: q.offset ?? 0 }) as Row[]).map(toCert);
  }

  pageCertificates(q: CertificateQuery, page: PageRequest): Page<CertificateRecord> {
    const before = page.cursor ? decodeCursor((sql) => this.st(sql), "c", page.cursor) : undefined;
    const p = fetchPage((sql) => this.st(sql), certificatePageSql(q, new Date().toISOString(), before), page.limit, toCert);
    const last = p.rows.at(-1);
    return { items: p.items, next: p.more && last ? encodeCursor("c", last.row_id as number, last.serial as string) : undefined };
  }

  classify(serial: string, c: { [K in keyof Classification]?: Classification[K] | null }): boolean {
    const set = (["owner", "application", "environment", "criticality"] as const).filter((k) => c[k] !== undefined);
    if (!set.length) return this.getCertificate(serial) !== undefined;
    return this.db.prepare(`UPDATE certificates SET ${set.map((k) => `${k} = @${k}`).join(", ")} WHERE serial = @serial`)
      .run({ serial, ...Object.fromEntries(set.map((k) => [k, c[k]])) }).changes === 1;
  }

  markReplaced(oldSerial: string, newSerial: string): void {
    this.st("UPDATE certificates SET replaced_by = ? WHERE serial = ?").run(newSerial, oldSerial);
  }

  revoke(serial: string, reason: number, at: string): boolean {
    return this.st("UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? AND stage = 'issued' AND revoked_at IS NULL")
      .run(at, reason, serial).changes === 1;
  }

  revokedFor(caName: string): Array<{ serial: string; revokedAt: string; reason: number }> {
    return (this.st("SELECT serial, revoked_at, revocation_reason FROM certificates WHERE ca_name = ? AND revoked_at IS NOT NULL ORDER BY revoked_at")
      .all(caName) as Row[]).map((r) => ({ serial: r.serial as string, revokedAt: r.revoked_at as string, reason: r.revocation_reason as number }));
  }

  renewalDue(profile: string, now: string, dueBefore: string, limit = 1000): CertificateRecord[] {
    // +profile: the renewal-window range (certificates_unreplaced), not every certificate of the profile.
    return (this.st(`SELECT * FROM certificates WHERE +profile = ? AND stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL
      AND not_after > ? AND not_after <= ? ORDER BY not_after LIMIT ?`).all(profile, now, dueBefore, limit) as Row[]).map(toCert);
  }

  missedRenewals(now: string, limit = 1000, profile?: string): CertificateRecord[] {
    return (this.st(`SELECT * FROM certificates WHERE stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL AND not_after <= ?
      AND (? IS NULL OR profile = ?) ORDER BY not_after DESC LIMIT ?`).all(now, profile ?? null, profile ?? null, limit) as Row[]).map(toCert);
  }

  countRenewalDue(profile: string, now: string, dueBefore: string): Array<{ owner: string; count: number }> {
    return (this.st(`SELECT coalesce(owner, '') AS owner, count(*) AS n FROM certificates WHERE +profile = ? AND stage = 'issued' AND revoked_at IS NULL
      AND replaced_by IS NULL AND not_after > ? AND not_after <= ? GROUP BY 1`).all(profile, now, dueBefore) as Row[]).map((r) => ({ owner: r.owner as string, count: r.n as number }));
  }

  countMissedRenewals(now: string): Array<{ profile: string; owner: string; count: number }> {
    return (this.st(`SELECT profile, coalesce(owner, '') AS owner, count(*) AS n FROM certificates WHERE stage = 'issued' AND revoked_at IS NULL
      AND replaced_by IS NULL AND not_after <= ? GROUP BY 1, 2`).all(now) as Row[]).map((r) => ({ profile: r.profile as string, owner: r.owner as string, count: r.n as number }));
  }

  insertNotice(serial: string, kind: string, at: string): boolean {
    return this.st("INSERT INTO lifecycle_notices (serial, kind, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").run(serial, kind, at).changes === 1;
  }

  findValidByName(entry: string, now: string, limit: number): CertificateRecord[] {
    return this.inventory.byName(entry, now, limit, "valid").map(toCert);
  }

  findHeldByName(entry: string, now: string, limit: number): CertificateRecord[] {
    return this.inventory.byName(entry, now, limit, "held").map(toCert);
  }

  archiveExpired(cutoff: string, at: string, limit: number): ArchiveBatch {
    return this.inventory.archiveExpired(cutoff, at, limit);
  }

  issuedAfter(afterSerial: string, limit: number): CertificateRecord[] {
    return (this.st("SELECT * FROM certificates WHERE stage = 'issued' AND serial > ? ORDER BY serial LIMIT ?").all(afterSerial, limit) as Row[]).map(toCert);
  }

  replaceable(requester: { kind: string; id: string }, profile: string, sans: string[], notAfter: string, now: string, exclude: string): string | undefined {
    return this.inventory.replaceable(requester, profile, namesKey(sans), notAfter, now, exclude);
  }

  certificateStats(q: { now: string; soon: string; weekStarts: string[] }): InventoryStats {
    return this.inventory.stats(q);
  }

  releaseHold(serial: string): boolean {
    return this.st("UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE serial = ? AND revocation_reason = 6").run(serial).changes === 1;
  }

  countExpiringWithin(days: number): number {
    const now = new Date();
    const until = new Date(now.getTime() + days * 86_400_000).toISOString();
    return (this.st("SELECT count(*) AS n FROM certificates WHERE stage = 'issued' AND revoked_at IS NULL AND not_after > ? AND not_after <= ?")
      .get(now.toISOString(), until) as Row).n as number;
  }

  insertRequest(r: RequestRecord): void {
    this.st(`INSERT INTO requests (id, protocol, requester_kind, requester_id, profile, status, reason, error_code, payload, certificate_serial, created_at, lookup_key)
      VALUES (@id, @protocol, @requesterKind, @requesterId, @profile, @status, @reason, @errorCode, @payload, @certificateSerial, @createdAt, @lookupKey)`).run({
      ...r, reason: r.reason ?? null, errorCode: r.errorCode ?? null, certificateSerial: r.certificateSerial ?? null, lookupKey: r.lookupKey ?? null,
    });
  }

  findRequestByLookupKey(key: string): RequestRecord | undefined {
    const row = this.st("SELECT * FROM requests WHERE lookup_key = ?").get(key) as Row | undefined;
    return row ? toRequest(row) : undefined;
  }

  getRequest(id: string): RequestRecord | undefined {
    const row = this.st("SELECT * FROM requests WHERE id = ?").get(id) as Row | undefined;
    return row ? toRequest(row) : undefined;
  }

  listRequests(status?: RequestStatus, limit = 100): RequestRecord[] {
    const rows = status
      ? this.st(`SELECT * FROM requests WHERE status = @status ${status === "pending" ? "AND status = 'pending' " : ""}ORDER BY created_at LIMIT @limit`).all({ status, limit })
      : this.st("SELECT * FROM requests ORDER BY created_at DESC LIMIT ?").all(limit);
    return (rows as Row[]).map(toRequest);
  }

  pageRequests(status: RequestStatus | undefined, page: PageRequest): Page<RequestRecord> {
    const after = page.cursor ? decodeCursor((sql) => this.st(sql), "r", page.cursor) : undefined;
    const p = fetchPage((sql) => this.st(sql), requestPageSql(status, after), page.limit, toRequest);
    const last = p.rows.at(-1);
    return { items: p.items, next: p.more && last ? encodeCursor("r", last.row_id as number, last.id as string) : undefined };
  }

  decideRequest(id: string, status: "approved" | "rejected", by: string, reason?: string): boolean {
    return this.st("UPDATE requests SET status = ?, decided_by = ?, reason = COALESCE(?, reason), decided_at = ? WHERE id = ? AND status = 'pending'")
      .run(status, by, reason ?? null, new Date().toISOString(), id).changes === 1;
  }

  updateRequest(id: string, f: Partial<Pick<RequestRecord, "status" | "reason" | "errorCode" | "certificateSerial">>): void {
    this.st(`UPDATE requests SET status = COALESCE(@status, status), reason = COALESCE(@reason, reason),
      error_code = COALESCE(@errorCode, error_code), certificate_serial = COALESCE(@certificateSerial, certificate_serial),
      lookup_key = CASE WHEN @status = 'failed' THEN NULL ELSE lookup_key END WHERE id = @id`)
      .run({ id, status: f.status ?? null, reason: f.reason ?? null, errorCode: f.errorCode ?? null, certificateSerial: f.certificateSerial ?? null });
  }

  countPending(): number {
    return (this.st("SELECT count(*) AS n FROM requests WHERE status = 'pending'").get() as Row).n as number;
  }

  appendAudit(e: Omit<AuditEvent, "seq" | "prevHash" | "hash">): AuditEvent {
    // One IMMEDIATE transaction: read the chain head and append, so concurrent writers cannot fork the chain.
    // Inside a caller's transaction the head read and the single INSERT already share it; a savepoint would
    // only add a statement journal (the engine appends inside its issuance transactions).
    const append = () => {
      const head = this.st("SELECT seq, hash FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)").get() as Row | undefined;
      const seq = head ? (head.seq as number) + 1 : 1;
      const prevHash = head ? (head.hash as string) : "0".repeat(64);
      const hash = eventHash(prevHash, seq, e);
      this.st("INSERT INTO audit_events (seq, ts, type, actor, target, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .run(seq, e.ts, e.type, e.actor, e.target ?? null, JSON.stringify(e.data), prevHash, hash);
      return { ...e, seq, prevHash, hash };
    };
    return this.db.inTransaction ? append() : (this.tx.immediate(append) as AuditEvent);
  }

  queryAudit(q: AuditQuery): AuditEvent[] {
    const where: string[] = ["seq > @after"];
    const args: Record<string, unknown> = { after: q.afterSeq ?? 0, limit: Math.min(q.limit ?? 100, 1000) };
    if (q.type) { where.push("type = @type"); args.type = q.type; }
    if (q.target) { where.push("target = @target"); args.target = q.target; }
    if (q.from) { where.push("ts >= @from"); args.from = q.from; }
    if (q.to) { where.push("ts < @to"); args.to = q.to; }
    return (this.db.prepare(`SELECT * FROM audit_events WHERE ${where.join(" AND ")} ORDER BY seq LIMIT @limit`).all(args) as Row[]).map(toAudit);
  }

  pageAudit(q: AuditQuery, page: PageRequest): Page<AuditEvent> {
    if (page.cursor !== undefined && !/^\d{1,15}$/.test(page.cursor)) throw new GatewayError("RA_ERR_MALFORMED", "an audit cursor is an event sequence number");
    const p = fetchPage((sql) => this.st(sql), auditPageSql(q, page.cursor !== undefined ? Number(page.cursor) : q.afterSeq ?? 0), page.limit, toAudit);
    return { items: p.items, next: p.more ? String(p.items.at(-1)!.seq) : undefined };
  }

  insertSecret(r: EnrollmentSecretRecord): void {
    this.st(`INSERT INTO enrollment_secrets (id, profile, subject, protocols, secret_hash, created_at, expires_at, secret_sealed)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(r.id, r.profile, r.subject ?? null, JSON.stringify(r.protocols), r.secretHash, r.createdAt, r.expiresAt, r.sealed ?? null);
  }

  redeemSecret(id: string, now: string): EnrollmentSecretRecord | undefined {
    const row = this.st("UPDATE enrollment_secrets SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ? RETURNING *")
      .get(now, id, now) as Row | undefined;
    return row ? toSecret(row) : undefined;
  }

  findSecretByHash(hash: string): EnrollmentSecretRecord | undefined {
    const row = this.st("SELECT * FROM enrollment_secrets WHERE secret_hash = ?").get(hash) as Row | undefined;
    return row ? toSecret(row) : undefined;
  }

  markChallengeUsed(hash: string, kind: string, at: string): boolean {
    return this.st("INSERT INTO used_challenges (hash, kind, used_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").run(hash, kind, at).changes === 1;
  }

  getSecret(id: string): EnrollmentSecretRecord | undefined {
    const row = this.st("SELECT * FROM enrollment_secrets WHERE id = ?").get(id) as Row | undefined;
    return row ? toSecret(row) : undefined;
  }

  insertAdminToken(id: string, name: string, hash: string): void {
    this.st("INSERT INTO admin_tokens (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)").run(id, name, hash, new Date().toISOString());
  }

  findAdminTokenByHash(hash: string): { id: string; name: string } | undefined {
    return this.st("SELECT id, name FROM admin_tokens WHERE token_hash = ?").get(hash) as { id: string; name: string } | undefined;
  }

  countAdminTokens(): number {
    return (this.st("SELECT count(*) AS n FROM admin_tokens").get() as Row).n as number;
  }

  saveCrl(r: CrlRecord): void {
    this.st("INSERT INTO crls (ca_name, number, this_update, next_update, der) VALUES (?, ?, ?, ?, ?)")
      .run(r.caName, r.number, r.thisUpdate, r.nextUpdate, Buffer.from(r.der));
  }

  latestCrl(caName: string): CrlRecord | undefined {
    const row = this.st("SELECT * FROM crls WHERE ca_name = ? ORDER BY number DESC LIMIT 1").get(caName) as Row | undefined;
    return row
      ? { caName: row.ca_name as string, number: row.number as number, thisUpdate: row.this_update as string, nextUpdate: row.next_update as string, der: new Uint8Array(row.der as Buffer) }
      : undefined;
  }

  nextCrlNumber(caName: string): number {
    return ((this.st("SELECT max(number) AS n FROM crls WHERE ca_name = ?").get(caName) as Row).n as number | null ?? 0) + 1;
  }
}
