import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations.js";
import { registerInventoryFunctions } from "./inventory.js";

/** Opens the gateway database with the connection settings every process uses (WAL, several processes on one file). */
export function openSqlite(path: string): Database.Database {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  // Statement journals (savepoints: nested transactions) stay in memory instead of
  // spilling to a temp file past 64 KiB, which made every later savepoint of a transaction write to disk.
  db.pragma("temp_store = MEMORY");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  registerInventoryFunctions(db);
  return db;
}

/**
 * Brings the schema up to date. Safe when several processes open the file at once (workers, a CLI next to `serve`):
 * each version is applied in an IMMEDIATE transaction that re-reads user_version under the write lock, so a version
 * another process applied meanwhile is skipped instead of run twice. The first read outside is only a fast path.
 */
export function migrateSqlite(db: Database.Database): void {
  if ((db.pragma("user_version", { simple: true }) as number) >= MIGRATIONS.length) return;
  const step = db.transaction(() => {
    const v = db.pragma("user_version", { simple: true }) as number;
    if (v >= MIGRATIONS.length) return false;
    db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${v + 1}`);
    return true;
  });
  while (step.immediate()) { /* one version per transaction */ }
}
