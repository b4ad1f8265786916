import type Database from "better-sqlite3";
import type { Store } from "../types.js";
import { busyOr, facade, SqliteGate } from "./facade.js";
import { SqliteTables, type SubStoreName, type SyncStore } from "./tables.js";

const SUB_STORES: readonly SubStoreName[] = ["acme", "outbox", "discovery", "crl", "cmp", "sessions", "leases"];

type StoreMethods = Omit<Store, "transaction" | SubStoreName>;

/** The async face of the SQLite tables (facade.ts): one connection, one open transaction at a time. */
export interface SqliteStore extends StoreMethods {}

export class SqliteStore implements Store {
  /** The synchronous tables underneath: for SQLite-only work (backup, restore) and tests. */
  readonly tables: SqliteTables;
  private readonly gate = new SqliteGate();
  /** What `transaction(fn)` hands to `fn`: the same tables, past the gate, with savepoints for nesting. */
  private readonly inside: Store;
  private depth = 0;
  readonly acme!: Store["acme"];
  readonly outbox!: Store["outbox"];
  readonly discovery!: Store["discovery"];
  readonly crl!: Store["crl"];
  readonly cmp!: Store["cmp"];
  readonly sessions!: Store["sessions"];
  readonly leases!: Store["leases"];

  constructor(path: string) {
    this.tables = new SqliteTables(path);
    Object.assign(this, this.face(false));
    this.inside = { ...this.face(true), transaction: (fn) => this.nested(fn) } as Store;
  }

  private face(inside: boolean): Partial<Store> {
    const t = this.tables as SyncStore & object;
    const out: Record<string, unknown> = facade<StoreMethods>(t, this.gate, inside);
    for (const s of SUB_STORES) out[s] = facade<unknown>(t[s], this.gate, inside);
    return out as Partial<Store>;
  }

  /**
   * True when a read made now through `tables` sees exactly what the async method would (no transaction is open,
   * so the facade would run it at once): lets a hot path (an OCSP answer kept pre-signed) skip the promise.
   */
  get readsNow(): boolean {
    return !this.gate.open;
  }

  /** Raw handle for tests that must tamper with data on purpose. */
  get raw(): Database.Database {
    return this.tables.raw;
  }

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    while (this.gate.open) await this.gate.free();
    this.gate.open = true;
    try {
      try {
        this.tables.begin();
      } catch (e) {
        throw busyOr(e);
      }
      try {
        const v = await fn(this.inside);
        this.tables.commit();
        return v;
      } catch (e) {
        this.tables.rollback();
        throw e;
      }
    } finally {
      this.gate.close();
    }
  }

  private async nested<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    const name = `sp${++this.depth}`;
    this.tables.savepoint(name, "SAVEPOINT");
    try {
      const v = await fn(this.inside);
      this.tables.savepoint(name, "RELEASE");
      return v;
    } catch (e) {
      this.tables.savepoint(name, "ROLLBACK TO");
      this.tables.savepoint(name, "RELEASE");
      throw e;
    } finally {
      this.depth--;
    }
  }
}
