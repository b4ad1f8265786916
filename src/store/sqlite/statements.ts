import type Database from "better-sqlite3";

/** Prepared statements by SQL text: preparing once keeps hot paths to a bind and a step. */
export class StatementCache {
  private readonly stmts = new Map<string, Database.Statement>();
  constructor(private readonly db: Database.Database) {}
  get(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }
}

/**
 * Page cache size (KiB) for the database's size. Past 1 GiB, 64 MiB (default 2 MiB): the B-tree interior
 * pages every issuance walks stay cached at millions of rows. Below, 16 MiB, which holds them at that size:
 * while the file is smaller than SQLite's lock page (byte 2^30), a B-tree rebalance parks a page under that
 * page number and the next COMMIT scans the whole page-cache hash table (pcache1TruncateUnsafe), which with
 * 64 MiB cached cost about as much as the rest of a group commit.
 */
export function cacheKibFor(db: Database.Database): number {
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  const pages = db.pragma("page_count", { simple: true }) as number;
  return pages > Math.floor(2 ** 30 / pageSize) + 1 ? 65536 : 16384;
}
