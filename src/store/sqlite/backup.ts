import Database from "better-sqlite3";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, closeSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { GatewayError } from "../../errors.js";
import { MIGRATIONS } from "./migrations.js";
import { SqliteStore } from "./store.js";

/** What a backup file holds, read back from the file itself. */
export interface BackupInfo {
  path: string;
  bytes: number;
  sha256: string;
  schemaVersion: number;
  auditHeadSeq: number;
}

const tmpNear = (file: string, tag: string) => join(dirname(resolve(file)), `.${basename(file)}.${tag}-${randomBytes(6).toString("hex")}.tmp`);

/** Schema version and audit head of a database file (opened read-only). */
function describe(path: string): { schemaVersion: number; auditHeadSeq: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const schemaVersion = db.pragma("user_version", { simple: true }) as number;
    const r = db.prepare("SELECT max(seq) AS s FROM audit_events").get() as { s: number | null };
    return { schemaVersion, auditHeadSeq: r.s ?? 0 };
  } finally {
    db.close();
  }
}

function infoOf(path: string): BackupInfo {
  return { path: resolve(path), bytes: statSync(path).size, sha256: createHash("sha256").update(readFileSync(path)).digest("hex"), ...describe(path) };
}

/**
 * Online, consistent copy of the live database. VACUUM INTO reads inside one read transaction: a WAL snapshot that
 * does not block the serving gateway's writers and, unlike the page-stepping backup API, never restarts when they
 * write meanwhile. It goes to a temp file in the target's directory first, then is linked into place (fails if
 * the target appeared meanwhile) or, with `force`, renamed over it: a reader never sees a half-written backup.
 */
export function backupSqlite(store: SqliteStore, toFile: string, force: boolean): BackupInfo {
  if (existsSync(toFile) && !force) throw new GatewayError("RA_ERR_CONFIG", `${toFile} exists; pass --force to overwrite it`);
  const tmp = tmpNear(toFile, "backup");
  try {
    store.raw.prepare("VACUUM INTO ?").run(tmp);
    chmodSync(tmp, 0o600); // token hashes, sealed secrets: as private as the database itself
    if (force) renameSync(tmp, toFile);
    else linkSync(tmp, toFile);
  } finally {
    rmSync(tmp, { force: true });
  }
  return infoOf(toFile);
}

/**
 * True when another connection (a serving gateway, a CLI) has the database open: in WAL mode every open connection
 * holds a shared lock on the file, so an exclusive lock taken without waiting fails. Costs one open.
 */
export function databaseInUse(dbPath: string): boolean {
  if (!existsSync(dbPath)) return false;
  let db: Database.Database | undefined;
  try {
    db = new Database(dbPath, { timeout: 0, fileMustExist: true });
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
    db.exec("COMMIT");
    return false;
  } catch (e) {
    const code = (e as { code?: string }).code ?? "";
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return true;
    return false; // unreadable or corrupt: nobody can be serving from it
  } finally {
    db?.close();
  }
}

/**
 * Copies `fromFile` next to the live database and checks it is one of ours before anything is replaced: SQLite header,
 * integrity_check, schema version not newer than this build (then migrated up, as a start would). The caller verifies
 * the audit chain on the returned store, scrubs it (scrubRestored), records the restore, closes it and installs it.
 */
export function openRestoreCandidate(fromFile: string, dbPath: string): { tmp: string; store: SqliteStore; fromVersion: number } {
  if (!existsSync(fromFile)) throw new GatewayError("RA_ERR_NOT_FOUND", `${fromFile} does not exist`);
  const head = Buffer.alloc(16);
  const fd = openSync(fromFile, "r");
  try {
    readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString("latin1") !== "SQLite format 3\0") throw new GatewayError("RA_ERR_CONFIG", `${fromFile} is not an SQLite database`);
  mkdirSync(dirname(resolve(dbPath)), { recursive: true, mode: 0o700 });
  const tmp = tmpNear(dbPath, "restore");
  copyFileSync(fromFile, tmp);
  chmodSync(tmp, 0o600);
  try {
    const db = new Database(tmp, { fileMustExist: true });
    let fromVersion: number;
    try {
      const ok = (db.pragma("integrity_check", { simple: true }) as string);
      if (ok !== "ok") throw new GatewayError("RA_ERR_CONFIG", `${fromFile} fails integrity_check: ${ok}`);
      fromVersion = db.pragma("user_version", { simple: true }) as number;
      const hasAudit = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'").get();
      if (fromVersion < 1 || !hasAudit) throw new GatewayError("RA_ERR_CONFIG", `${fromFile} is not a gateway database`);
      // A file edited to drop the append-only guards would come back unguarded.
      const guards = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name IN ('audit_no_update', 'audit_no_delete')").get() as { n: number };
      if (guards.n !== 2) throw new GatewayError("RA_ERR_CONFIG", `${fromFile}: the audit table's append-only triggers are missing`);
      if (fromVersion > MIGRATIONS.length) {
        throw new GatewayError("RA_ERR_CONFIG", `${fromFile} has schema version ${fromVersion}, newer than this gateway's ${MIGRATIONS.length}`);
      }
    } finally {
      db.close();
    }
    return { tmp, store: new SqliteStore(tmp), fromVersion };
  } catch (e) {
    removeDb(tmp);
    throw e;
  }
}

/**
 * Drops state that must not come back from the past, in one transaction: the ACME nonce MAC key and used nonces
 * (nonces handed out after the backup would verify again; a new key is made at the next start), job leases and
 * CRL build leases of instances that no longer exist, and console sessions (one logged out after the backup would
 * be valid again), and (unless `keepUnusedSecrets`) unused one-time credentials. Every CA's CRL is marked for
 * rebuild, so a fresh CRL (numbered above any earlier one) follows the start.
 */
export function scrubRestored(store: SqliteStore, now: string, keepUnusedSecrets = false): Record<string, number> {
  const db = store.raw;
  // better-sqlite3's own (synchronous) transaction: nothing else uses the candidate's connection meanwhile.
  return db.transaction(() => {
    const n = (sql: string, ...p: unknown[]) => db.prepare(sql).run(...p).changes;
    // One-time enrollment secrets and EAB keys unused in the backup may have been spent after it: expired now, so a
    // spent one cannot be used twice (loud: the operator mints new ones), unless the operator knows none were spent.
    const retired: Record<string, number> = keepUnusedSecrets ? {} : {
      enrollmentSecretsRetired: n("UPDATE enrollment_secrets SET expires_at = ? WHERE used_at IS NULL AND expires_at > ?", now, now),
      eabKeysRetired: n("UPDATE acme_eab_keys SET expires_at = ? WHERE account_id IS NULL AND (expires_at IS NULL OR expires_at > ?)", now, now),
    };
    return {
      ...retired,
      acmeNonceKeys: n("DELETE FROM acme_nonce_keys"),
      acmeUsedNonces: n("DELETE FROM acme_used_nonces"),
      jobLeases: n("DELETE FROM job_leases"),
      consoleSessions: n("DELETE FROM console_sessions"),
      crlStates: n(`INSERT INTO crl_state (ca_name, generation, dirty_since) SELECT DISTINCT ca_name, 1, ? FROM crls WHERE true
        ON CONFLICT (ca_name) DO UPDATE SET generation = crl_state.generation + 1, dirty_since = excluded.dirty_since, lease_owner = NULL, lease_until = NULL`, now),
    };
  })();
}

/**
 * Puts the checked, closed candidate in place of the database (the gateway must be stopped). The old file is kept
 * as `<db>.pre-restore-<time>` after a checkpoint (its WAL folded in); stale -wal/-shm are removed before the rename,
 * since SQLite would otherwise replay an old WAL onto the restored file.
 */
export function installRestored(tmp: string, dbPath: string, stamp: string): string | undefined {
  let kept: string | undefined;
  if (existsSync(dbPath)) {
    let old: Database.Database | undefined;
    try {
      old = new Database(dbPath, { fileMustExist: true });
      old.pragma("wal_checkpoint(TRUNCATE)");
    } catch { /* a damaged database is kept as it is */ } finally {
      old?.close();
    }
    kept = `${dbPath}.pre-restore-${stamp}`;
    renameSync(dbPath, kept);
  }
  rmSync(`${dbPath}-wal`, { force: true });
  rmSync(`${dbPath}-shm`, { force: true });
  rmSync(`${tmp}-wal`, { force: true });
  rmSync(`${tmp}-shm`, { force: true });
  renameSync(tmp, dbPath);
  return kept;
}

export function removeDb(path: string): void {
  for (const s of ["", "-wal", "-shm"]) rmSync(`${path}${s}`, { force: true });
}

