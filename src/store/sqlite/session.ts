import type Database from "better-sqlite3";
import { StatementCache } from "./statements.js";
import type { SessionCutoffs, SessionRecord, SessionStore } from "../session-types.js";
import type { Synchronous } from "./facade.js";
import { toSession } from "../rows-protocols.js";

type Row = Record<string, unknown>;

/** Console sessions (table console_sessions, migration 12): one statement per method, one transaction for create. */
export class SqliteSessionStore implements Synchronous<SessionStore> {
  private readonly stmts: StatementCache;
  constructor(private readonly db: Database.Database) {
    this.stmts = new StatementCache(db);
  }

  private st(sql: string): Database.Statement {
    return this.stmts.get(sql);
  }

  create(s: SessionRecord, cut: SessionCutoffs, cap: number, purgeBatch: number): void {
    this.db.transaction(() => {
      this.purgeExpired(cut, purgeBatch);
      const over = this.count() - cap + 1;
      // Oldest first, as the in-memory map did: a flood of logins ends old sessions, never refuses a new one.
      if (over > 0) this.st("DELETE FROM console_sessions WHERE id_hash IN (SELECT id_hash FROM console_sessions ORDER BY created_at LIMIT ?)").run(over);
      this.st(`INSERT INTO console_sessions (id_hash, admin_id, admin_name, created_at, last_seen, expires_at)
        VALUES (@idHash, @adminId, @adminName, @createdAt, @lastSeen, @expiresAt)`).run(s);
    }).immediate();
  }

  get(idHash: string): SessionRecord | undefined {
    const r = this.st("SELECT * FROM console_sessions WHERE id_hash = ?").get(idHash) as Row | undefined;
    return r ? toSession(r) : undefined;
  }

  touch(idHash: string, at: string, ifBefore: string): boolean {
    return this.st("UPDATE console_sessions SET last_seen = @at WHERE id_hash = @idHash AND last_seen < @ifBefore AND last_seen < @at").run({ at, idHash, ifBefore }).changes === 1;
  }

  delete(idHash: string): boolean {
    return this.st("DELETE FROM console_sessions WHERE id_hash = ?").run(idHash).changes === 1;
  }

  purgeExpired(cut: SessionCutoffs, limit: number): number {
    // Bounded: each call deletes at most `limit` rows, found through the expires_at / last_seen indexes.
    return this.st(`DELETE FROM console_sessions WHERE id_hash IN
      (SELECT id_hash FROM console_sessions WHERE expires_at <= ? OR last_seen < ? LIMIT ?)`).run(cut.now, cut.idleBefore, limit).changes;
  }

  count(): number {
    return (this.st("SELECT count(*) AS n FROM console_sessions").get() as Row).n as number;
  }
}
