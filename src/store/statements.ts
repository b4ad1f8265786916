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
