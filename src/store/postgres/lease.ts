import type { LeaseHolder, LeaseStore } from "../lease-types.js";
import { exec, q, type Queryable } from "./db.js";

/** A released lease: no owner, lapsed since the epoch (its last_run is kept for the next holder). */
const RELEASED = "1970-01-01T00:00:00.000Z";

/**
 * Job leases on PostgreSQL (table job_leases), as SqliteLeaseStore: taking or renewing is one upsert whose
 * condition the row lock serializes, so of two instances racing for a free or lapsed lease exactly one wins.
 */
export class PgLeaseStore implements LeaseStore {
  constructor(private readonly c: Queryable) {}

  async acquire(name: string, owner: string, ttlMs: number, now = new Date()): Promise<boolean> {
    return (await this.take(name, owner, ttlMs, now)) !== undefined;
  }

  async take(name: string, owner: string, ttlMs: number, now = new Date()): Promise<{ lastRun?: string } | undefined> {
    const until = new Date(now.getTime() + ttlMs).toISOString();
    // The loser's conditional update changes (and returns) nothing.
    const rows = await q<{ last_run: string | null }>(this.c, "lease_take", `INSERT INTO job_leases (name, owner, until) VALUES ($1, $2, $3)
      ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
      WHERE job_leases.until <= $4 OR job_leases.owner = excluded.owner
      RETURNING last_run`, [name, owner, until, now.toISOString()]);
    return rows.length ? { lastRun: rows[0].last_run ?? undefined } : undefined;
  }

  async claimRun(name: string, owner: string, intervalMs: number, now = new Date()): Promise<boolean> {
    const at = now.toISOString();
    return (await exec(this.c, "lease_claim_run", `UPDATE job_leases SET last_run = $1 WHERE name = $2 AND owner = $3 AND until > $1
      AND (last_run IS NULL OR last_run <= $4)`, [at, name, owner, new Date(now.getTime() - intervalMs).toISOString()])) === 1;
  }

  async release(name: string, owner: string): Promise<void> {
    await exec(this.c, "lease_release", "UPDATE job_leases SET owner = '', until = $1 WHERE name = $2 AND owner = $3", [RELEASED, name, owner]);
  }

  async holder(name: string): Promise<LeaseHolder | undefined> {
    const r = await q<LeaseHolder>(this.c, "lease_holder", "SELECT owner, until FROM job_leases WHERE name = $1 AND owner <> ''", [name]);
    return r[0];
  }
}
