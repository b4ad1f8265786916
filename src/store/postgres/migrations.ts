import type pg from "pg";
import { CORE_SCHEMA } from "./schema-core.js";
import { PROTOCOL_SCHEMA } from "./schema-protocols.js";
import { AUDIT_APPEND_SCHEMA } from "./schema-audit-append.js";
import { HOT_COMPLETION_SCHEMA } from "./schema-hot-completion.js";
import { ACME_FINALIZE_SCHEMA } from "./schema-acme-finalize.js";

/**
 * The PostgreSQL engine's own schema history (independent of SQLite's numbering): index + 1 is the version
 * recorded in schema_migrations. Versions 1 and 2 are the tables; 3 the one-round-trip audit append; 4
 * the heap-only completion of an issuance; 5 when finalize claimed an ACME order. Append only.
 */
export const PG_MIGRATIONS: string[] = [CORE_SCHEMA, PROTOCOL_SCHEMA, AUDIT_APPEND_SCHEMA, HOT_COMPLETION_SCHEMA, ACME_FINALIZE_SCHEMA];

/** pg_advisory_lock key held while migrating (any fixed bigint: "gwmg"). */
export const MIGRATION_LOCK_KEY = 0x67776d67;

export interface MigrationStatus {
  current: number;
  latest: number;
}

/** The version recorded in the database (0 when it was never migrated). */
export async function schemaVersion(c: pg.ClientBase | pg.Pool): Promise<number> {
  const t = await c.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if (!t.rows[0]?.t) return 0;
  const r = await c.query<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations");
  return r.rows[0]?.v ?? 0;
}

/**
 * Brings the schema up to date and returns the versions before and after. Instances starting at once queue on a
 * session advisory lock and the version is re-read under it, so each version is applied once; each runs in its
 * own transaction with its schema_migrations row, so a failed version leaves nothing half-applied.
 */
export async function migratePool(pool: pg.Pool): Promise<{ from: number; to: number }> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    // A migration may legitimately outlast the pool's statement timeout, and so may waiting for another instance's.
    await client.query("SET statement_timeout = 0");
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at text NOT NULL)");
      const from = await schemaVersion(client);
      for (let v = from; v < PG_MIGRATIONS.length; v++) {
        await client.query("BEGIN");
        try {
          await client.query(PG_MIGRATIONS[v]); // no parameters: the simple protocol runs the whole script
          await client.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [v + 1, new Date().toISOString()]);
          await client.query("COMMIT");
        } catch (e) {
          await client.query("ROLLBACK").catch((err: Error) => { broken = err; });
          throw new Error(`PostgreSQL migration ${v + 1} failed: ${(e as Error).message}`, { cause: e });
        }
      }
      return { from, to: Math.max(from, PG_MIGRATIONS.length) };
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch((err: Error) => { broken = err; });
    }
  } finally {
    if (!broken) await client.query("RESET statement_timeout").catch((err: Error) => { broken = err; });
    client.release(broken);
  }
}
