import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { join } from "node:path";
import { GroupCommit } from "../../src/ca/group-commit.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { tempDir } from "../helpers/openssl.js";

describe("GroupCommit: concurrent write steps share a transaction, each settles after its commit", () => {
  let path: string;
  let store: SqliteStore;
  let other: Database.Database;
  let commits: GroupCommit;
  const rows = (): string[] => (other.prepare("SELECT k FROM gc_probe ORDER BY rowid").all() as Array<{ k: string }>).map((r) => r.k);

  beforeAll(() => {
    path = join(tempDir("gw-gc-"), "g.db");
    store = new SqliteStore(path);
    store.raw.exec("CREATE TABLE gc_probe (k TEXT PRIMARY KEY)");
    other = new Database(path, { readonly: true }); // a second connection sees only committed rows
    commits = new GroupCommit(store);
  });
  afterAll(async () => {
    other.close();
    await store.close();
  });

  const insert = (k: string) => () => {
    store.raw.prepare("INSERT INTO gc_probe (k) VALUES (?)").run(k);
    return k;
  };

  it("a job's promise resolves only once its row is committed", async () => {
    expect(await commits.run(insert("solo"))).toBe("solo");
    expect(rows()).toContain("solo");
  });

  it("jobs of one turn share one transaction and keep their order", async () => {
    let seenBySiblings = 0;
    const batch = ["a", "b", "c", "d"].map((k) => commits.run(() => {
      // Inside the shared transaction the earlier jobs' rows are visible, but not yet to another connection.
      seenBySiblings = (store.raw.prepare("SELECT count(*) AS n FROM gc_probe WHERE k IN ('a','b','c','d')").get() as { n: number }).n;
      expect(rows()).not.toContain(k);
      return insert(k)();
    }));
    expect(await Promise.all(batch)).toEqual(["a", "b", "c", "d"]);
    expect(seenBySiblings).toBe(3);
    expect(rows().slice(-4)).toEqual(["a", "b", "c", "d"]);
  });

  it("a failing job rolls back alone; the ones before and after it commit", async () => {
    const results = await Promise.allSettled([
      commits.run(insert("e")),
      commits.run(() => {
        insert("half")();
        throw new Error("hook failed");
      }),
      commits.run(insert("e")), // duplicate key: fails on its own
      commits.run(insert("f")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe("hook failed");
    const all = rows();
    expect(all).toContain("e");
    expect(all).toContain("f");
    expect(all).not.toContain("half");
    expect(store.raw.inTransaction).toBe(false);
  });

  it("after a failing job the batch runs again job by job: the others commit once, the failing one alone fails", async () => {
    const runs = new Map<string, number>();
    const counted = (k: string, fail = false) => () => {
      runs.set(k, (runs.get(k) ?? 0) + 1);
      insert(k)();
      if (fail) throw new Error("late failure");
      return k;
    };
    const results = await Promise.allSettled([commits.run(counted("i")), commits.run(counted("j", true)), commits.run(counted("k"))]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    // "i" ran in the rolled-back batch and again alone; "k" never ran in the batch (it stopped at "j").
    expect([runs.get("i"), runs.get("j"), runs.get("k")]).toEqual([2, 2, 1]);
    expect(rows().filter((k) => ["i", "j", "k"].includes(k))).toEqual(["i", "k"]);
  });

  it("a batch whose commit fails keeps none of its jobs and rejects them all", async () => {
    // A deferred foreign key is checked at COMMIT: no job throws, the transaction does.
    store.raw.exec("CREATE TABLE gc_child (k TEXT REFERENCES gc_probe(k) DEFERRABLE INITIALLY DEFERRED)");
    const orphan = () => store.raw.prepare("INSERT INTO gc_child (k) VALUES ('missing')").run();
    const results = await Promise.allSettled([commits.run(insert("l")), commits.run(orphan), commits.run(insert("m"))]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(rows()).not.toContain("l");
    expect(rows()).not.toContain("m");
    expect(store.raw.inTransaction).toBe(false);
    expect(await commits.run(insert("n"))).toBe("n");
  });

  it("an error inside a nested transaction of a job does not leak into the batch", async () => {
    const [ok, bad] = await Promise.allSettled([
      commits.run(insert("g")),
      // A savepoint of the batch's transaction (the outer store would wait for the batch to end).
      commits.run((tx) => tx.transaction(async () => {
        insert("h")();
        throw new Error("nested");
      })),
    ]);
    expect(ok.status).toBe("fulfilled");
    expect(bad.status).toBe("rejected");
    expect(rows()).toContain("g");
    expect(rows()).not.toContain("h");
  });
});
