import type Database from "better-sqlite3";
import { StatementCache } from "./statements.js";
import { LeaseHolder, LeaseStore } from "../lease-types.js";
import type { Synchronous } from "./facade.js";
/** A released lease: no owner, lapsed since the epoch (its last_run is kept for the next holder). */
const RELEASED = "1970-01-01T00:00:00.000Z";

export class SqliteLeaseStore implements Synchronous<LeaseStore> {
  private readonly stmts: StatementCache;
  constructor(db: Database.Database) {
    this.stmts = new StatementCache(db);
  }

  acquire(name: string, owner: string, ttlMs: number, now = new Date()): boolean {
    return this.take(name, owner, ttlMs, now) !== undefined;
  }

  take(name: string, owner: string, ttlMs: number, now = new Date()): { lastRun?: string } | undefined {
    const until = new Date(now.getTime() + ttlMs).toISOString();
    // One statement, so two instances racing for a free or lapsed lease cannot both win: the row's unique
    // name serializes them and the loser's conditional update changes (and returns) nothing.
    const row = this.stmts.get(`INSERT INTO job_leases (name, owner, until) VALUES (?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
      WHERE job_leases.until <= ? OR job_leases.owner = excluded.owner
      RETURNING last_run`).get(name, owner, until, now.toISOString()) as { last_run: string | null } | undefined;
    return row && { lastRun: row.last_run ?? undefined };
  }

  claimRun(name: string, owner: string, intervalMs: number, now = new Date()): boolean {
    const at = now.toISOString();
    return this.stmts.get(`UPDATE job_leases SET last_run = ? WHERE name = ? AND owner = ? AND until > ?
      AND (last_run IS NULL OR last_run <= ?)`).run(at, name, owner, at, new Date(now.getTime() - intervalMs).toISOString()).changes === 1;
  }

  release(name: string, owner: string): void {
    this.stmts.get("UPDATE job_leases SET owner = '', until = ? WHERE name = ? AND owner = ?").run(RELEASED, name, owner);
  }

  holder(name: string): LeaseHolder | undefined {
    return this.stmts.get("SELECT owner, until FROM job_leases WHERE name = ? AND owner <> ''").get(name) as LeaseHolder | undefined;
  }
}
