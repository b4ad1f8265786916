import type { GatewayConfig } from "../config/schema.js";
import { readSecret } from "../config/load.js";
import { GatewayError } from "../errors.js";
import { describeStore, openStore } from "../store/open.js";
import { createPool, q } from "../store/postgres/db.js";
import { inspectDump, pgDump, pgRestore } from "../store/postgres/dump.js";
import { PG_MIGRATIONS, schemaVersion } from "../store/postgres/migrations.js";
import { otherGatewayConnections, scrubRestoredPostgres } from "../store/postgres/restore.js";
import type { PostgresStore } from "../store/postgres/store.js";
import { fileDigest, recordBackup, verifyScrubRecord, type BackupSummary, type RestoreSummary } from "./backup-common.js";

const urlOf = (config: GatewayConfig) => (config.store.kind === "postgres" ? readSecret(config.store.url, "store.url") : "");

async function openPg(config: GatewayConfig): Promise<PostgresStore> {
  return (await openStore(config, config.dataDir)) as PostgresStore;
}

/** `gateway backup` on PostgreSQL: pg_dump (custom format) of the configured database while the gateways serve. */
export async function backupPostgresCommand(config: GatewayConfig, to: string, force: boolean): Promise<BackupSummary> {
  const url = urlOf(config);
  const store = await openPg(config);
  try {
    // Read before pg_dump takes its snapshot: events appended meanwhile are in the dump too, hence "at least".
    const head = await q<{ s: number | null }>(store.pool, undefined, "SELECT max(seq) AS s FROM audit_events");
    const version = await schemaVersion(store.pool);
    await pgDump(url, to, force);
    const info: BackupSummary = { ...fileDigest(to), schemaVersion: version, auditHeadSeq: head[0]?.s ?? 0, atLeast: true };
    await recordBackup(store, info);
    return info;
  } finally {
    await store.close();
  }
}

/** Refuses while other gateway processes are connected: pg_restore --clean would wait on their locks or pull data out from under them. */
async function refuseIfInUse(url: string, where: string): Promise<void> {
  const pool = createPool({ url, poolSize: 1 }); // one connection: the count excludes exactly this one
  try {
    const n = await otherGatewayConnections(pool);
    if (n > 0) throw new GatewayError("RA_ERR_CONFIG", `${where} has ${n} other gateway connection(s) (serving gateways, CLI commands): stop the gateways first`);
  } finally {
    await pool.end();
  }
}

/**
 * `gateway restore` on PostgreSQL: the dump is checked (format, audit guards, schema version) before anything is
 * touched, then pg_restore replaces the gateway's objects in one transaction; opening the store migrates an older
 * dump; then the chain is verified, the state that must not come back is scrubbed and `store.restored` recorded.
 */
export async function restorePostgresCommand(config: GatewayConfig, from: string, keepUnusedSecrets: boolean): Promise<RestoreSummary> {
  const url = urlOf(config);
  const where = describeStore(config, config.dataDir);
  const { schemaVersion: fromVersion } = await inspectDump(from);
  if (fromVersion < 1) throw new GatewayError("RA_ERR_CONFIG", `${from} is not a dump of a gateway database (no schema version)`);
  if (fromVersion > PG_MIGRATIONS.length) throw new GatewayError("RA_ERR_CONFIG", `${from} has schema version ${fromVersion}, newer than this gateway's ${PG_MIGRATIONS.length}`);
  await refuseIfInUse(url, where);
  // pg_restore --clean drops only what the dump holds: objects of newer migrations would survive and make the
  // migrations fail after the data was replaced. Refuse before touching anything.
  const pool = createPool({ url, poolSize: 1 });
  const liveVersion = await schemaVersion(pool).finally(() => pool.end());
  if (liveVersion > fromVersion) {
    throw new GatewayError("RA_ERR_CONFIG", `${where} is at schema version ${liveVersion}, ${from} at ${fromVersion}: restore it into an empty database (a new one, or after DROP SCHEMA public CASCADE; CREATE SCHEMA public); nothing restored`);
  }
  await pgRestore(url, from);
  return finish(config, where, from, fromVersion, keepUnusedSecrets);
}

/** `gateway db after-restore` on PostgreSQL: the database was restored by other means (PITR, pg_basebackup, a snapshot). */
export async function afterRestorePostgres(config: GatewayConfig, keepUnusedSecrets: boolean): Promise<RestoreSummary> {
  const where = describeStore(config, config.dataDir);
  await refuseIfInUse(urlOf(config), where);
  const pool = createPool({ url: urlOf(config), poolSize: 1 });
  const fromVersion = await schemaVersion(pool).finally(() => pool.end());
  return finish(config, where, "(restored by other means)", fromVersion, keepUnusedSecrets);
}

async function finish(config: GatewayConfig, where: string, from: string, fromVersion: number, keepUnusedSecrets: boolean): Promise<RestoreSummary> {
  const store = await openPg(config);
  try {
    const now = new Date().toISOString();
    const done = await verifyScrubRecord(store, { target: where, from, fromVersion, restoredAlready: true }, () => scrubRestoredPostgres(store.pool, now, keepUnusedSecrets));
    return { target: where, from, fromVersion, toVersion: await schemaVersion(store.pool), ...done };
  } finally {
    await store.close();
  }
}
