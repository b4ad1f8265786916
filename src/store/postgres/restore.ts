import type pg from "pg";
import { exec, inTransaction, q } from "./db.js";

/**
 * Drops state that must not come back from the past, in one transaction: the same clean-up as the SQLite engine's
 * scrubRestored (src/store/sqlite/backup.ts), with the same result keys. The ACME nonce MAC key and used nonces
 * (nonces handed out after the backup would verify again; a new key is made at the next start), job leases and CRL
 * build leases of instances that no longer hold them, console sessions (one logged out after the backup would be
 * valid again), and (unless `keepUnusedSecrets`) unused one-time credentials. Every CA's CRL is marked for rebuild,
 * so a fresh CRL (numbered above any earlier one) follows the start. `now` is an ISO string, like every timestamp
 * in this schema.
 */
export function scrubRestoredPostgres(pool: pg.Pool, now: string, keepUnusedSecrets = false): Promise<Record<string, number>> {
  return inTransaction(pool, async (c) => {
    const n = (sql: string, values?: unknown[]) => exec(c, undefined, sql, values);
    // One-time secrets and EAB keys unused in the backup may have been spent after it: expired now, so a spent one
    // cannot be used twice (loud: the operator mints new ones), unless the operator knows none were spent.
    const retired: Record<string, number> = keepUnusedSecrets ? {} : {
      enrollmentSecretsRetired: await n("UPDATE enrollment_secrets SET expires_at = $1 WHERE used_at IS NULL AND expires_at > $1", [now]),
      eabKeysRetired: await n("UPDATE acme_eab_keys SET expires_at = $1 WHERE account_id IS NULL AND (expires_at IS NULL OR expires_at > $1)", [now]),
    };
    return {
      ...retired,
      acmeNonceKeys: await n("DELETE FROM acme_nonce_keys"),
      acmeUsedNonces: await n("DELETE FROM acme_used_nonces"),
      jobLeases: await n("DELETE FROM job_leases"),
      consoleSessions: await n("DELETE FROM console_sessions"),
      crlStates: await n(`INSERT INTO crl_state (ca_name, generation, dirty_since) SELECT DISTINCT ca_name, 1, $1 FROM crls
        ON CONFLICT (ca_name) DO UPDATE SET generation = crl_state.generation + 1, dirty_since = excluded.dirty_since, lease_owner = NULL, lease_until = NULL`, [now]),
    };
  });
}

/**
 * Connections of other gateway processes (serving instances, CLI commands: db.ts names them all
 * 'enrollment-gateway') to this database, excluding the asking one. Call it on a pool of one connection.
 */
export async function otherGatewayConnections(pool: pg.Pool): Promise<number> {
  const r = await q<{ n: number }>(pool, undefined, `SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'enrollment-gateway' AND pid <> pg_backend_pid()`);
  return r[0]?.n ?? 0;
}
