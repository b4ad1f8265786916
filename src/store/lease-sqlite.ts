import type Database from "better-sqlite3";
import { StatementCache } from "./statements.js";

/** Who holds a job lease, and until when (ISO-8601 UTC). */
export interface LeaseHolder {
  owner: string;
  until: string;
}

/**
 * Named leases for jobs that must run on one instance at a time (table job_leases, migration 12). A lease
 * is taken or renewed in one statement; a holder that dies simply stops renewing, and the lease is free
 * again once `until` passes. Expiry is judged by the clock of the instance asking, so instance clocks must
 * agree to well within a lease's TTL (NTP).
 */
export interface LeaseStore {
  /** Takes `name` for `ttlMs` from now if it is free, lapsed, or already `owner`'s (then renews it); true when held. */
  acquire(name: string, owner: string, ttlMs: number, now?: Date): boolean;
  /** Gives the lease up if `owner` holds it (a clean shutdown: another instance takes over at its next try). */
  release(name: string, owner: string): void;
  holder(name: string): LeaseHolder | undefined;
}

export class SqliteLeaseStore implements LeaseStore {
  private readonly stmts: StatementCache;
  constructor(db: Database.Database) {
    this.stmts = new StatementCache(db);
  }

  acquire(name: string, owner: string, ttlMs: number, now = new Date()): boolean {
    const until = new Date(now.getTime() + ttlMs).toISOString();
    // One statement, so two instances racing for a free or lapsed lease cannot both win: the row's unique
    // name serializes them and the loser's conditional update changes nothing.
    return this.stmts.get(`INSERT INTO job_leases (name, owner, until) VALUES (?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
      WHERE job_leases.until <= ? OR job_leases.owner = excluded.owner`).run(name, owner, until, now.toISOString()).changes === 1;
  }

  release(name: string, owner: string): void {
    this.stmts.get("DELETE FROM job_leases WHERE name = ? AND owner = ?").run(name, owner);
  }

  holder(name: string): LeaseHolder | undefined {
    return this.stmts.get("SELECT owner, until FROM job_leases WHERE name = ?").get(name) as LeaseHolder | undefined;
  }
}
