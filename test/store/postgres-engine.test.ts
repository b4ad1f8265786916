// The PostgreSQL engine's own guarantees (the shared behaviour is in test/store/conformance/): instances starting at
// once migrate once, one audit chain with many writers, transactions and savepoints roll back what they must and
// nothing else, and the database itself refuses edits of audit events.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { GatewayError } from "../../src/errors.js";
import { afterAll, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/audit-log.js";
import { openPostgresStore, migrationStatus, type PostgresStore } from "../../src/store/postgres/store.js";
import { PG_MIGRATIONS } from "../../src/store/postgres/migrations.js";
import { ARCHIVE_COLUMNS } from "../../src/store/postgres/schema-core.js";
import type { RequestRecord } from "../../src/store/types.js";
import { describeStore, openStore, storeStatus } from "../../src/store/open.js";
import { validateConfig } from "../../src/config/load.js";
import { findPgBin, lazyTestDatabase, testDatabase, type TestDatabase } from "../helpers/postgres.js";

const db = lazyTestDatabase();
const extraDbs: TestDatabase[] = [];
const stores: PostgresStore[] = [];

async function open(url?: string): Promise<PostgresStore> {
  // onError: the connections the kill test ends are reported here instead of on stderr.
  const s = await openPostgresStore({ url: url ?? (await db.get()).url, poolSize: 4, onError: () => undefined });
  stores.push(s);
  return s;
}

let n = 0;
function request(over: Partial<RequestRecord> = {}): RequestRecord {
  return { id: `r-${process.pid}-${++n}`, protocol: "est", requesterKind: "est-client", requesterId: "c1", profile: "tls-server",
    status: "pending", payload: "{}", createdAt: new Date().toISOString(), ...over };
}

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await Promise.allSettled(extraDbs.map((d) => d.drop()));
  await db.drop();
});

describe("PostgreSQL store engine", () => {
  it("two instances opening one fresh database at once apply each migration once", async () => {
    const fresh = await testDatabase();
    extraDbs.push(fresh);
    expect(await migrationStatus({ url: fresh.url })).toMatchObject({ current: 0, latest: PG_MIGRATIONS.length, server: { certificateBytes: null } });
    const [a] = await Promise.all([open(fresh.url), open(fresh.url), open(fresh.url)]);
    const rows = (await a.pool.query("SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version")).rows;
    expect(rows).toEqual(PG_MIGRATIONS.map((_, i) => ({ version: i + 1, n: 1 })));
    expect(await migrationStatus({ url: fresh.url })).toMatchObject({ current: PG_MIGRATIONS.length, latest: PG_MIGRATIONS.length });
    expect(await a.ping()).toBe(true);
    // Retention copies ARCHIVE_COLUMNS: they must be every column of certificates (but row_id) and of the archive.
    const cols = async (t: string) => (await a.pool.query<{ c: string }>("SELECT column_name AS c FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position", [t])).rows.map((r) => r.c);
    expect((await cols("certificates")).filter((c) => c !== "row_id")).toEqual(ARCHIVE_COLUMNS.split(", "));
    expect(await cols("certificates_archive")).toEqual([...ARCHIVE_COLUMNS.split(", "), "archived_at"]);
  });

  it("completing an issuance is a heap-only update: no index on certificates names stage or der, pages keep room", async () => {
    const s = await open();
    const defs = (await s.pool.query<{ d: string }>("SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid = 'certificates'::regclass")).rows.map((r) => r.d);
    expect(defs.length).toBeGreaterThanOrEqual(8);
    expect(defs.filter((d) => /\b(stage|der)\b/.test(d))).toEqual([]);
    const opts = (await s.pool.query<{ o: string[] | null }>("SELECT reloptions AS o FROM pg_class WHERE oid = 'certificates'::regclass")).rows[0].o;
    expect(opts).toContain("fillfactor=85");
  });

  it("4 instances appending 200 events each at once make one chain: seq 1..800, every link intact", async () => {
    const fresh = await testDatabase();
    extraDbs.push(fresh);
    const four = await Promise.all([1, 2, 3, 4].map(() => open(fresh.url)));
    await Promise.all(four.map((s, i) => {
      const audit = new AuditLog(s);
      // 200 appends per instance, all in flight at once: the pool's 4 connections race for the chain head.
      return Promise.all(Array.from({ length: 200 }, (_, k) => audit.record({ type: "test.append", actor: `instance-${i}`, data: { k } })));
    }));
    const seqs = (await four[0].pool.query<{ seq: number }>("SELECT seq FROM audit_events ORDER BY seq")).rows.map((r) => Number(r.seq));
    expect(seqs).toEqual(Array.from({ length: 800 }, (_, i) => i + 1));
    expect(await new AuditLog(four[3]).verify()).toEqual({ ok: true, events: 800 });
    const byActor = (await four[0].pool.query("SELECT actor, count(*)::int AS n FROM audit_events GROUP BY actor ORDER BY actor")).rows;
    expect(byActor).toEqual([0, 1, 2, 3].map((i) => ({ actor: `instance-${i}`, n: 200 })));
  });

  it("a transaction that throws leaves nothing behind, and its tx refuses use afterwards", async () => {
    const s = await open();
    const audit = new AuditLog(s);
    const before = (await s.queryAudit({ limit: 1000 })).length;
    const r = request();
    let kept: typeof s | undefined;
    await expect(s.transaction(async (tx) => {
      kept = tx as PostgresStore;
      await tx.insertRequest(r);
      await audit.record({ type: "test.rolled-back", actor: "t" }, tx);
      throw new Error("boom");
    })).rejects.toThrow("boom");
    expect(await s.getRequest(r.id)).toBeUndefined();
    expect((await s.queryAudit({ limit: 1000 })).length).toBe(before);
    await expect(kept!.getRequest(r.id)).rejects.toThrow(/after its transaction ended/);
  });

  it("a savepoint that throws (even on a failed statement) undoes only its writes; the outer transaction goes on", async () => {
    const s = await open();
    const [outer, inner, dup, after] = [request(), request(), request(), request()];
    const value = await s.transaction(async (tx) => {
      await tx.insertRequest(outer);
      await expect(tx.transaction(async (t2) => {
        await t2.insertRequest(inner);
        throw new Error("inner");
      })).rejects.toThrow("inner");
      // A statement error aborts a PostgreSQL transaction; inside a savepoint it must not take the outer one down.
      await expect(tx.transaction(async (t2) => {
        await t2.insertRequest(dup);
        await t2.insertRequest(outer); // duplicate key
      })).rejects.toThrow();
      await tx.insertRequest(after);
      return "done";
    });
    expect(value).toBe("done");
    expect(await s.getRequest(outer.id)).toBeDefined();
    expect(await s.getRequest(after.id)).toBeDefined();
    expect(await s.getRequest(inner.id)).toBeUndefined();
    expect(await s.getRequest(dup.id)).toBeUndefined();
  });

  it("the database refuses UPDATE, DELETE and TRUNCATE of audit events", async () => {
    const s = await open();
    const e = await new AuditLog(s).record({ type: "test.immutable", actor: "t", data: { v: 1 } });
    const c = new pg.Client({ connectionString: (await db.get()).url });
    await c.connect();
    try {
      await expect(c.query("UPDATE audit_events SET data = '{\"v\":2}' WHERE seq = $1", [e.seq])).rejects.toThrow(/append-only/);
      await expect(c.query("DELETE FROM audit_events WHERE seq = $1", [e.seq])).rejects.toThrow(/append-only/);
      await expect(c.query("TRUNCATE audit_events")).rejects.toThrow(/append-only/);
    } finally {
      await c.end();
    }
    const [again] = await s.queryAudit({ afterSeq: e.seq - 1, limit: 1 });
    expect(again).toEqual(e);
  });

  it("a connection killed inside a transaction fails it as 'unavailable', is never pooled again, and the next call reconnects", async () => {
    const s = await open();
    const r = request();
    const killer = new pg.Client({ connectionString: (await db.get()).url });
    await killer.connect();
    let err: unknown;
    try {
      await s.transaction(async (tx) => {
        await tx.insertRequest(r);
        // Every gateway connection of this database, this transaction's among them (the server's own view of who is who).
        await killer.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'enrollment-gateway'");
        await tx.getRequest(r.id);
      });
    } catch (e) {
      err = e;
    } finally {
      await killer.end();
    }
    // What every front-end renders as its own "try later" (RA_ERR_STORE_UNAVAILABLE, kind unavailable).
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe("RA_ERR_STORE_UNAVAILABLE");
    expect(await s.getRequest(r.id)).toBeUndefined();
    expect(await s.ping()).toBe(true);
  });

  it("the README's backup (pg_dump) and restore (pg_restore into an empty database) keep the chain, the rows and the ids", async () => {
    const [from, to] = [await testDatabase(), await testDatabase()];
    extraDbs.push(from, to);
    const a = await open(from.url);
    const audit = new AuditLog(a);
    for (let i = 0; i < 5; i++) await audit.record({ type: "test.backup", actor: "t", data: { i } });
    const kept = request();
    await a.insertRequest(kept);
    const dir = mkdtempSync(join(tmpdir(), "pg-dump-"));
    const run = promisify(execFile);
    try {
      const file = join(dir, "gateway.dump");
      await run(join(findPgBin(), "pg_dump"), ["--format=custom", "--no-owner", `--file=${file}`, from.url]);
      await run(join(findPgBin(), "pg_restore"), ["--no-owner", "--single-transaction", "--exit-on-error", `--dbname=${to.url}`, file]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const b = await open(to.url); // migrations: nothing to do, the restored schema_migrations says so
    expect(await migrationStatus({ url: to.url })).toMatchObject({ current: PG_MIGRATIONS.length, latest: PG_MIGRATIONS.length });
    expect(await new AuditLog(b).verify()).toEqual({ ok: true, events: 5 });
    expect((await new AuditLog(b).record({ type: "test.after-restore", actor: "t" })).seq).toBe(6);
    expect((await b.getRequest(kept.id))?.payload).toBe(kept.payload);
    // Identity sequences came along: a new request continues after the restored ones in the keyset order.
    const next = request();
    await b.insertRequest(next);
    const page = await b.pageRequests(undefined, { limit: 10 });
    expect(page.items.map((r) => r.id)).toEqual([kept.id, next.id]);
  });

  it("no statement a request or a job runs scans a table: each has an index path (EXPLAIN with enable_seqscan off)", async () => {
    const fresh = await testDatabase();
    extraDbs.push(fresh);
    const s = await open(fresh.url);
    // Every statement the store sends through its pool, with its parameters, as it sends it.
    const seen: Array<{ text: string; values: unknown[] }> = [];
    const query = s.pool.query.bind(s.pool) as (...a: unknown[]) => Promise<unknown>;
    (s.pool as unknown as { query: (...a: unknown[]) => Promise<unknown> }).query = (...a: unknown[]) => {
      const c = a[0] as { text?: string; values?: unknown[] } | string;
      if (typeof c === "object" && c.text) seen.push({ text: c.text, values: c.values ?? [] });
      return query(...a);
    };
    const now = new Date().toISOString();
    const later = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const cert = { serial: "0a1b", caName: "ca", profile: "tls", protocol: "est" as const, requestId: "r", requesterKind: "k", requesterId: "i",
      subject: "CN=h", sans: ["dns:h.example"], notBefore: now, notAfter: later, keyAlgorithm: "EC", stage: "intent" as const, tbsSha256: "00", createdAt: now };
    await s.insertCertificateIntent(cert);
    await s.completeIssuance(cert.serial, new Uint8Array([48, 0]));
    await s.getCertificate(cert.serial);
    await s.getCertificate("ffff"); // miss: the archive too
    await s.certificateStatus("ffff");
    await s.replaceable({ kind: "k", id: "i" }, "tls", cert.sans, later, now, "x");
    await s.findValidByName("dns:h.example", now, 10);
    await s.findHeldByName("h.example", now, 10);
    await s.revoke(cert.serial, 6, now);
    await s.releaseHold(cert.serial);
    await s.markReplaced(cert.serial, "0a1c");
    await s.insertNotice(cert.serial, "expiring", now);
    await s.renewalDue("tls", now, later);
    await s.missedRenewals(now, 10);
    await s.missedRenewals(now, 10, "tls");
    await s.countExpiringWithin(30);
    await s.issuedAfter("", 10);
    await s.revokedFor("ca");
    const page = await s.pageCertificates({}, { limit: 1 });
    await s.pageCertificates({ requester: "k:i" }, { limit: 1, cursor: page.next });
    await s.pageCertificates({ profile: "tls", owner: "o" }, { limit: 1 });
    await s.archiveExpired(now, now, 10);
    const r = request({ lookupKey: "lk-1" });
    await s.insertRequest(r);
    await s.findRequestByLookupKey("lk-1");
    await s.getRequest(r.id);
    await s.decideRequest(r.id, "approved", "admin");
    await s.updateRequest(r.id, { status: "failed" });
    await s.listRequests("pending");
    await s.countPending();
    await s.pageRequests("pending", { limit: 1 });
    await new AuditLog(s).record({ type: "t", actor: "a" });
    await s.pageAudit({ type: "t" }, { limit: 10 });
    await s.insertSecret({ id: "s1", profile: "tls", protocols: ["est"], secretHash: "h1", createdAt: now, expiresAt: later });
    await s.redeemSecret("s1", now);
    await s.findSecretByHash("h1");
    await s.getSecret("s1");
    await s.markChallengeUsed("c1", "scep", now);
    await s.findAdminTokenByHash("t1");
    await s.latestCrl("ca");
    await s.nextCrlNumber("ca");
    expect(seen.length).toBeGreaterThan(40);
    const c = new pg.Client({ connectionString: fresh.url });
    await c.connect();
    try {
      await c.query("SET enable_seqscan = off");
      const scans: string[] = [];
      for (const st of seen) {
        if (/^\s*(INSERT|BEGIN|COMMIT|ROLLBACK)/i.test(st.text) && !/\bSELECT\b/i.test(st.text)) continue;
        const plan = (await c.query(`EXPLAIN ${st.text}`, st.values)).rows.map((x: Record<string, string>) => x["QUERY PLAN"]).join("\n");
        if (/Seq Scan/.test(plan)) scans.push(`${st.text}\n${plan}`);
      }
      expect(scans).toEqual([]);
    } finally {
      await c.end();
    }
  });

  it("the config's store: key opens PostgreSQL from a secret reference; the URL's password never shows", async () => {
    const { url } = await db.get();
    process.env.PG_ENGINE_TEST_URL = url;
    try {
      const cfg = validateConfig({ store: { kind: "postgres", url: { env: "PG_ENGINE_TEST_URL" }, poolSize: 2 } });
      expect(cfg.store).toEqual({ kind: "postgres", url: { env: "PG_ENGINE_TEST_URL" }, poolSize: 2, statementTimeoutMs: 30_000, connectTimeoutMs: 5_000 });
      const s = await openStore(cfg, "/nonexistent", () => undefined);
      stores.push(s as PostgresStore);
      expect(await s.ping()).toBe(true);
      expect(await storeStatus(cfg, "/nonexistent")).toMatchObject({ engine: "postgres", current: PG_MIGRATIONS.length, latest: PG_MIGRATIONS.length });
      const password = new URL(url).password;
      expect(describeStore(cfg, "/nonexistent")).toMatch(/^postgres 127\.0\.0\.1:\d+\/t_[0-9a-f]+$/);
      expect(describeStore(cfg, "/nonexistent")).not.toContain(password);
      const bad = validateConfig({ store: { kind: "postgres", url: `mysql://u:${password}@h/db` } });
      const err = await openStore(bad, "/nonexistent").catch((e: Error) => e);
      expect((err as Error).message).toMatch(/postgres:\/\//);
      expect((err as Error).message).not.toContain(password);
      expect(validateConfig({}).store).toEqual({ kind: "sqlite" });
    } finally {
      delete process.env.PG_ENGINE_TEST_URL;
    }
  });
});
