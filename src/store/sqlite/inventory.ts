import { namesKey, nameSelector } from "../names.js";
import type Database from "better-sqlite3";
import type { StatementCache } from "./statements.js";
import type { ArchiveBatch, InventoryStats } from "../inventory-types.js";

/**
 * Inventory queries whose cost must not grow with the inventory or with one requester's history:
 * each is an index search bounded by what it returns (EXPLAIN QUERY PLAN pinned in
 * test/store/inventory-plans.test.ts). Schema: migration 7.
 */

type Row = Record<string, unknown>;

/** SQL functions the migrations call; registered on the connection before migrating. */
export function registerInventoryFunctions(db: Database.Database): void {
  db.function("gw_names_key", { deterministic: true }, (sans: unknown) => namesKey(JSON.parse(String(sans)) as string[]));
}

export class SqliteInventory {
  private archiveColumns?: string;

  constructor(private readonly db: Database.Database, private readonly stmts: StatementCache) {}

  private st(sql: string): Database.Statement {
    return this.stmts.get(sql);
  }

  /** The newest issued, unrevoked, unreplaced certificate of requester + profile + names expiring in (now, notAfter], other than `exclude`. */
  replaceable(requester: { kind: string; id: string }, profile: string, key: string, notAfter: string, now: string, exclude: string): string | undefined {
    const row = this.st(`SELECT serial FROM certificates WHERE requester_kind = ? AND requester_id = ? AND profile = ? AND names_key = ?
      AND stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL AND not_after > ? AND not_after <= ? AND serial <> ?
      ORDER BY not_after DESC LIMIT 1`).get(requester.kind, requester.id, profile, key, now, notAfter, exclude) as Row | undefined;
    return row?.serial as string | undefined;
  }

  /** Certificates holding a name, valid (issued, unrevoked, unexpired) or on hold and unexpired: found through certificate_names. */
  byName(entry: string, now: string, limit: number, state: "valid" | "held"): Row[] {
    const { value, kind } = nameSelector(entry);
    const status = state === "valid" ? "c.revoked_at IS NULL" : "c.revocation_reason = 6";
    return this.st(`SELECT c.* FROM certificate_names n JOIN certificates c ON c.serial = n.serial
      WHERE n.value = @value AND (@kind IS NULL OR n.kind = @kind) AND c.stage = 'issued' AND ${status} AND c.not_after > @now LIMIT @limit`)
      .all({ value, kind, now, limit }) as Row[];
  }

  /** A certificate moved to the archive, by serial (its row carries archived_at). */
  archived(serial: string): Row | undefined {
    return this.st("SELECT * FROM certificates_archive WHERE serial = ?").get(serial) as Row | undefined;
  }

  /**
   * Moves at most `limit` certificates whose notAfter is at or before `cutoff` from the hot table to the
   * archive, oldest first; their lifecycle notices go (nothing announces an archived certificate again).
   * The caller holds the transaction.
   */
  archiveExpired(cutoff: string, at: string, limit: number): ArchiveBatch {
    const rows = this.st("SELECT rowid AS id, serial, not_after FROM certificates WHERE not_after <= ? ORDER BY not_after LIMIT ?").all(cutoff, limit) as Row[];
    if (!rows.length) return { count: 0 };
    const ids = JSON.stringify(rows.map((r) => r.id));
    const cols = this.columns();
    this.st(`INSERT INTO certificates_archive (${cols}, archived_at) SELECT ${cols}, ? FROM certificates WHERE rowid IN (SELECT value FROM json_each(?))`).run(at, ids);
    this.st("DELETE FROM lifecycle_notices WHERE serial IN (SELECT value FROM json_each(?))").run(JSON.stringify(rows.map((r) => r.serial)));
    const moved = this.st("DELETE FROM certificates WHERE rowid IN (SELECT value FROM json_each(?))").run(ids).changes;
    if (moved !== rows.length) throw new Error(`archive moved ${moved} of ${rows.length} certificates`);
    return { count: rows.length, from: rows[0].not_after as string, to: rows.at(-1)!.not_after as string };
  }

  /**
   * The columns both tables have. A column added to certificates must be added to certificates_archive in the
   * same migration (test/store/retention.test.ts checks); until then it is not carried over.
   */
  private columns(): string {
    if (!this.archiveColumns) {
      const names = (t: string) => (this.db.prepare(`SELECT name FROM pragma_table_info('${t}')`).all() as Array<{ name: string }>).map((r) => r.name);
      const archive = new Set(names("certificates_archive"));
      this.archiveColumns = names("certificates").filter((c) => archive.has(c)).join(", ");
    }
    return this.archiveColumns;
  }

  /** The dashboard's figures, aggregated in SQL: no certificate is read into memory. */
  stats(q: { now: string; soon: string; weekStarts: string[] }): InventoryStats {
    const n = (sql: string, ...args: unknown[]) => Number((this.st(sql).get(...args) as Row).n ?? 0);
    const valid = n("SELECT count(*) AS n FROM certificates WHERE stage = 'issued' AND revoked_at IS NULL AND not_after > ?", q.now);
    const expired = n("SELECT count(*) AS n FROM certificates WHERE stage = 'issued' AND revoked_at IS NULL AND not_after <= ?", q.now);
    const revoked = n("SELECT count(*) AS n FROM certificates WHERE stage = 'issued' AND revoked_at IS NOT NULL");
    const groups = (this.st(`SELECT profile, coalesce(owner, '') AS owner, count(*) AS n, sum(not_after <= ?) AS soon FROM certificates
      WHERE stage = 'issued' AND revoked_at IS NULL AND not_after > ? GROUP BY 1, 2`).all(q.soon, q.now) as Row[])
      .map((r) => ({ profile: r.profile as string, owner: r.owner as string, valid: Number(r.n), expiringSoon: Number(r.soon ?? 0) }));
    // One range count per week: the same boundaries as the ISO strings the inventory stores.
    const expiringByWeek = q.weekStarts.slice(0, -1).map((from, i) => n(`SELECT count(*) AS n FROM certificates
      WHERE not_after >= ? AND not_after < ? AND not_after > ? AND stage = 'issued' AND revoked_at IS NULL`, from, q.weekStarts[i + 1], q.now));
    return { valid, revoked, expired, groups, expiringByWeek };
  }
}
