import { join } from "node:path";
import { afterAll } from "vitest";
import { SqliteStore } from "../../src/store/sqlite/tables.js";
import { tempDir } from "./openssl.js";

/**
 * Two SqliteStore connections on one new database file: they stand for two gateway instances sharing
 * one store. Both are closed after the test file.
 */
export function twoStores(prefix: string): { a: SqliteStore; b: SqliteStore; file: string } {
  const file = join(tempDir(prefix), "gateway.db");
  const a = new SqliteStore(file);
  const b = new SqliteStore(file);
  afterAll(() => {
    a.close();
    b.close();
  });
  return { a, b, file };
}
