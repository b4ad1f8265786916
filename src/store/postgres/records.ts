import { GatewayError } from "../../errors.js";
import type { AuditEvent, AuditQuery, CrlRecord, EnrollmentSecretRecord, Page, PageRequest, RequestRecord, RequestStatus } from "../types.js";
import { toAudit, toRequest, toSecret } from "../rows.js";
import { exec, q, type Row } from "./db.js";
import { eventHash, eventHashParts } from "../../audit/event-hash.js";
import { auditPageSql, decodeCursor, encodeCursor, fetchPage, requestPageSql } from "./listing.js";
import { buf, PgCertificateTables } from "./certificates.js";

type AuditInput = Omit<AuditEvent, "seq" | "prevHash" | "hash">;

/** Requests, audit, one-time secrets, admin tokens and stored CRLs on PostgreSQL: SqliteTables' statements and conditions. */
export class PgRecordTables extends PgCertificateTables {
  async insertRequest(r: RequestRecord): Promise<void> {
    await exec(this.c, "req_insert", `INSERT INTO requests (id, protocol, requester_kind, requester_id, profile, status, reason, error_code, payload,
      certificate_serial, created_at, lookup_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [r.id, r.protocol, r.requesterKind, r.requesterId, r.profile, r.status, r.reason ?? null, r.errorCode ?? null, r.payload,
      r.certificateSerial ?? null, r.createdAt, r.lookupKey ?? null]);
  }

  async findRequestByLookupKey(key: string): Promise<RequestRecord | undefined> {
    const row = (await q(this.c, "req_by_lookup_key", "SELECT * FROM requests WHERE lookup_key = $1", [key]))[0];
    return row ? toRequest(row) : undefined;
  }

  async getRequest(id: string): Promise<RequestRecord | undefined> {
    const row = (await q(this.c, "req_get", "SELECT * FROM requests WHERE id = $1", [id]))[0];
    return row ? toRequest(row) : undefined;
  }

  async listRequests(status?: RequestStatus, limit = 100): Promise<RequestRecord[]> {
    // The pending queue spelled out literally, so the planner can use the partial index requests_pending.
    const rows = status === "pending"
      ? await q(this.c, "req_list_pending", "SELECT * FROM requests WHERE status = 'pending' ORDER BY created_at LIMIT $1", [limit])
      : status
        ? await q(this.c, "req_list_status", "SELECT * FROM requests WHERE status = $1 ORDER BY created_at LIMIT $2", [status, limit])
        : await q(this.c, "req_list", "SELECT * FROM requests ORDER BY created_at DESC LIMIT $1", [limit]);
    return rows.map(toRequest);
  }

  async pageRequests(status: RequestStatus | undefined, page: PageRequest): Promise<Page<RequestRecord>> {
    const after = page.cursor ? await decodeCursor(this.c, "r", page.cursor) : undefined;
    const p = await fetchPage(this.c, requestPageSql(status, after), page.limit, toRequest);
    const last = p.rows.at(-1);
    return { items: p.items, next: p.more && last ? encodeCursor("r", last.row_id as number, last.id as string) : undefined };
  }

  async decideRequest(id: string, status: "approved" | "rejected", by: string, reason?: string): Promise<boolean> {
    return (await exec(this.c, "req_decide", `UPDATE requests SET status = $1, decided_by = $2, reason = COALESCE($3, reason), decided_at = $4
      WHERE id = $5 AND status = 'pending'`, [status, by, reason ?? null, new Date().toISOString(), id])) === 1;
  }

  async updateRequest(id: string, f: Partial<Pick<RequestRecord, "status" | "reason" | "errorCode" | "certificateSerial">>): Promise<void> {
    // A failed request releases its lookup key, so the client may try again with the same retry key.
    await exec(this.c, "req_update", `UPDATE requests SET status = COALESCE($2::text, status), reason = COALESCE($3::text, reason),
      error_code = COALESCE($4::text, error_code), certificate_serial = COALESCE($5::text, certificate_serial),
      lookup_key = CASE WHEN $2::text = 'failed' THEN NULL ELSE lookup_key END WHERE id = $1`,
    [id, f.status ?? null, f.reason ?? null, f.errorCode ?? null, f.certificateSerial ?? null]);
  }

  async countPending(): Promise<number> {
    return (await q<Row>(this.c, "req_count_pending", "SELECT count(*) AS n FROM requests WHERE status = 'pending'"))[0].n as number;
  }

  /**
   * Appends to the one chain all instances share, in one round trip: gw_audit_append() (schema-audit-append.ts)
   * takes the transaction-scoped chain lock, links, hashes and inserts. The lock is held until the transaction
   * ends, so the next appender (any instance) reads this event as its head. Outside a transaction the statement
   * is its own (the lock ends with it).
   */
  async appendAudit(e: AuditInput): Promise<AuditEvent> {
    const { head, tail } = eventHashParts(e);
    const r = (await q<{ o_seq: number; o_prev: string; o_hash: string }>(this.c, "audit_append",
      "SELECT o_seq, o_prev, o_hash FROM gw_audit_append($1, $2, $3, $4, $5, $6, $7)",
      [e.ts, e.type, e.actor, e.target ?? null, JSON.stringify(e.data), head, tail]))[0];
    // The database hashed the text it received as UTF-8: a mismatch (a non-UTF8 database) must not enter the chain.
    if (eventHash(r.o_prev, r.o_seq, e) !== r.o_hash) {
      throw new GatewayError("RA_ERR_INTERNAL", "the database computed a different audit hash (is the database encoding UTF8?)", { seq: r.o_seq });
    }
    return { ...e, seq: r.o_seq, prevHash: r.o_prev, hash: r.o_hash };
  }

  async queryAudit(f: AuditQuery): Promise<AuditEvent[]> {
    const s = auditPageSql(f, f.afterSeq ?? 0);
    return (await q(this.c, undefined, s.sql, [...s.values, Math.min(f.limit ?? 100, 1000)])).map(toAudit);
  }

  async pageAudit(f: AuditQuery, page: PageRequest): Promise<Page<AuditEvent>> {
    if (page.cursor !== undefined && !/^\d{1,15}$/.test(page.cursor)) throw new GatewayError("RA_ERR_MALFORMED", "an audit cursor is an event sequence number");
    const p = await fetchPage(this.c, auditPageSql(f, page.cursor !== undefined ? Number(page.cursor) : f.afterSeq ?? 0), page.limit, toAudit);
    return { items: p.items, next: p.more ? String(p.items.at(-1)!.seq) : undefined };
  }

  async insertSecret(r: EnrollmentSecretRecord): Promise<void> {
    await exec(this.c, "secret_insert", `INSERT INTO enrollment_secrets (id, profile, subject, protocols, secret_hash, created_at, expires_at, secret_sealed)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [r.id, r.profile, r.subject ?? null, JSON.stringify(r.protocols), r.secretHash, r.createdAt, r.expiresAt, r.sealed ?? null]);
  }

  async redeemSecret(id: string, now: string): Promise<EnrollmentSecretRecord | undefined> {
    // One conditional UPDATE: of two instances redeeming at once, the second re-checks used_at after the first commits.
    const row = (await q(this.c, "secret_redeem", `UPDATE enrollment_secrets SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $1
      RETURNING *`, [now, id]))[0];
    return row ? toSecret(row) : undefined;
  }

  async findSecretByHash(hash: string): Promise<EnrollmentSecretRecord | undefined> {
    const row = (await q(this.c, "secret_by_hash", "SELECT * FROM enrollment_secrets WHERE secret_hash = $1", [hash]))[0];
    return row ? toSecret(row) : undefined;
  }

  async markChallengeUsed(hash: string, kind: string, at: string): Promise<boolean> {
    return (await exec(this.c, "challenge_mark_used", "INSERT INTO used_challenges (hash, kind, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [hash, kind, at])) === 1;
  }

  async getSecret(id: string): Promise<EnrollmentSecretRecord | undefined> {
    const row = (await q(this.c, "secret_get", "SELECT * FROM enrollment_secrets WHERE id = $1", [id]))[0];
    return row ? toSecret(row) : undefined;
  }

  async insertAdminToken(id: string, name: string, hash: string): Promise<void> {
    await exec(this.c, "token_insert", "INSERT INTO admin_tokens (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)", [id, name, hash, new Date().toISOString()]);
  }

  async findAdminTokenByHash(hash: string): Promise<{ id: string; name: string } | undefined> {
    return (await q<{ id: string; name: string }>(this.c, "token_by_hash", "SELECT id, name FROM admin_tokens WHERE token_hash = $1", [hash]))[0];
  }

  async countAdminTokens(): Promise<number> {
    return (await q<Row>(this.c, "token_count", "SELECT count(*) AS n FROM admin_tokens"))[0].n as number;
  }

  async saveCrl(r: CrlRecord): Promise<void> {
    await exec(this.c, "core_crl_insert", "INSERT INTO crls (ca_name, number, this_update, next_update, der) VALUES ($1, $2, $3, $4, $5)",
      [r.caName, r.number, r.thisUpdate, r.nextUpdate, buf(r.der)]);
  }

  async latestCrl(caName: string): Promise<CrlRecord | undefined> {
    const row = (await q(this.c, "core_crl_latest", "SELECT * FROM crls WHERE ca_name = $1 ORDER BY number DESC LIMIT 1", [caName]))[0];
    return row
      ? { caName: row.ca_name as string, number: row.number as number, thisUpdate: row.this_update as string, nextUpdate: row.next_update as string, der: new Uint8Array(row.der as Buffer) }
      : undefined;
  }

  /**
   * One above the highest stored number, as SqliteTables.nextCrlNumber (the CRL builder numbers by crl.nextNumber,
   * which also keeps numbers above the time in ms); two racing saves of one number collide on (ca_name, number).
   */
  async nextCrlNumber(caName: string): Promise<number> {
    return ((await q<{ n: number | null }>(this.c, "core_crl_max_number", "SELECT max(number) AS n FROM crls WHERE ca_name = $1", [caName]))[0]?.n ?? 0) + 1;
  }
}
