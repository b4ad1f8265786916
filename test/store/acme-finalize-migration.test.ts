// The schema version that adds acme_orders.finalize_started_at (SQLite 14, PostgreSQL 5) on a database that already
// holds orders: one stuck processing counts from the upgrade (and is abandoned once the bound passes after it), the
// others keep no start time; the account's orders still page by (created_at, id).
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { PG_MIGRATIONS } from "../../src/store/postgres/migrations.js";
import { openPostgresStore } from "../../src/store/postgres/store.js";
import { registerInventoryFunctions } from "../../src/store/sqlite/inventory.js";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import type { Store } from "../../src/store/types.js";
import { tempDir } from "../helpers/openssl.js";
import { testDatabase, type TestDatabase } from "../helpers/postgres.js";

const ACCOUNT = "INSERT INTO acme_accounts (id, endpoint, thumbprint, jwk, status, contact, created_at) VALUES ('acc', 'default', 'tp', '{}', 'valid', '[]', '2026-01-01T00:00:00.000Z')";
const order = (id: string, status: string) => `INSERT INTO acme_orders (id, account_id, endpoint, status, identifiers, authz_ids, profile, expires, request_id, created_at)
  VALUES ('${id}', 'acc', 'default', '${status}', '[]', '[]', 'tls-server', '2099-01-01T00:00:00.000Z', 'req-${id}', '2026-01-01T00:00:00.000Z')`;
const OLD_ROWS = [ACCOUNT, order("stuck", "processing"), order("done", "valid"), order("fresh", "pending")];

async function checkUpgraded(s: Store, before: string): Promise<void> {
  const after = new Date().toISOString();
  const stuck = (await s.acme.getOrder("stuck"))!;
  expect(stuck.finalizeStartedAt! >= before && stuck.finalizeStartedAt! <= after).toBe(true);
  expect((await s.acme.getOrder("done"))!.finalizeStartedAt).toBeUndefined();
  expect((await s.acme.getOrder("fresh"))!.finalizeStartedAt).toBeUndefined();
  const error = { type: "urn:ietf:params:acme:error:serverInternal", detail: "interrupted", status: 500 };
  expect(await s.acme.abandonFinalize("stuck", before, error, "interrupted")).toBe(false); // not before the upgrade
  expect(await s.acme.abandonFinalize("stuck", new Date(Date.now() + 1000).toISOString(), error, "interrupted")).toBe(true);
  const pages = [await s.acme.orderIdsForAccount("acc", undefined, 2)];
  pages.push(await s.acme.orderIdsForAccount("acc", pages[0][1], 2));
  expect(pages.flat().map((o) => o.id)).toEqual(["done", "fresh", "stuck"]); // one created_at: by id
}

describe("schema upgrade for ACME finalize start times", () => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.allSettled(dbs.map((d) => d.drop()));
  });

  it("SQLite 13 → 14", async () => {
    const path = join(tempDir(), "old.db");
    const old = new Database(path);
    registerInventoryFunctions(old);
    for (const [v, sql] of MIGRATIONS.slice(0, 13).entries()) {
      old.exec(sql);
      old.pragma(`user_version = ${v + 1}`);
    }
    for (const sql of OLD_ROWS) old.exec(sql);
    old.close();
    const before = new Date().toISOString();
    const store = new SqliteStore(path);
    try {
      expect(store.raw.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
      const index = store.raw.prepare("SELECT name FROM pragma_index_info('acme_orders_account') ORDER BY seqno").pluck().all();
      expect(index).toEqual(["account_id", "created_at", "id"]);
      await checkUpgraded(store, before);
    } finally {
      await store.close();
    }
  });

  it("PostgreSQL 4 → 5", async () => {
    const db = await testDatabase();
    dbs.push(db);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at text NOT NULL)");
      for (const [v, sql] of PG_MIGRATIONS.slice(0, 4).entries()) {
        await client.query(sql);
        await client.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [v + 1, new Date().toISOString()]);
      }
      for (const sql of OLD_ROWS) await client.query(sql);
    } finally {
      await client.end();
    }
    const before = new Date().toISOString();
    const store = await openPostgresStore({ url: db.url });
    try {
      expect((await store.pool.query("SELECT max(version) AS v FROM schema_migrations")).rows[0].v).toBe(PG_MIGRATIONS.length);
      await checkUpgraded(store, before);
    } finally {
      await store.close();
    }
  });
});
