import pg from "pg";
import type { SessionCutoffs, SessionRecord, SessionStore } from "../session-types.js";
import { toSession } from "../rows-protocols.js";
import { exec, inTransaction, q, type Queryable } from "./db.js";

/** Transaction-scoped advisory lock serializing session creation across instances (the cap is a count). */
const CREATE_LOCK = 0x67777373; // "gwss" (migrations: "gwmg", audit chain: "gwau")

/** Console sessions on PostgreSQL (table console_sessions): one statement per method, one transaction for create. */
export class PgSessionStore implements SessionStore {
  constructor(private readonly c: Queryable) {}

  async create(s: SessionRecord, cut: SessionCutoffs, cap: number, purgeBatch: number): Promise<void> {
    const run = async (c: Queryable) => {
      // SQLite's IMMEDIATE transaction makes purge, count and insert one step; here the lock does, so two
      // logins on two instances cannot both see room for one more session.
      await q(c, "session_lock", "SELECT pg_advisory_xact_lock($1)", [CREATE_LOCK]);
      const tx = new PgSessionStore(c);
      await tx.purgeExpired(cut, purgeBatch);
      const over = (await tx.count()) - cap + 1;
      // Oldest first, as the in-memory map did: a flood of logins ends old sessions, never refuses a new one.
      if (over > 0) {
        await exec(c, undefined, "DELETE FROM console_sessions WHERE id_hash IN (SELECT id_hash FROM console_sessions ORDER BY created_at LIMIT $1)", [over]);
      }
      await exec(c, "session_insert", `INSERT INTO console_sessions (id_hash, admin_id, admin_name, created_at, last_seen, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6)`, [s.idHash, s.adminId, s.adminName, s.createdAt, s.lastSeen, s.expiresAt]);
    };
    if (this.c instanceof pg.Pool) await inTransaction(this.c, run);
    else await run(this.c);
  }

  async get(idHash: string): Promise<SessionRecord | undefined> {
    const r = await q(this.c, "session_get", "SELECT * FROM console_sessions WHERE id_hash = $1", [idHash]);
    return r.length ? toSession(r[0]) : undefined;
  }

  async touch(idHash: string, at: string, ifBefore: string): Promise<boolean> {
    return (await exec(this.c, "session_touch", "UPDATE console_sessions SET last_seen = $1 WHERE id_hash = $2 AND last_seen < $3 AND last_seen < $1", [at, idHash, ifBefore])) === 1;
  }

  async delete(idHash: string): Promise<boolean> {
    return (await exec(this.c, "session_delete", "DELETE FROM console_sessions WHERE id_hash = $1", [idHash])) === 1;
  }

  async purgeExpired(cut: SessionCutoffs, limit: number): Promise<number> {
    // Bounded: at most `limit` rows, found through the expires_at / last_seen indexes; rows another purge holds are skipped.
    return exec(this.c, "session_purge", `DELETE FROM console_sessions WHERE id_hash IN
      (SELECT id_hash FROM console_sessions WHERE expires_at <= $1 OR last_seen < $2 LIMIT $3 FOR UPDATE SKIP LOCKED)`, [cut.now, cut.idleBefore, limit]);
  }

  async count(): Promise<number> {
    return (await q<{ n: number }>(this.c, "session_count", "SELECT count(*) AS n FROM console_sessions"))[0].n;
  }
}
