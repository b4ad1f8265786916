import { existsSync } from "node:fs";
import { GatewayError } from "../errors.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { backupSqlite, databaseInUse, installRestored, openRestoreCandidate, removeDb, scrubRestored } from "../store/sqlite/backup.js";
import { recordBackup, verifyScrubRecord, type BackupSummary, type RestoreSummary } from "./backup-common.js";

const inUse = (dbPath: string) => new GatewayError("RA_ERR_CONFIG", `${dbPath} is open in another process (a running gateway?): stop it first`);

/** `gateway backup` on SQLite: VACUUM INTO a consistent copy while the gateway serves. */
export async function backupSqliteCommand(dbPath: string, to: string, force: boolean): Promise<BackupSummary> {
  if (!existsSync(dbPath)) throw new GatewayError("RA_ERR_NOT_FOUND", `no database at ${dbPath}`);
  const store = new SqliteStore(dbPath);
  try {
    const info = backupSqlite(store, to, force);
    await recordBackup(store, info);
    return info;
  } finally {
    await store.close();
  }
}

/** `gateway restore` on SQLite: check, verify and scrub a copy beside the database, then put it in place. */
export async function restoreSqliteCommand(dbPath: string, from: string, keepUnusedSecrets: boolean): Promise<RestoreSummary> {
  if (databaseInUse(dbPath)) throw inUse(dbPath);
  const { tmp, store, fromVersion } = openRestoreCandidate(from, dbPath);
  let done: { headSeq: number; cleared: Record<string, number> };
  let toVersion: number;
  try {
    const now = new Date().toISOString();
    done = await verifyScrubRecord(store, { target: dbPath, from, fromVersion, restoredAlready: false }, () => Promise.resolve(scrubRestored(store, now, keepUnusedSecrets)));
    toVersion = store.raw.pragma("user_version", { simple: true }) as number;
    await store.close();
  } catch (e) {
    await store.close();
    removeDb(tmp);
    throw e;
  }
  const kept = installRestored(tmp, dbPath, new Date().toISOString().replace(/[:.]/g, "-"));
  return { target: dbPath, from, fromVersion, toVersion, ...done, kept };
}

/** `gateway db after-restore` on SQLite: the file was put back by other means (a disk snapshot); the gateway is stopped. */
export async function afterRestoreSqlite(dbPath: string, keepUnusedSecrets: boolean): Promise<RestoreSummary> {
  if (!existsSync(dbPath)) throw new GatewayError("RA_ERR_NOT_FOUND", `no database at ${dbPath}`);
  if (databaseInUse(dbPath)) throw inUse(dbPath);
  const store = new SqliteStore(dbPath);
  try {
    const version = store.raw.pragma("user_version", { simple: true }) as number;
    const now = new Date().toISOString();
    const done = await verifyScrubRecord(store, { target: dbPath, from: "(restored by other means)", fromVersion: version, restoredAlready: true },
      () => Promise.resolve(scrubRestored(store, now, keepUnusedSecrets)));
    return { target: dbPath, from: "(restored by other means)", fromVersion: version, toVersion: version, ...done };
  } finally {
    await store.close();
  }
}
