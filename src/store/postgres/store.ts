import type pg from "pg";
import type { Store } from "../types.js";
import type { AcmeStore } from "../acme-types.js";
import type { CmpStore } from "../cmp-types.js";
import type { CrlStore } from "../crl-types.js";
import type { DiscoveryStore } from "../discovery-types.js";
import type { LeaseStore } from "../lease-types.js";
import type { OutboxStore } from "../outbox-types.js";
import type { SessionStore } from "../session-types.js";
import { createPool, inTransaction, q, type PgOptions, type Queryable } from "./db.js";
import { migratePool, PG_MIGRATIONS, schemaVersion, type MigrationStatus } from "./migrations.js";
import { PgRecordTables } from "./records.js";
import { PgAcmeStore } from "./acme.js";
import { PgCmpStore } from "./cmp.js";
import { PgCrlStore } from "./crl.js";
import { PgDiscoveryStore } from "./discovery.js";
import { PgLeaseStore } from "./lease.js";
import { PgOutboxStore } from "./outbox.js";
import { PgSessionStore } from "./session.js";
import { serverSizing, type ServerSizing } from "./server-sizing.js";

export type { PgOptions } from "./db.js";

/** One open transaction: whether it is still open, and how deep its savepoints go. */
interface TxState {
  open: boolean;
  depth: number;
}

/**
 * The Store contract on PostgreSQL, for several gateway processes on one database. The root store runs each call
 * on the pool (one statement, or a transaction of its own); `transaction(fn)` hands `fn` a view of the same class
 * bound to one checked-out client, whose own `transaction` is a savepoint. Sub-stores are built on first use,
 * so a transaction view costs one small object until it touches them.
 */
export class PostgresStore extends PgRecordTables implements Store {
  private acmeStore?: AcmeStore;
  private cmpStore?: CmpStore;
  private crlStore?: CrlStore;
  private discoveryStore?: DiscoveryStore;
  private leaseStore?: LeaseStore;
  private outboxStore?: OutboxStore;
  private sessionStore?: SessionStore;

  /** `c` and `tx` are set for a transaction view only. */
  constructor(readonly pool: pg.Pool, c: Queryable = pool, private readonly tx?: TxState) {
    super(c);
  }

  get acme(): AcmeStore { return (this.acmeStore ??= new PgAcmeStore(this.c)); }
  get cmp(): CmpStore { return (this.cmpStore ??= new PgCmpStore(this.c)); }
  get crl(): CrlStore { return (this.crlStore ??= new PgCrlStore(this.c)); }
  get discovery(): DiscoveryStore { return (this.discoveryStore ??= new PgDiscoveryStore(this.c)); }
  get leases(): LeaseStore { return (this.leaseStore ??= new PgLeaseStore(this.c)); }
  get outbox(): OutboxStore { return (this.outboxStore ??= new PgOutboxStore(this.c)); }
  get sessions(): SessionStore { return (this.sessionStore ??= new PgSessionStore(this.c)); }

  async ping(): Promise<boolean> {
    return (await q<{ ok: number }>(this.c, "core_ping", "SELECT 1 AS ok"))[0]?.ok === 1;
  }

  async close(): Promise<void> {
    if (this.tx) throw new Error("close() on a transaction's store: close the store that opened it");
    await this.pool.end();
  }

  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.tx) return this.savepoint(this.tx, fn);
    return inTransaction(this.pool, async (client) => {
      const state: TxState = { open: true, depth: 0 };
      try {
        return await fn(new PostgresStore(this.pool, guard(client, state), state));
      } finally {
        state.open = false; // before COMMIT/ROLLBACK: a tx kept past its transaction can never write into the next one
      }
    });
  }

  private async savepoint<T>(state: TxState, fn: (tx: Store) => Promise<T>): Promise<T> {
    const name = `sp${++state.depth}`;
    try {
      await this.c.query(`SAVEPOINT ${name}`);
      let v: T;
      try {
        v = await fn(this);
      } catch (e) {
        // Undo the savepoint's writes and keep the outer transaction usable (PostgreSQL aborts it on an error).
        // Should this fail, the original error goes on and the outer transaction rolls back as a whole.
        await this.c.query(`ROLLBACK TO SAVEPOINT ${name}`).then(() => this.c.query(`RELEASE SAVEPOINT ${name}`)).catch(() => undefined);
        throw e;
      }
      await this.c.query(`RELEASE SAVEPOINT ${name}`);
      return v;
    } finally {
      state.depth--;
    }
  }
}

/** The transaction's client, refusing statements once its transaction is over (the client goes back to the pool). */
function guard(client: pg.PoolClient, state: TxState): pg.PoolClient {
  const g = Object.create(client) as pg.PoolClient;
  const query = client.query.bind(client) as (...a: unknown[]) => Promise<unknown>;
  (g as unknown as { query: (...a: unknown[]) => Promise<unknown> }).query = (...a: unknown[]) =>
    state.open ? query(...a) : Promise.reject(new Error("store tx used after its transaction ended"));
  return g;
}

/** Opens the pool and brings the schema up to date (under the migration lock: instances starting at once migrate once). */
export async function openPostgresStore(o: PgOptions): Promise<PostgresStore> {
  const pool = createPool(o);
  try {
    await migratePool(pool);
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
  return new PostgresStore(pool);
}

/** `gateway db status`: the schema version recorded in the database and the one this gateway brings. */
export async function migrationStatus(o: PgOptions): Promise<MigrationStatus & { server: ServerSizing }> {
  const pool = createPool({ ...o, poolSize: 1 });
  try {
    return { current: await schemaVersion(pool), latest: PG_MIGRATIONS.length, server: await serverSizing(pool) };
  } finally {
    await pool.end();
  }
}

/** `gateway db migrate`: applies what is missing; the versions before and after. */
export async function migrate(o: PgOptions): Promise<{ from: number; to: number }> {
  const pool = createPool({ ...o, poolSize: 1 });
  try {
    return await migratePool(pool);
  } finally {
    await pool.end();
  }
}
