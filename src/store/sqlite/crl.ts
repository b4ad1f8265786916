import type Database from "better-sqlite3";
import type { CrlRecord } from "../types.js";
import { StatementCache } from "./statements.js";
import { RevokedCursor, CrlDirtyState, CrlMeta, CrlStore } from "../crl-types.js";
import type { Synchronous } from "./facade.js";

type Row = Record<string, unknown>;

export class SqliteCrlStore implements Synchronous<CrlStore> {
  private readonly stmts: StatementCache;
  constructor(private readonly db: Database.Database) {
    this.stmts = new StatementCache(db);
  }

  private st(sql: string): Database.Statement {
    return this.stmts.get(sql);
  }

  forEachRevoked(caName: string, after: RevokedCursor | undefined, limit: number, row: (serial: string, revokedAt: string, reason: number) => void): RevokedCursor | undefined {
    // Row values over the covering index certificates_crl (ca_name, revoked_at, serial, revocation_reason): a true
    // range seek per page, whatever the number of revocations sharing one second.
    const stmt = this.st(`SELECT serial, revoked_at, revocation_reason FROM certificates INDEXED BY certificates_crl
      WHERE ca_name = ? AND revoked_at IS NOT NULL AND (revoked_at, serial) > (?, ?) ORDER BY revoked_at, serial LIMIT ?`).raw(true);
    let n = 0;
    let serial = "";
    let at = "";
    for (const r of stmt.iterate(caName, after?.revokedAt ?? "", after?.serial ?? "", limit) as IterableIterator<[string, string, number | null]>) {
      serial = r[0];
      at = r[1];
      row(serial, at, r[2] ?? 0);
      n++;
    }
    return n === limit ? { revokedAt: at, serial } : undefined;
  }

  markDirty(caName: string, at: string): void {
    this.st(`INSERT INTO crl_state (ca_name, generation, dirty_since) VALUES (?, 1, ?)
      ON CONFLICT (ca_name) DO UPDATE SET generation = generation + 1, dirty_since = coalesce(dirty_since, excluded.dirty_since)`).run(caName, at);
  }

  state(caName: string): CrlDirtyState {
    const r = this.st("SELECT generation, dirty_since FROM crl_state WHERE ca_name = ?").get(caName) as Row | undefined;
    return { caName, generation: (r?.generation as number) ?? 0, dirtySince: (r?.dirty_since as string | null) ?? undefined };
  }

  dirty(): CrlDirtyState[] {
    return (this.st("SELECT ca_name, generation, dirty_since FROM crl_state WHERE dirty_since IS NOT NULL").all() as Row[])
      .map((r) => ({ caName: r.ca_name as string, generation: r.generation as number, dirtySince: r.dirty_since as string }));
  }

  markClean(caName: string, generation: number, buildStart: string): boolean {
    // Changes after `generation` all happened after the build began: that is when the next delay starts.
    this.st("UPDATE crl_state SET dirty_since = CASE WHEN generation = ? THEN NULL ELSE ? END WHERE ca_name = ?").run(generation, buildStart, caName);
    return this.state(caName).dirtySince === undefined;
  }

  claim(caName: string, owner: string, now: string, until: string): boolean {
    return this.db.transaction(() => {
      this.st("INSERT OR IGNORE INTO crl_state (ca_name, generation) VALUES (?, 0)").run(caName);
      return this.st(`UPDATE crl_state SET lease_owner = ?, lease_until = ?
        WHERE ca_name = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until <= ?)`).run(owner, until, caName, owner, now).changes === 1;
    }).immediate();
  }

  release(caName: string, owner: string): void {
    this.st("UPDATE crl_state SET lease_owner = NULL, lease_until = NULL WHERE ca_name = ? AND lease_owner = ?").run(caName, owner);
  }

  latestMeta(caName: string): CrlMeta | undefined {
    const r = this.st("SELECT number, this_update, next_update FROM crls WHERE ca_name = ? ORDER BY number DESC LIMIT 1").get(caName) as Row | undefined;
    return r ? { number: r.number as number, thisUpdate: r.this_update as string, nextUpdate: r.next_update as string } : undefined;
  }

  latest(caName: string): CrlRecord | undefined {
    const r = this.st("SELECT * FROM crls WHERE ca_name = ? ORDER BY number DESC LIMIT 1").get(caName) as Row | undefined;
    return r ? { caName, number: r.number as number, thisUpdate: r.this_update as string, nextUpdate: r.next_update as string, der: r.der as Buffer } : undefined;
  }

  /**
   * Above every stored number and never below the current time in milliseconds: numbers stay increasing (RFC 5280
   * 5.2.3) even after restoring a backup older than CRLs already published (those were numbered at most by their own
   * build time, and a build takes well over a millisecond). Gaps are allowed; ms since 1970 fit 2^53 and 20 octets.
   */
  nextNumber(caName: string, nowMs = Date.now()): number {
    const stored = ((this.st("SELECT max(number) AS n FROM crls WHERE ca_name = ?").get(caName) as Row).n as number | null) ?? 0;
    return Math.max(stored + 1, nowMs);
  }

  save(rec: CrlRecord, keep: number): void {
    const der = Buffer.from(rec.der.buffer, rec.der.byteOffset, rec.der.byteLength); // no copy of a large CRL
    this.db.transaction(() => {
      this.st("INSERT INTO crls (ca_name, number, this_update, next_update, der) VALUES (?, ?, ?, ?, ?)").run(rec.caName, rec.number, rec.thisUpdate, rec.nextUpdate, der);
      // The newest `keep` by rank: numbers are not consecutive.
      this.st(`DELETE FROM crls WHERE ca_name = ? AND number < (SELECT min(number) FROM
        (SELECT number FROM crls WHERE ca_name = ? ORDER BY number DESC LIMIT ?))`).run(rec.caName, rec.caName, keep);
    }).immediate();
  }
}
