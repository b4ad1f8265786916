// The PostgreSQL test harness itself, and the server primitives the PostgreSQL store will rely on: committed rows
// are visible to another connection, transaction-scoped advisory locks exclude other connections, and a unique key
// with INSERT ... ON CONFLICT DO NOTHING lets exactly one of two concurrent claimants win.
import { existsSync } from "node:fs";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { lazyTestDatabase, startPostgres } from "../helpers/postgres.js";

const testDb = lazyTestDatabase();
const clients: pg.Client[] = [];

async function connect(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: (await testDb.get()).url });
  await c.connect();
  clients.push(c);
  return c;
}

/** Waits (bounded) until some other backend is blocked on a lock, i.e. the racing statement really is in flight. */
async function waitForLockWaiter(observer: pg.Client): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = await observer.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (r.rows[0].n > 0) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error("no backend ever waited on the lock");
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await testDb.drop();
});

describe("PostgreSQL test harness", () => {
  it("serves PostgreSQL >= 15 in a database of its own", async () => {
    const c = await connect();
    const db = await testDb.get();
    const r = await c.query("SELECT current_setting('server_version_num')::int AS v, current_database() AS d");
    expect(r.rows[0].v).toBeGreaterThanOrEqual(150000);
    expect(r.rows[0].d).toBe(db.name);
    expect(db.name).toMatch(/^t_[0-9a-f]{16}$/);
  });

  it("makes committed rows visible to a second connection; advisory xact locks exclude other sessions", async () => {
    const a = await connect();
    const b = await connect();
    await a.query("CREATE TABLE jobs (name text PRIMARY KEY, runs int NOT NULL)");

    await a.query("BEGIN");
    await a.query("SELECT pg_advisory_xact_lock(16)");
    await a.query("INSERT INTO jobs (name, runs) VALUES ('purge', 1)");
    // While A's transaction holds the lock, B cannot take it and does not see the uncommitted row.
    await b.query("BEGIN");
    expect((await b.query("SELECT pg_try_advisory_xact_lock(16) AS ok")).rows[0].ok).toBe(false);
    expect((await b.query("SELECT count(*)::int AS n FROM jobs")).rows[0].n).toBe(0);
    await b.query("ROLLBACK");
    await a.query("COMMIT");

    // Commit released the transaction-scoped lock and published the row.
    await b.query("BEGIN");
    expect((await b.query("SELECT pg_try_advisory_xact_lock(16) AS ok")).rows[0].ok).toBe(true);
    expect((await b.query("SELECT name, runs FROM jobs")).rows).toEqual([{ name: "purge", runs: 1 }]);
    await b.query("COMMIT");
  });

  it("lets exactly one of two concurrent INSERT ... ON CONFLICT DO NOTHING of one key insert", async () => {
    const a = await connect();
    const b = await connect();
    const observer = await connect();
    await a.query("CREATE TABLE claims (id text PRIMARY KEY, owner text NOT NULL)");
    const claim = (c: pg.Client, id: string, owner: string) =>
      c.query("INSERT INTO claims (id, owner) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", [id, owner]);

    // Deterministic interleaving: A inserts inside an open transaction, B's insert of the same key must wait on
    // it, and after A commits B reports 0 rows — not an error, not a second row.
    await a.query("BEGIN");
    expect((await claim(a, "nonce-1", "a")).rowCount).toBe(1);
    const pending = claim(b, "nonce-1", "b");
    await waitForLockWaiter(observer);
    await a.query("COMMIT");
    expect((await pending).rowCount).toBe(0);

    // Free-running race over many keys, both connections claiming the same keys in the same order (each client
    // runs its statements one after another, as pg requires): each key is won exactly once.
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    const run = async (c: pg.Client, owner: string) => {
      const won: number[] = [];
      for (const k of keys) won.push((await claim(c, k, owner)).rowCount!);
      return won;
    };
    const [wonA, wonB] = await Promise.all([run(a, "a"), run(b, "b")]);
    expect(keys.map((_, i) => wonA[i] + wonB[i])).toEqual(keys.map(() => 1));
    const rows = await observer.query("SELECT id, count(*)::int AS n FROM claims GROUP BY id HAVING count(*) <> 1");
    expect(rows.rows).toEqual([]);
    expect((await observer.query("SELECT count(*)::int AS n FROM claims")).rows[0].n).toBe(51);
  });

  it("startPostgres() runs a private cluster and stop() ends it and removes its directory", async () => {
    const cluster = await startPostgres();
    try {
      const c = new pg.Client({ connectionString: cluster.url });
      await c.connect();
      expect((await c.query("SELECT 1 AS one")).rows[0].one).toBe(1);
      await c.end();
      // TCP needs the password: the cluster is not open to other local users.
      const wrong = new URL(cluster.url);
      wrong.password = "wrong";
      await expect(new pg.Client({ connectionString: wrong.toString() }).connect()).rejects.toThrow(/password/);
    } finally {
      await cluster.stop();
    }
    expect(existsSync(cluster.dir)).toBe(false);
    await expect(new pg.Client({ connectionString: cluster.url }).connect()).rejects.toThrow();
  });
});
