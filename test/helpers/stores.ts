import { join } from "node:path";
import { afterAll } from "vitest";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import type { AuditEvent, AuditQuery, Store } from "../../src/store/types.js";
import { tempDir } from "./openssl.js";

/**
 * Two SqliteStore connections on one new database file: they stand for two gateway instances sharing
 * one store. Both are closed after the test file.
 */
export function twoStores(prefix: string): { a: SqliteStore; b: SqliteStore; file: string } {
  const file = join(tempDir(prefix), "gateway.db");
  const a = new SqliteStore(file);
  const b = new SqliteStore(file);
  afterAll(async () => {
    await a.close();
    await b.close();
  });
  return { a, b, file };
}

/** Every audit event (matching `q`) in sequence order, paged through `pageAudit`: what `[...store.allAudit()]` was. */
export async function auditEvents(store: Pick<Store, "pageAudit">, q: AuditQuery = {}): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.pageAudit(q, { limit: 1000, cursor });
    out.push(...page.items);
    cursor = page.next;
  } while (cursor !== undefined);
  return out;
}
