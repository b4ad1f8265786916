// Another process holding SQLite's write lock past busy_timeout: the store reports RA_ERR_STORE_UNAVAILABLE (every
// front-end's "try later"), not an internal error, and works again once the lock is gone.
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { tempDir } from "../helpers/openssl.js";

describe("SQLite write lock held elsewhere", () => {
  it("a transaction and a write outside one fail as unavailable with Retry-After, then succeed", async () => {
    const path = join(tempDir("busy-"), "gateway.db");
    const store = new SqliteStore(path);
    const other = new Database(path);
    other.pragma("busy_timeout = 0");
    other.prepare("BEGIN IMMEDIATE").run();
    const tx = await store.transaction(async (t) => t.insertAdminToken("t1", "one", "h1")).then(() => undefined, (e: unknown) => e);
    expect(tx).toBeInstanceOf(GatewayError);
    expect((tx as GatewayError).code).toBe("RA_ERR_STORE_UNAVAILABLE");
    expect((tx as GatewayError).hints?.retryAfterSeconds).toBeGreaterThan(0);
    const single = await store.insertAdminToken("t2", "two", "h2").then(() => undefined, (e: unknown) => e);
    expect((single as GatewayError).code).toBe("RA_ERR_STORE_UNAVAILABLE");
    other.prepare("ROLLBACK").run();
    other.close();
    await store.transaction(async (t) => t.insertAdminToken("t3", "three", "h3"));
    expect(await store.findAdminTokenByHash("h3")).toEqual({ id: "t3", name: "three" });
    await store.close();
  }, 30_000);
});
