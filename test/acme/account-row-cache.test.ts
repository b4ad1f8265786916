import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import type { AcmeAccountRecord, AcmeAuthzRecord } from "../../src/store/acme-types.js";
import { tempDir } from "../helpers/openssl.js";

const path = join(tempDir(), "accounts.db");
const store = new SqliteStore(path);
afterAll(() => store.close());

const account = (id: string): AcmeAccountRecord => ({ id, endpoint: "default", thumbprint: `tp-${id}`, jwk: "{}", status: "valid", contact: ["mailto:a@example.com"], createdAt: "2025-01-01T00:00:00Z" });

const authz = (id: string, accountId: string): AcmeAuthzRecord => ({
  id, accountId, identifier: { type: "dns", value: `${id}.example.com` }, wildcard: false, status: "pending", expires: "2999-01-01T00:00:00Z",
  token: `tok-${id}`, challenges: [{ type: "http-01", status: "pending" }], updatedAt: "2025-01-01T00:00:00Z",
});
/** The store reads data_version at most once per synchronous run: the next request is a later run. */
const nextRun = () => new Promise<void>((r) => setImmediate(r));

describe("ACME account and authorization rows kept in memory", () => {
  it("see an update made through the store at once", async () => {
    await store.acme.insertAccount(account("a1"));
    expect((await store.acme.getAccount("a1"))?.status).toBe("valid");
    expect(await store.acme.getAccount("a1")).toBe(await store.acme.getAccount("a1")); // served from memory
    await store.acme.updateAccount("a1", { status: "deactivated" });
    expect((await store.acme.getAccount("a1"))?.status).toBe("deactivated");
    await store.acme.updateAccount("a1", { jwk: '{"k":1}', thumbprint: "tp-new" });
    expect(await store.acme.getAccount("a1")).toMatchObject({ jwk: '{"k":1}', thumbprint: "tp-new" });
  });

  it("see a deactivation committed by another connection (another instance, the CLI) from the next run on", async () => {
    await store.acme.insertAccount(account("a2"));
    await store.acme.insertAuthz(authz("z2", "a2"));
    expect((await store.acme.getAccount("a2"))?.status).toBe("valid");
    expect((await store.acme.getAuthz("z2"))?.status).toBe("pending");
    await nextRun();
    const other = new Database(path);
    try {
      other.prepare("UPDATE acme_accounts SET status = 'deactivated' WHERE id = ?").run("a2");
      other.prepare("UPDATE acme_authzs SET status = 'deactivated' WHERE id = ?").run("z2");
    } finally {
      other.close();
    }
    await nextRun();
    expect((await store.acme.getAccount("a2"))?.status).toBe("deactivated");
    expect((await store.acme.getAuthz("z2"))?.status).toBe("deactivated");
  });

  it("see a deactivation made through a second store on the same file (another instance) from the next run on", async () => {
    const b = new SqliteStore(path);
    try {
      await store.acme.insertAccount(account("a6"));
      await store.acme.insertAuthz(authz("z6", "a6"));
      expect((await store.acme.getAccount("a6"))?.status).toBe("valid");
      expect((await store.acme.getAuthz("z6"))?.status).toBe("pending");
      expect((await b.acme.getAccount("a6"))?.status).toBe("valid"); // B caches it too
      await nextRun();
      await b.acme.updateAccount("a6", { status: "deactivated" });
      await b.acme.updateAuthz("z6", { status: "deactivated" });
      expect((await b.acme.getAccount("a6"))?.status).toBe("deactivated");
      await nextRun();
      expect((await store.acme.getAccount("a6"))?.status).toBe("deactivated");
      expect((await store.acme.getAuthz("z6"))?.status).toBe("deactivated");
      // And back the other way: A's write empties B's cache.
      await store.acme.updateAccount("a6", { contact: ["mailto:b@example.com"] });
      await nextRun();
      expect((await b.acme.getAccount("a6"))?.contact).toEqual(["mailto:b@example.com"]);
    } finally {
      await b.close();
    }
  });

  it("see an authorization written through the store at once, claims and settlements alike", async () => {
    await store.acme.insertAccount(account("a5"));
    await store.acme.insertAuthz(authz("z5", "a5"));
    const before = (await store.acme.getAuthz("z5"))!;
    expect(await store.acme.getAuthz("z5")).toBe(before); // served from memory
    expect(await store.acme.claimChallenge("z5", "http-01", [{ type: "http-01", status: "processing" }], before.updatedAt)).toBe(true);
    expect((await store.acme.getAuthz("z5"))?.challenges[0].status).toBe("processing");
    await store.acme.updateAuthz("z5", { status: "valid", challenges: [{ type: "http-01", status: "valid" }] });
    expect(await store.acme.getAuthz("z5")).toMatchObject({ status: "valid", challenges: [{ status: "valid" }] });
    expect(Object.isFrozen((await store.acme.getAuthz("z5"))!.challenges[0])).toBe(true);
  });

  it("keep nothing read inside a transaction that rolls back", async () => {
    await store.acme.insertAccount(account("a3"));
    await expect(store.transaction(async (tx) => {
      await tx.acme.updateAccount("a3", { status: "revoked" });
      expect((await tx.acme.getAccount("a3"))?.status).toBe("revoked");
      throw new Error("roll back");
    })).rejects.toThrow("roll back");
    expect((await store.acme.getAccount("a3"))?.status).toBe("valid");
  });

  it("are frozen, so no caller can change what the next request sees", async () => {
    await store.acme.insertAccount(account("a4"));
    const a = (await store.acme.getAccount("a4"))!;
    expect(Object.isFrozen(a) && Object.isFrozen(a.contact)).toBe(true);
    expect(await store.acme.getAccount("missing")).toBeUndefined();
  });
});
