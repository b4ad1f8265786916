import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { BoundedMap } from "../../bounded-map.js";
import { StatementCache } from "./statements.js";
import type {
  AcmeAccountRecord, AcmeAuthzRecord, AcmeChallengeRecord, AcmeEabKeyRecord, AcmeIdentifierRecord, AcmeOrderCursor, AcmeOrderRecord,
  AcmeOrderSettlement, AcmeProblemRecord, AcmeStore,
} from "../acme-types.js";
import type { Synchronous } from "./facade.js";
import { toAccount, toAuthz, toEab, toOrder } from "../rows-acme.js";

type Row = Record<string, unknown>;

/** The ACME tables of the embedded SQLite store (migrations 2, 10 and 14). */
export class SqliteAcmeStore implements Synchronous<AcmeStore> {
  private readonly stmts: StatementCache;
  private readonly dataVersion: Database.Statement;
  constructor(private readonly db: Database.Database) {
    this.stmts = new StatementCache(db);
    this.dataVersion = db.prepare("PRAGMA data_version").pluck();
  }

  private st(sql: string): Database.Statement {
    return this.stmts.get(sql);
  }

  // Nonces are self-authenticating (protocols/acme/nonce.ts): issuing one writes nothing; redeeming one inserts it
  // here, and the primary key makes that insert the single-use check across every connection to the database.
  private macKey?: Buffer;

  nonceKey(): Buffer {
    if (this.macKey) return this.macKey;
    // Whoever inserts first wins; every instance then reads the same row back (ON CONFLICT is portable, OR IGNORE is not).
    this.st("INSERT INTO acme_nonce_keys (id, mac_key, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING")
      .run(randomBytes(32), new Date().toISOString());
    const key = this.st("SELECT mac_key FROM acme_nonce_keys WHERE id = 1").pluck().get() as Buffer;
    this.macKey = Buffer.from(key);
    return this.macKey;
  }

  claimNonce(expiresAtMs: number, id: Buffer): boolean {
    return this.st("INSERT INTO acme_used_nonces (expires_at, nonce) VALUES (?, ?) ON CONFLICT DO NOTHING").run(expiresAtMs, id).changes === 1;
  }

  purgeUsedNonces(beforeMs: number, limit: number): number {
    return this.st(`DELETE FROM acme_used_nonces WHERE (expires_at, nonce) IN
      (SELECT expires_at, nonce FROM acme_used_nonces WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`).run(beforeMs, limit).changes;
  }

  countUsedNonces(): number {
    return this.st("SELECT count(*) FROM acme_used_nonces").pluck().get() as number;
  }

  insertAccount(a: AcmeAccountRecord): void {
    this.st(`INSERT INTO acme_accounts (id, endpoint, thumbprint, jwk, status, contact, eab_key_id, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(a.id, a.endpoint, a.thumbprint, a.jwk, a.status, JSON.stringify(a.contact), a.eabKeyId ?? null, a.createdAt);
  }

  // Every signed request reads its account, and most an authorization: both are kept in memory. The ACME tables
  // change only through this class (each write drops the rows it touches) or through another connection (another
  // instance, the CLI), which moves PRAGMA data_version: any such commit empties the caches. The version is read
  // once per event-loop turn (until the next setImmediate): every store call now resolves in its own microtask, so
  // a microtask-long run would read it on each call (6 → 10 reads per ACME certificate); per turn, a request's
  // handler, which awaits only store calls between its network waits, sees the store as of one read, and a
  // deactivation or key change committed elsewhere is seen from the next turn on. Rows read inside a transaction
  // are not kept (it may roll back). Cached records are frozen: callers share them.
  static readonly ACCOUNT_CACHE_SIZE = 4096;
  static readonly AUTHZ_CACHE_SIZE = 4096;
  private readonly accounts = new BoundedMap<string, AcmeAccountRecord>(SqliteAcmeStore.ACCOUNT_CACHE_SIZE);
  private readonly authzs = new BoundedMap<string, AcmeAuthzRecord>(SqliteAcmeStore.AUTHZ_CACHE_SIZE);
  private cachedVersion: unknown;
  private versionChecked = false;
  private readonly endRun = () => {
    this.versionChecked = false;
  };

  /** Empties the caches when another connection has committed since the last look. */
  private checkVersion(): void {
    if (this.versionChecked) return;
    const version = this.dataVersion.get();
    if (version !== this.cachedVersion) {
      this.accounts.clear();
      this.authzs.clear();
      this.cachedVersion = version;
    }
    this.versionChecked = true;
    setImmediate(this.endRun);
  }

  getAccount(id: string): AcmeAccountRecord | undefined {
    this.checkVersion();
    const hit = this.accounts.get(id);
    if (hit) return hit;
    const r = this.st("SELECT * FROM acme_accounts WHERE id = ?").get(id) as Row | undefined;
    if (!r) return undefined;
    const a = toAccount(r);
    if (this.db.inTransaction) return a;
    Object.freeze(a.contact);
    this.accounts.set(id, Object.freeze(a));
    return a;
  }

  accountByThumbprint(thumbprint: string): AcmeAccountRecord | undefined {
    const r = this.st("SELECT * FROM acme_accounts WHERE thumbprint = ?").get(thumbprint) as Row | undefined;
    return r ? toAccount(r) : undefined;
  }

  updateAccount(id: string, f: Partial<Pick<AcmeAccountRecord, "contact" | "status" | "jwk" | "thumbprint">>): void {
    this.accounts.delete(id);
    this.st(`UPDATE acme_accounts SET contact = COALESCE(@contact, contact), status = COALESCE(@status, status),
      jwk = COALESCE(@jwk, jwk), thumbprint = COALESCE(@thumbprint, thumbprint) WHERE id = @id`).run({
      id, contact: f.contact ? JSON.stringify(f.contact) : null, status: f.status ?? null, jwk: f.jwk ?? null, thumbprint: f.thumbprint ?? null,
    });
  }

  insertOrder(o: AcmeOrderRecord): void {
    this.st(`INSERT INTO acme_orders (id, account_id, endpoint, status, identifiers, authz_ids, profile, not_before, not_after, expires,
      error, request_id, cert_serial, replaces, created_at, finalize_started_at) VALUES (@id, @accountId, @endpoint, @status, @identifiers,
      @authzIds, @profile, @notBefore, @notAfter, @expires, @error, @requestId, @certSerial, @replaces, @createdAt, @finalizeStartedAt)`).run({
      ...o, identifiers: JSON.stringify(o.identifiers), authzIds: JSON.stringify(o.authzIds), notBefore: o.notBefore ?? null,
      notAfter: o.notAfter ?? null, error: o.error ? JSON.stringify(o.error) : null, requestId: o.requestId ?? null,
      certSerial: o.certSerial ?? null, replaces: o.replaces ?? null, finalizeStartedAt: o.finalizeStartedAt ?? null,
    });
  }

  getOrder(id: string): AcmeOrderRecord | undefined {
    const r = this.st("SELECT * FROM acme_orders WHERE id = ?").get(id) as Row | undefined;
    return r ? toOrder(r) : undefined;
  }

  updateOrder(id: string, f: Partial<Pick<AcmeOrderRecord, "status" | "error" | "requestId" | "certSerial">>): void {
    this.st(`UPDATE acme_orders SET status = COALESCE(@status, status), error = COALESCE(@error, error),
      request_id = COALESCE(@requestId, request_id), cert_serial = COALESCE(@certSerial, cert_serial) WHERE id = @id`).run({
      id, status: f.status ?? null, error: f.error ? JSON.stringify(f.error) : null, requestId: f.requestId ?? null, certSerial: f.certSerial ?? null,
    });
  }

  claimOrderForFinalize(id: string, requestId: string, startedAt = new Date().toISOString()): boolean {
    return this.st(`UPDATE acme_orders SET status = 'processing', request_id = ?, finalize_started_at = ?
      WHERE id = ? AND status IN ('pending', 'ready')`).run(requestId, startedAt, id).changes === 1;
  }

  settleOrder(id: string, s: AcmeOrderSettlement): boolean {
    return this.st("UPDATE acme_orders SET status = ?, cert_serial = ?, error = ? WHERE id = ? AND status = 'processing'")
      .run(s.status, s.status === "valid" ? s.certSerial : null, s.status === "invalid" ? JSON.stringify(s.error) : null, id).changes === 1;
  }

  abandonFinalize(id: string, startedBefore: string, error: AcmeProblemRecord, reason: string): boolean {
    // The request's state is re-checked in the same statement: one that was issued, rejected or failed (or approved
    // by an operator only recently) meanwhile keeps the order.
    const abandoned = this.st(`UPDATE acme_orders SET status = 'invalid', error = @error
      WHERE id = @id AND status = 'processing' AND finalize_started_at < @before AND NOT EXISTS (SELECT 1 FROM requests r
        WHERE r.id = acme_orders.request_id AND (r.status <> 'approved' OR COALESCE(r.decided_at, '') >= @before))`)
      .run({ id, before: startedBefore, error: JSON.stringify(error) }).changes === 1;
    if (abandoned) {
      // As a failed request does elsewhere, it releases its retry key.
      this.st(`UPDATE requests SET status = 'failed', reason = ?, error_code = 'RA_ERR_INTERNAL', lookup_key = NULL
        WHERE id = (SELECT request_id FROM acme_orders WHERE id = ?) AND status = 'approved'`).run(reason, id);
    }
    return abandoned;
  }

  orderIdsForAccount(accountId: string, after: AcmeOrderCursor | undefined, limit: number): AcmeOrderCursor[] {
    // The row comparison continues inside a run of equal created_at, and seeks in acme_orders_account (account_id, created_at, id).
    const rows = this.st(`SELECT id, created_at FROM acme_orders WHERE account_id = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?`)
      .all(accountId, after?.createdAt ?? "", after?.id ?? "", limit) as Row[];
    return rows.map((r) => ({ id: r.id as string, createdAt: r.created_at as string }));
  }

  insertAuthz(a: AcmeAuthzRecord): void {
    this.authzs.delete(a.id);
    this.st(`INSERT INTO acme_authzs (id, account_id, identifier_type, identifier_value, wildcard, status, expires, token, challenges, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(a.id, a.accountId, a.identifier.type, a.identifier.value, a.wildcard ? 1 : 0, a.status,
      a.expires, a.token, JSON.stringify(a.challenges), a.updatedAt);
  }

  getAuthz(id: string): AcmeAuthzRecord | undefined {
    this.checkVersion();
    const hit = this.authzs.get(id);
    if (hit) return hit;
    const r = this.st("SELECT * FROM acme_authzs WHERE id = ?").get(id) as Row | undefined;
    if (!r) return undefined;
    const a = toAuthz(r);
    if (this.db.inTransaction) return a;
    Object.freeze(a.identifier);
    for (const c of a.challenges) Object.freeze(c);
    Object.freeze(a.challenges);
    this.authzs.set(id, Object.freeze(a));
    return a;
  }

  getAuthzs(ids: string[]): AcmeAuthzRecord[] {
    return ids.map((id) => this.getAuthz(id)).filter((a): a is AcmeAuthzRecord => !!a);
  }

  updateAuthz(id: string, f: Partial<Pick<AcmeAuthzRecord, "status" | "expires" | "challenges">>): void {
    this.authzs.delete(id);
    this.st(`UPDATE acme_authzs SET status = COALESCE(@status, status), expires = COALESCE(@expires, expires),
      challenges = COALESCE(@challenges, challenges), updated_at = @now WHERE id = @id`).run({
      id, status: f.status ?? null, expires: f.expires ?? null, challenges: f.challenges ? JSON.stringify(f.challenges) : null,
      now: new Date().toISOString(),
    });
  }

  claimChallenge(id: string, _type: string, challenges: AcmeChallengeRecord[], expectedUpdatedAt: string): boolean {
    this.authzs.delete(id);
    return this.st(`UPDATE acme_authzs SET challenges = ?, updated_at = ? WHERE id = ? AND status = 'pending' AND updated_at = ?`)
      .run(JSON.stringify(challenges), new Date().toISOString(), id, expectedUpdatedAt).changes === 1;
  }

  findReusableAuthz(accountId: string, identifier: AcmeIdentifierRecord, wildcard: boolean, validUntilAtLeast: string): AcmeAuthzRecord | undefined {
    const r = this.st(`SELECT * FROM acme_authzs WHERE account_id = ? AND identifier_type = ? AND identifier_value = ? AND wildcard = ?
      AND status = 'valid' AND expires > ? ORDER BY expires DESC LIMIT 1`)
      .get(accountId, identifier.type, identifier.value, wildcard ? 1 : 0, validUntilAtLeast) as Row | undefined;
    return r ? toAuthz(r) : undefined;
  }

  validAuthzIdentifiers(accountId: string, now: string): AcmeIdentifierRecord[] {
    const rows = this.st(`SELECT DISTINCT identifier_type, identifier_value, wildcard FROM acme_authzs
      WHERE account_id = ? AND status = 'valid' AND expires > ?`).all(accountId, now) as Row[];
    return rows.map((r) => ({ type: r.identifier_type as AcmeIdentifierRecord["type"], value: (r.wildcard ? "*." : "") + (r.identifier_value as string) }));
  }

  insertEabKey(k: AcmeEabKeyRecord): void {
    this.st(`INSERT INTO acme_eab_keys (id, hmac_key, endpoint, profiles, name_suffixes, created_by, created_at, expires_at, account_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`).run(k.id, k.hmacKey, k.endpoint ?? null, JSON.stringify(k.profiles),
      JSON.stringify(k.nameSuffixes), k.createdBy, k.createdAt, k.expiresAt ?? null);
  }

  getEabKey(id: string): AcmeEabKeyRecord | undefined {
    const r = this.st("SELECT * FROM acme_eab_keys WHERE id = ?").get(id) as Row | undefined;
    return r ? toEab(r) : undefined;
  }

  listEabKeys(): AcmeEabKeyRecord[] {
    return (this.st("SELECT * FROM acme_eab_keys ORDER BY created_at").all() as Row[]).map(toEab);
  }

  bindEabKey(id: string, accountId: string): boolean {
    return this.st("UPDATE acme_eab_keys SET account_id = ? WHERE id = ? AND account_id IS NULL").run(accountId, id).changes === 1;
  }

  deleteEabKey(id: string): boolean {
    return this.st("DELETE FROM acme_eab_keys WHERE id = ?").run(id).changes === 1;
  }
}
