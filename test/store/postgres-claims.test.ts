// PostgreSQL claims across gateway instances: two stores (two pools) on one database stand for two gateways. Every
// one-time step must be won by exactly one of them, whether the two race freely (Promise.all) or the interleaving is
// forced (one side's claim held open in a transaction while the other's statement is in flight).
import { afterAll, describe, expect, it } from "vitest";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/store.js";
import type { Store } from "../../src/store/types.js";
import type { CmpTransactionRecord } from "../../src/store/cmp-types.js";
import type { SessionRecord } from "../../src/store/session-types.js";
import type { DiscoverySighting } from "../../src/store/discovery-types.js";

const testDb = lazyTestDatabase();
const stores: PostgresStore[] = [];

let opened: Promise<{ a: PostgresStore; b: PostgresStore }> | undefined;
/** Two gateway instances (two pools) on one fresh database; both migrate at start, once between them. */
function two() {
  return (opened ??= (async () => {
    const { url } = await testDb.get();
    const [a, b] = await Promise.all([openPostgresStore({ url, poolSize: 4 }), openPostgresStore({ url, poolSize: 4 })]);
    stores.push(a, b);
    return { a, b };
  })());
}

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => {})));
  await testDb.drop();
});

class Rollback extends Error {}

/** Runs `fn` in a transaction of `s` and keeps it open (its row locks held) until `end` is called. */
async function heldOpen<T>(s: Store, fn: (tx: Store) => Promise<T>): Promise<{ value: T; end(commit: boolean): Promise<void> }> {
  let finish!: (commit: boolean) => void;
  const decided = new Promise<boolean>((r) => { finish = r; });
  let ready!: (v: T) => void;
  const got = new Promise<T>((r) => { ready = r; });
  const done = s.transaction(async (tx) => {
    ready(await fn(tx));
    if (!(await decided)) throw new Rollback();
  }).catch((e: unknown) => { if (!(e instanceof Rollback)) throw e; });
  const value = await Promise.race([got, done.then(() => { throw new Error("transaction ended early"); })]);
  return { value, end: async (commit) => { finish(commit); await done; } };
}

/** Waits (bounded) until some backend of this database is blocked on a lock: the racing statement is in flight. */
async function lockWaiter(s: PostgresStore): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = await s.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
    if (r.rows[0].n > 0) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error("no backend ever waited on the lock");
}

const t0 = Date.parse("2030-01-01T00:00:00.000Z");
const iso = (ms: number) => new Date(t0 + ms).toISOString();

describe("PostgreSQL claims across two instances", () => {
  it("an ACME nonce is claimed once: free race and forced interleaving; both instances get one nonce key", async () => {
    const { a, b } = await two();
    const [ka, kb] = await Promise.all([a.acme.nonceKey(), b.acme.nonceKey()]);
    expect(ka.length).toBe(32);
    expect(kb.equals(ka)).toBe(true);

    const nonces = Array.from({ length: 40 }, (_, i) => Buffer.from(`nonce-${i}`));
    const won = await Promise.all(nonces.map(async (n) => {
      const [x, y] = await Promise.all([a.acme.claimNonce(t0, n), b.acme.claimNonce(t0, n)]);
      return Number(x) + Number(y);
    }));
    expect(won).toEqual(nonces.map(() => 1));
    expect(await a.acme.claimNonce(t0, nonces[0])).toBe(false);

    // A's claim is uncommitted while B claims: B waits on the key, and once A commits B's claim fails.
    const held = await heldOpen(a, (tx) => tx.acme.claimNonce(t0 + 1, Buffer.from("held")));
    expect(held.value).toBe(true);
    const pending = b.acme.claimNonce(t0 + 1, Buffer.from("held"));
    await lockWaiter(a);
    await held.end(true);
    expect(await pending).toBe(false);
    expect(await b.acme.countUsedNonces()).toBe(41);
    expect(await a.acme.purgeUsedNonces(t0 + 1, 1000)).toBe(40);
  });

  it("finalize is claimed once; an EAB key binds once", async () => {
    const { a, b } = await two();
    await a.acme.insertAccount({ id: "acc1", endpoint: "acme", thumbprint: "tp1", jwk: "{}", status: "valid", contact: [], createdAt: iso(0) });
    for (let i = 0; i < 20; i++) {
      await a.acme.insertOrder({
        id: `ord${i}`, accountId: "acc1", endpoint: "acme", status: "ready", identifiers: [{ type: "dns", value: "x.example" }],
        authzIds: [], profile: "tls", expires: iso(3600_000), createdAt: iso(i),
      });
      const [x, y] = await Promise.all([a.acme.claimOrderForFinalize(`ord${i}`, "req-a"), b.acme.claimOrderForFinalize(`ord${i}`, "req-b")]);
      expect(Number(x) + Number(y)).toBe(1);
      const o = await b.acme.getOrder(`ord${i}`);
      expect(o?.status).toBe("processing");
      expect(o?.requestId).toBe(x ? "req-a" : "req-b");
    }
    expect((await a.acme.orderIdsForAccount("acc1", { createdAt: iso(9), id: "ord9" }, 5)).map((o) => o.id)).toEqual(["ord10", "ord11", "ord12", "ord13", "ord14"]);

    await a.acme.insertEabKey({ id: "kid1", hmacKey: "k", profiles: [], nameSuffixes: [], createdBy: "t", createdAt: iso(0) });
    const [x, y] = await Promise.all([a.acme.bindEabKey("kid1", "acc1"), b.acme.bindEabKey("kid1", "acc2")]);
    expect(Number(x) + Number(y)).toBe(1);
  });

  it("a CMP transactionID is claimed once, and expired transactions are shared out without overlap", async () => {
    const { a, b } = await two();
    const ids = Array.from({ length: 30 }, (_, i) => `tx${String(i).padStart(2, "0")}`);
    for (const id of ids) {
      const [x, y] = await Promise.all([a.cmp.claim(id, iso(0), iso(600_000)), b.cmp.claim(id, iso(0), iso(600_000))]);
      expect(Number(x) + Number(y)).toBe(1);
      const t: CmpTransactionRecord = {
        id, label: "cmp", lastNonce: new Uint8Array([1, 2, 3]), protection: { kind: "mac", kid: "k1" }, state: "waitingConfirm",
        certReqId: 0n, bodyType: "ip", certDer: new Uint8Array([48, 0]), serial: "ab", expiresAt: iso(1000),
      };
      expect(await (x ? a : b).cmp.open(t, iso(600_000))).toBe(true);
    }
    expect(await b.cmp.get("tx00")).toMatchObject({ id: "tx00", state: "waitingConfirm", serial: "ab", certReqId: 0n });
    expect(await a.cmp.countOpen()).toBe(30);

    // Free race in small batches: every expired transaction goes to exactly one instance.
    const seen: string[] = [];
    for (;;) {
      const [ra, rb] = await Promise.all([a.cmp.claimExpired(iso(2000), iso(60_000), 4), b.cmp.claimExpired(iso(2000), iso(60_000), 4)]);
      if (!ra.length && !rb.length) break;
      seen.push(...ra.map((t) => t.id), ...rb.map((t) => t.id));
    }
    expect(seen.sort()).toEqual(ids);

    // Forced: A's claim of the (now lapsed) settle leases is still uncommitted; B skips those rows instead of waiting.
    const held = await heldOpen(a, (tx) => tx.cmp.claimExpired(iso(70_000), iso(200_000), 10));
    expect(held.value).toHaveLength(10);
    const rb = await b.cmp.claimExpired(iso(70_000), iso(200_000), 100);
    expect(rb).toHaveLength(20);
    expect(new Set([...held.value, ...rb].map((t) => t.id)).size).toBe(30);
    await held.end(true);
    expect(await a.cmp.claimExpired(iso(70_000), iso(200_000), 100)).toEqual([]);
    expect(await b.cmp.settled("tx00")).toBe(true);
    expect(await a.cmp.settled("tx00")).toBe(false);
  });

  it("an outbox row is claimed by one dispatcher, and a sink's later rows wait behind its head", async () => {
    const { a, b } = await two();
    for (let s = 0; s < 10; s++) {
      const sink = `sink${s}`;
      const first = await a.outbox.enqueue(sink, 1, "{}", iso(0));
      await a.outbox.enqueue(sink, 2, "{}", iso(0));
      const [x, y] = await Promise.all([a.outbox.claimNext(sink, iso(10), iso(60_000)), b.outbox.claimNext(sink, iso(10), iso(60_000))]);
      const got = [x, y].filter((r) => r !== undefined);
      expect(got.map((r) => r!.id)).toEqual([first]);
    }

    // Forced: A's claim of the head is uncommitted; B's claim waits for it, then takes nothing (not the second row).
    const first = await a.outbox.enqueue("held", 1, "{}", iso(0));
    await a.outbox.enqueue("held", 2, "{}", iso(0));
    const held = await heldOpen(a, (tx) => tx.outbox.claimNext("held", iso(10), iso(60_000)));
    expect(held.value?.id).toBe(first);
    const pending = b.outbox.claimNext("held", iso(10), iso(60_000));
    await lockWaiter(a);
    await held.end(true);
    expect(await pending).toBeUndefined();
    expect(await b.outbox.markDelivered(first, iso(20))).toBe(true);
    expect(await a.outbox.markDelivered(first, iso(20))).toBe(false);
    expect((await b.outbox.claimNext("held", iso(30), iso(60_000)))?.auditSeq).toBe(2);
  });

  it("a job lease has one holder; a CRL build lease has one owner", async () => {
    const { a, b } = await two();
    const now = new Date(t0);
    for (let i = 0; i < 20; i++) {
      const [x, y] = await Promise.all([a.leases.acquire(`job${i}`, "A", 30_000, now), b.leases.acquire(`job${i}`, "B", 30_000, now)]);
      expect(Number(x) + Number(y)).toBe(1);
      expect(await b.leases.holder(`job${i}`)).toEqual({ owner: x ? "A" : "B", until: iso(30_000) });
      const [ca, cb] = await Promise.all([a.crl.claim(`ca${i}`, "A", iso(0), iso(60_000)), b.crl.claim(`ca${i}`, "B", iso(0), iso(60_000))]);
      expect(Number(ca) + Number(cb)).toBe(1);
    }
    // Lapsed: the other takes it over, and one run per interval whoever holds it.
    expect(await b.leases.acquire("job0", "C", 30_000, new Date(t0 + 31_000))).toBe(true);
    expect(await b.leases.claimRun("job0", "C", 10_000, new Date(t0 + 31_000))).toBe(true);
    expect(await a.leases.claimRun("job0", "C", 10_000, new Date(t0 + 32_000))).toBe(false);
  });

  it("CRL dirty markers count every change from both instances", async () => {
    const { a, b } = await two();
    await Promise.all(Array.from({ length: 25 }, (_, i) => (i % 2 ? a : b).crl.markDirty("caX", iso(i))));
    const st = await b.crl.state("caX");
    expect(st.generation).toBe(25);
    expect(await a.crl.markClean("caX", 24, iso(100))).toBe(false);
    expect(await a.crl.markClean("caX", 25, iso(100))).toBe(true);
    expect(await b.crl.dirty()).toEqual([]);
  });

  it("sessions: made on A, read, touched and deleted on B; concurrent logins stay under the cap", async () => {
    const { a, b } = await two();
    const rec = (id: string, ms: number): SessionRecord => ({
      idHash: id, adminId: "adm", adminName: "ops", createdAt: iso(ms), lastSeen: iso(ms), expiresAt: iso(ms + 3600_000),
    });
    const cut = { now: iso(0), idleBefore: iso(-1800_000) };
    await a.sessions.create(rec("h1", 0), cut, 10, 10);
    expect(await b.sessions.get("h1")).toEqual(rec("h1", 0));
    expect(await b.sessions.touch("h1", iso(5000), iso(2000))).toBe(true);
    expect(await a.sessions.touch("h1", iso(4000), iso(1000))).toBe(false);
    expect((await a.sessions.get("h1"))?.lastSeen).toBe(iso(5000));
    expect(await b.sessions.delete("h1")).toBe(true);
    expect(await a.sessions.get("h1")).toBeUndefined();

    await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).sessions.create(rec(`s${i}`, i), cut, 3, 10)));
    expect(await a.sessions.count()).toBe(3);
  });

  it("discovery: two instances reporting one certificate at once keep both locations", async () => {
    const { a, b } = await two();
    const s: DiscoverySighting = {
      fingerprint: "ff".repeat(32), subject: "CN=x", issuer: "CN=Old CA", serial: "01", notBefore: iso(0), notAfter: iso(1000),
      keyAlgorithm: "RSA 1024", keySize: 1024, signatureAlgorithm: "sha1WithRSAEncryption", sans: ["dns:x"], der: new Uint8Array([48, 0]),
    };
    await Promise.all([a.discovery.upsert(s, ["tls://b:443", "tls://a:443"], iso(5)), b.discovery.upsert(s, ["file:/c", "tls://a:443"], iso(6))]);
    const got = await a.discovery.get("FF".repeat(32));
    expect(got?.locations).toEqual(["file:/c", "tls://a:443", "tls://b:443"]);
    expect([iso(5), iso(6)]).toContain(got?.firstSeen);
    expect(await b.discovery.count({ weak: true, issuer: "old ca" })).toBe(1);
    expect(await b.discovery.list({ expiringBefore: iso(500) })).toEqual([]);
  });
  it("the other statements: CAS changes, keyset pages, bounded purges, CRL storage", async () => {
    const { a, b } = await two();
    // ACME authorizations: one round trip for several, in the order asked; a challenge claimed once per updated_at.
    await a.acme.insertAccount({ id: "acc9", endpoint: "acme", thumbprint: "tp9", jwk: "{}", status: "valid", contact: ["mailto:a@x"], createdAt: iso(0) });
    await a.acme.updateAccount("acc9", { status: "deactivated" });
    expect(await b.acme.accountByThumbprint("tp9")).toMatchObject({ id: "acc9", status: "deactivated", contact: ["mailto:a@x"] });
    const authz = (id: string, value: string, wildcard: boolean) => ({
      id, accountId: "acc9", identifier: { type: "dns" as const, value }, wildcard, status: "pending" as const, expires: iso(9000_000),
      token: "tok", challenges: [{ type: "dns-01" as const, status: "pending" as const }], updatedAt: iso(0),
    });
    await a.acme.insertAuthz(authz("az1", "a.example", false));
    await a.acme.insertAuthz(authz("az2", "b.example", true));
    expect((await b.acme.getAuthzs(["az2", "nope", "az1"])).map((x) => [x.id, x.wildcard])).toEqual([["az2", true], ["az1", false]]);
    const processing = [{ type: "dns-01" as const, status: "processing" as const }];
    const [c1, c2] = await Promise.all([a.acme.claimChallenge("az2", "dns-01", processing, iso(0)), b.acme.claimChallenge("az2", "dns-01", processing, iso(0))]);
    expect(Number(c1) + Number(c2)).toBe(1);
    await a.acme.updateAuthz("az2", { status: "valid" });
    expect(await b.acme.validAuthzIdentifiers("acc9", iso(0))).toEqual([{ type: "dns", value: "*.b.example" }]);
    expect((await b.acme.findReusableAuthz("acc9", { type: "dns", value: "b.example" }, true, iso(1)))?.id).toBe("az2");
    expect(await b.acme.findReusableAuthz("acc9", { type: "dns", value: "b.example" }, false, iso(1))).toBeUndefined();

    // CMP: advance and finish compare-and-set on (state, nonce); remembered IDs are purged in bounded batches.
    expect(await a.cmp.claim("adv", iso(0), iso(10))).toBe(true);
    const t: CmpTransactionRecord = {
      id: "adv", label: "l", lastNonce: new Uint8Array([7]), protection: { kind: "signature", signerCert: new Uint8Array([48, 1, 0]) },
      state: "pending", certReqId: 5n, bodyType: "cp", requestId: "r1", expiresAt: iso(5000),
    };
    expect(await a.cmp.open(t, iso(10))).toBe(true);
    const next = { ...t, state: "waitingConfirm" as const, lastNonce: new Uint8Array([8]), serial: "cd", certDer: new Uint8Array([48, 0]) };
    expect(await b.cmp.advance(next, { state: "pending", lastNonce: new Uint8Array([9]) }, iso(10))).toBe(false);
    expect(await b.cmp.advance(next, { state: "pending", lastNonce: new Uint8Array([7]) }, iso(10))).toBe(true);
    expect(await a.cmp.get("adv")).toEqual(next);
    expect(await a.cmp.finish("adv", { state: "waitingConfirm", lastNonce: new Uint8Array([8]) })).toBe(true);
    expect(await b.cmp.finish("adv", { state: "waitingConfirm", lastNonce: new Uint8Array([8]) })).toBe(false);
    expect(await a.cmp.claim("adv", iso(5), iso(20))).toBe(false); // remembered until iso(10)
    expect(await a.cmp.claim("adv", iso(10), iso(20))).toBe(true);
    for (let i = 0; i < 5; i++) await a.cmp.claim(`old${i}`, iso(0), iso(1));
    expect(await b.cmp.purge(iso(15), 3)).toBe(3);
    expect(await b.cmp.purge(iso(15), 3)).toBe(2);

    // Outbox: retry, dead letter, redelivery, paging and counts.
    const id = await a.outbox.enqueue("w", 7, '{"e":1}', iso(0));
    expect((await b.outbox.claimNext("w", iso(0), iso(100)))?.id).toBe(id);
    expect(await b.outbox.reschedule(id, iso(50), "boom")).toBe(true);
    expect(await a.outbox.claimNext("w", iso(10), iso(100))).toBeUndefined(); // not due until iso(50)
    expect((await a.outbox.claimNext("w", iso(50), iso(100)))?.attempts).toBe(1);
    expect(await a.outbox.release(id, iso(60))).toBe(true);
    await a.outbox.claimNext("w", iso(60), iso(100));
    expect(await a.outbox.markDead(id, "gone")).toBe(true);
    expect(await b.outbox.list({ status: "dead", sink: "w" })).toMatchObject([{ id, auditSeq: 7, attempts: 2, lastError: "gone", payload: '{"e":1}' }]);
    expect((await b.outbox.counts()).find((c) => c.sink === "w")).toEqual({ sink: "w", status: "dead", count: 1 });
    expect(await b.outbox.redeliverDead(["w", "other"], iso(70))).toBe(1);
    expect(await b.outbox.get(id)).toMatchObject({ status: "pending", attempts: 0, nextAttemptAt: iso(70) });
    expect(await b.outbox.list({ afterId: id })).toEqual([]);

    // CRLs: revoked rows paged in (revoked_at, serial) order; numbers above the stored ones; only the newest kept.
    for (let i = 0; i < 5; i++) {
      await a.pool.query(`INSERT INTO certificates (serial, ca_name, profile, protocol, request_id, requester_kind, requester_id, subject, sans,
        not_before, not_after, key_algorithm, stage, tbs_sha256, revoked_at, revocation_reason, created_at)
        VALUES ($1, 'caR', 'p', 'est', 'r', 'k', 'i', 'CN=x', '[]', $2, $2, 'EC P-256', 'issued', 'h', $3, $4, $2)`,
      [`0${i}`, iso(0), iso(i < 3 ? 100 : 200), i === 4 ? null : 1]);
    }
    const seen: string[] = [];
    let cur = await a.crl.forEachRevoked("caR", undefined, 2, (serial, _at, reason) => seen.push(`${serial}:${reason}`));
    while (cur) cur = await a.crl.forEachRevoked("caR", cur, 2, (serial, _at, reason) => seen.push(`${serial}:${reason}`));
    expect(seen).toEqual(["00:1", "01:1", "02:1", "03:1", "04:0"]);
    expect(await b.crl.nextNumber("caR", 1000)).toBe(1000);
    for (const n of [1000, 1500, 2000]) await a.crl.save({ caName: "caR", number: n, thisUpdate: iso(n), nextUpdate: iso(n + 1), der: new Uint8Array([n % 256]) }, 2);
    expect(await b.crl.nextNumber("caR", 1000)).toBe(2001);
    expect(await b.crl.latestMeta("caR")).toEqual({ number: 2000, thisUpdate: iso(2000), nextUpdate: iso(2001) });
    expect((await b.crl.latest("caR"))?.der).toEqual(Buffer.from([2000 % 256]));
    expect((await a.pool.query("SELECT number FROM crls WHERE ca_name = 'caR' ORDER BY number")).rows.map((r) => Number(r.number))).toEqual([1500, 2000]);
    await a.crl.claim("caR", "A", iso(0), iso(10));
    expect(await b.crl.claim("caR", "B", iso(5), iso(15))).toBe(false);
    await a.crl.release("caR", "A");
    expect(await b.crl.claim("caR", "B", iso(5), iso(15))).toBe(true);
  });
  it("multi-statement writes join the caller's transaction: a rollback leaves neither the session nor the CRL", async () => {
    const { a, b } = await two();
    const sess: SessionRecord = { idHash: "txs", adminId: "adm", adminName: "ops", createdAt: iso(0), lastSeen: iso(0), expiresAt: iso(3600_000) };
    const crl = { caName: "caT", number: 7, thisUpdate: iso(0), nextUpdate: iso(1), der: new Uint8Array([1]) };
    await expect(a.transaction(async (tx) => {
      await tx.sessions.create(sess, { now: iso(0), idleBefore: iso(-1) }, 10, 10);
      await tx.crl.save(crl, 3);
      expect(await tx.sessions.get("txs")).toEqual(sess);
      throw new Error("undo");
    })).rejects.toThrow("undo");
    expect(await b.sessions.get("txs")).toBeUndefined();
    expect(await b.crl.latest("caT")).toBeUndefined();
    await a.transaction(async (tx) => {
      await tx.crl.save(crl, 3);
      await tx.transaction(async (sp) => sp.sessions.create(sess, { now: iso(0), idleBefore: iso(-1) }, 10, 10));
    });
    expect(await b.sessions.get("txs")).toEqual(sess);
    expect((await b.crl.latestMeta("caT"))?.number).toBe(7);
  });
});
