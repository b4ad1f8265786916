import { randomBytes } from "node:crypto";
import type {
  AcmeAccountRecord, AcmeAuthzRecord, AcmeChallengeRecord, AcmeEabKeyRecord, AcmeIdentifierRecord, AcmeOrderCursor, AcmeOrderRecord,
  AcmeOrderSettlement, AcmeProblemRecord, AcmeStore,
} from "../acme-types.js";
import { toAccount, toAuthz, toEab, toOrder } from "../rows-acme.js";
import { exec, q, type Queryable, type Row } from "./db.js";

/**
 * The ACME tables on PostgreSQL (schema-protocols.ts). Every one-time step is one conditional statement, so it holds
 * across gateway instances: a nonce is claimed by the primary key of its insert, a finalize or a challenge by a
 * conditional UPDATE, an EAB key binds by `account_id IS NULL`. No row cache (SQLite's cache keys on PRAGMA
 * data_version, which has no equivalent here): every read goes to the database.
 */
export class PgAcmeStore implements AcmeStore {
  /** The shared MAC key never changes once created: kept after the first read. */
  private macKey?: Buffer;

  constructor(private readonly c: Queryable) {}

  async nonceKey(): Promise<Buffer> {
    if (this.macKey) return this.macKey;
    // Whoever inserts first wins; ON CONFLICT waits for a concurrent inserter's commit, so the read sees its row.
    await exec(this.c, undefined, "INSERT INTO acme_nonce_keys (id, mac_key, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
      [randomBytes(32), new Date().toISOString()]);
    const rows = await q<{ mac_key: Buffer }>(this.c, undefined, "SELECT mac_key FROM acme_nonce_keys WHERE id = 1");
    this.macKey = Buffer.from(rows[0].mac_key);
    return this.macKey;
  }

  async claimNonce(expiresAtMs: number, id: Buffer): Promise<boolean> {
    return (await exec(this.c, "acme_claim_nonce", "INSERT INTO acme_used_nonces (expires_at, nonce) VALUES ($1, $2) ON CONFLICT DO NOTHING",
      [expiresAtMs, id])) === 1;
  }

  async purgeUsedNonces(beforeMs: number, limit: number): Promise<number> {
    // SKIP LOCKED: two instances purging at once split the work instead of waiting on each other's rows.
    return exec(this.c, "acme_purge_nonces", `DELETE FROM acme_used_nonces WHERE (expires_at, nonce) IN
      (SELECT expires_at, nonce FROM acme_used_nonces WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, [beforeMs, limit]);
  }

  async countUsedNonces(): Promise<number> {
    return (await q<{ n: number }>(this.c, undefined, "SELECT count(*) AS n FROM acme_used_nonces"))[0].n;
  }

  async insertAccount(a: AcmeAccountRecord): Promise<void> {
    await exec(this.c, "acme_insert_account", `INSERT INTO acme_accounts (id, endpoint, thumbprint, jwk, status, contact, eab_key_id, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [a.id, a.endpoint, a.thumbprint, a.jwk, a.status, JSON.stringify(a.contact), a.eabKeyId ?? null, a.createdAt]);
  }

  async getAccount(id: string): Promise<AcmeAccountRecord | undefined> {
    const r = await q(this.c, "acme_get_account", "SELECT * FROM acme_accounts WHERE id = $1", [id]);
    return r.length ? toAccount(r[0]) : undefined;
  }

  async accountByThumbprint(thumbprint: string): Promise<AcmeAccountRecord | undefined> {
    const r = await q(this.c, "acme_account_by_thumbprint", "SELECT * FROM acme_accounts WHERE thumbprint = $1", [thumbprint]);
    return r.length ? toAccount(r[0]) : undefined;
  }

  async updateAccount(id: string, f: Partial<Pick<AcmeAccountRecord, "contact" | "status" | "jwk" | "thumbprint">>): Promise<void> {
    await exec(this.c, "acme_update_account", `UPDATE acme_accounts SET contact = COALESCE($2, contact), status = COALESCE($3, status),
      jwk = COALESCE($4, jwk), thumbprint = COALESCE($5, thumbprint) WHERE id = $1`,
    [id, f.contact ? JSON.stringify(f.contact) : null, f.status ?? null, f.jwk ?? null, f.thumbprint ?? null]);
  }

  async insertOrder(o: AcmeOrderRecord): Promise<void> {
    await exec(this.c, "acme_insert_order", `INSERT INTO acme_orders (id, account_id, endpoint, status, identifiers, authz_ids, profile, not_before,
      not_after, expires, error, request_id, cert_serial, replaces, created_at, finalize_started_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
    [o.id, o.accountId, o.endpoint, o.status, JSON.stringify(o.identifiers), JSON.stringify(o.authzIds), o.profile, o.notBefore ?? null,
      o.notAfter ?? null, o.expires, o.error ? JSON.stringify(o.error) : null, o.requestId ?? null, o.certSerial ?? null, o.replaces ?? null, o.createdAt,
      o.finalizeStartedAt ?? null]);
  }

  async getOrder(id: string): Promise<AcmeOrderRecord | undefined> {
    const r = await q(this.c, "acme_get_order", "SELECT * FROM acme_orders WHERE id = $1", [id]);
    return r.length ? toOrder(r[0]) : undefined;
  }

  async updateOrder(id: string, f: Partial<Pick<AcmeOrderRecord, "status" | "error" | "requestId" | "certSerial">>): Promise<void> {
    await exec(this.c, "acme_update_order", `UPDATE acme_orders SET status = COALESCE($2, status), error = COALESCE($3, error),
      request_id = COALESCE($4, request_id), cert_serial = COALESCE($5, cert_serial) WHERE id = $1`,
    [id, f.status ?? null, f.error ? JSON.stringify(f.error) : null, f.requestId ?? null, f.certSerial ?? null]);
  }

  async claimOrderForFinalize(id: string, requestId: string, startedAt = new Date().toISOString()): Promise<boolean> {
    // A concurrent claimer waits on the row lock, then re-checks the status of the committed row and changes nothing.
    return (await exec(this.c, "acme_claim_finalize", `UPDATE acme_orders SET status = 'processing', request_id = $1, finalize_started_at = $2
      WHERE id = $3 AND status IN ('pending', 'ready')`, [requestId, startedAt, id])) === 1;
  }

  async settleOrder(id: string, s: AcmeOrderSettlement): Promise<boolean> {
    return (await exec(this.c, "acme_settle_order", "UPDATE acme_orders SET status = $2, cert_serial = $3, error = $4 WHERE id = $1 AND status = 'processing'",
      [id, s.status, s.status === "valid" ? s.certSerial : null, s.status === "invalid" ? JSON.stringify(s.error) : null])) === 1;
  }

  async abandonFinalize(id: string, startedBefore: string, error: AcmeProblemRecord, reason: string): Promise<boolean> {
    // The request's state is re-checked in the same statement: one that was issued, rejected or failed (or approved
    // by an operator only recently) meanwhile keeps the order. A concurrent abandoner waits on the row lock and then
    // finds the order no longer processing.
    const abandoned = (await exec(this.c, "acme_abandon_order", `UPDATE acme_orders SET status = 'invalid', error = $3
      WHERE id = $1 AND status = 'processing' AND finalize_started_at < $2 AND NOT EXISTS (SELECT 1 FROM requests r
        WHERE r.id = acme_orders.request_id AND (r.status <> 'approved' OR COALESCE(r.decided_at, '') >= $2))`,
    [id, startedBefore, JSON.stringify(error)])) === 1;
    if (abandoned) {
      // As a failed request does elsewhere, it releases its retry key.
      await exec(this.c, "acme_abandon_request", `UPDATE requests SET status = 'failed', reason = $2, error_code = 'RA_ERR_INTERNAL', lookup_key = NULL
        WHERE id = (SELECT request_id FROM acme_orders WHERE id = $1) AND status = 'approved'`, [id, reason]);
    }
    return abandoned;
  }

  async orderIdsForAccount(accountId: string, after: AcmeOrderCursor | undefined, limit: number): Promise<AcmeOrderCursor[]> {
    // The row comparison continues inside a run of equal created_at, and is an index condition on acme_orders_account.
    const rows = await q(this.c, "acme_order_ids", `SELECT id, created_at FROM acme_orders WHERE account_id = $1 AND (created_at, id) > ($2, $3)
      ORDER BY created_at, id LIMIT $4`, [accountId, after?.createdAt ?? "", after?.id ?? "", limit]);
    return rows.map((r) => ({ id: r.id as string, createdAt: r.created_at as string }));
  }

  async insertAuthz(a: AcmeAuthzRecord): Promise<void> {
    await exec(this.c, "acme_insert_authz", `INSERT INTO acme_authzs (id, account_id, identifier_type, identifier_value, wildcard, status, expires,
      token, challenges, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, [a.id, a.accountId, a.identifier.type, a.identifier.value,
      a.wildcard ? 1 : 0, a.status, a.expires, a.token, JSON.stringify(a.challenges), a.updatedAt]);
  }

  async getAuthz(id: string): Promise<AcmeAuthzRecord | undefined> {
    const r = await q(this.c, "acme_get_authz", "SELECT * FROM acme_authzs WHERE id = $1", [id]);
    return r.length ? toAuthz(r[0]) : undefined;
  }

  async getAuthzs(ids: string[]): Promise<AcmeAuthzRecord[]> {
    if (!ids.length) return [];
    // One round trip for the order's authorizations, returned in the order asked (missing ones left out).
    const rows = await q(this.c, "acme_get_authzs", "SELECT * FROM acme_authzs WHERE id = ANY($1::text[])", [ids]);
    const byId = new Map<string, Row>();
    for (const r of rows) byId.set(r.id as string, r);
    const out: AcmeAuthzRecord[] = [];
    for (const id of ids) {
      const r = byId.get(id);
      if (r) out.push(toAuthz(r));
    }
    return out;
  }

  async updateAuthz(id: string, f: Partial<Pick<AcmeAuthzRecord, "status" | "expires" | "challenges">>): Promise<void> {
    await exec(this.c, "acme_update_authz", `UPDATE acme_authzs SET status = COALESCE($2, status), expires = COALESCE($3, expires),
      challenges = COALESCE($4, challenges), updated_at = $5 WHERE id = $1`,
    [id, f.status ?? null, f.expires ?? null, f.challenges ? JSON.stringify(f.challenges) : null, new Date().toISOString()]);
  }

  async claimChallenge(id: string, _type: string, challenges: AcmeChallengeRecord[], expectedUpdatedAt: string): Promise<boolean> {
    return (await exec(this.c, "acme_claim_challenge", `UPDATE acme_authzs SET challenges = $1, updated_at = $2
      WHERE id = $3 AND status = 'pending' AND updated_at = $4`, [JSON.stringify(challenges), new Date().toISOString(), id, expectedUpdatedAt])) === 1;
  }

  async findReusableAuthz(accountId: string, identifier: AcmeIdentifierRecord, wildcard: boolean, validUntilAtLeast: string): Promise<AcmeAuthzRecord | undefined> {
    const r = await q(this.c, "acme_reusable_authz", `SELECT * FROM acme_authzs WHERE account_id = $1 AND identifier_type = $2 AND identifier_value = $3
      AND wildcard = $4 AND status = 'valid' AND expires > $5 ORDER BY expires DESC LIMIT 1`,
    [accountId, identifier.type, identifier.value, wildcard ? 1 : 0, validUntilAtLeast]);
    return r.length ? toAuthz(r[0]) : undefined;
  }

  async validAuthzIdentifiers(accountId: string, now: string): Promise<AcmeIdentifierRecord[]> {
    const rows = await q(this.c, "acme_valid_identifiers", `SELECT DISTINCT identifier_type, identifier_value, wildcard FROM acme_authzs
      WHERE account_id = $1 AND status = 'valid' AND expires > $2`, [accountId, now]);
    return rows.map((r) => ({ type: r.identifier_type as AcmeIdentifierRecord["type"], value: (r.wildcard ? "*." : "") + (r.identifier_value as string) }));
  }

  async insertEabKey(k: AcmeEabKeyRecord): Promise<void> {
    await exec(this.c, undefined, `INSERT INTO acme_eab_keys (id, hmac_key, endpoint, profiles, name_suffixes, created_by, created_at, expires_at, account_id)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)`, [k.id, k.hmacKey, k.endpoint ?? null, JSON.stringify(k.profiles),
      JSON.stringify(k.nameSuffixes), k.createdBy, k.createdAt, k.expiresAt ?? null]);
  }

  async getEabKey(id: string): Promise<AcmeEabKeyRecord | undefined> {
    const r = await q(this.c, "acme_get_eab", "SELECT * FROM acme_eab_keys WHERE id = $1", [id]);
    return r.length ? toEab(r[0]) : undefined;
  }

  async listEabKeys(): Promise<AcmeEabKeyRecord[]> {
    return (await q(this.c, undefined, "SELECT * FROM acme_eab_keys ORDER BY created_at")).map(toEab);
  }

  async bindEabKey(id: string, accountId: string): Promise<boolean> {
    return (await exec(this.c, "acme_bind_eab", "UPDATE acme_eab_keys SET account_id = $1 WHERE id = $2 AND account_id IS NULL", [accountId, id])) === 1;
  }

  async deleteEabKey(id: string): Promise<boolean> {
    return (await exec(this.c, undefined, "DELETE FROM acme_eab_keys WHERE id = $1", [id])) === 1;
  }
}
