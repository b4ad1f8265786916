// Jobs that must run once across instances: two gateways on one data directory, each with its own store connection,
// renewal monitor and retention (distinct lease owners, as two processes would have). The scheduled passes
// (scanLeased, runLeased: one heartbeat each) run on the lease holder only, move to the other instance once the
// holder's lease lapses, and keep their interval across the change (the last run time is in the store).
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openGateway, type Gateway } from "../../src/gateway.js";
import { LEASE_TTL_MS } from "../../src/lifecycle/job-lease.js";
import { MAX_LISTED, RenewalMonitor, SCAN_LEASE } from "../../src/lifecycle/monitor.js";
import { Retention, RETENTION_LEASE } from "../../src/lifecycle/retention.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { seedCertificates } from "../store/seed.js";

const DAY = 86_400_000;
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const cfg = { archiveExpiredAfterDays: 90, intervalMinutes: 60, batchSize: 5 };

let t: TestGateway;
let other: Gateway;
const db = () => (t.gw.store as SqliteStore).raw;
const events = (type: string) => (db().prepare("SELECT count(*) AS n FROM audit_events WHERE type = ?").get(type) as { n: number }).n;
/** The holder died: its lease is left to lapse (moved into the past instead of waiting). */
const lapse = (name: string) => db().prepare("UPDATE job_leases SET until = ? WHERE name = ?").run(iso(Date.now() - 1), name);

beforeAll(async () => {
  t = await testGateway();
  other = await openGateway(t.config, pino({ level: "silent" }));
  const now = Date.now();
  seedCertificates(db(), {
    count: 12, serialPrefix: "e1",
    row: (i) => ({ profile: "tls-server", sans: [`dns:old-${i}.example.com`], notBefore: iso(now - 500 * DAY), notAfter: iso(now - 120 * DAY - i * 1000) }),
  });
  seedCertificates(db(), {
    count: 3, serialPrefix: "d1",
    row: (i) => ({ profile: "tls-server", sans: [`dns:due-${i}.example.com`], notBefore: iso(now - 300 * DAY), notAfter: iso(now + 10 * DAY + i * 1000) }),
  });
});
afterAll(async () => {
  await other?.close();
  await t?.gw.close();
});

describe("job leases across two instances", () => {
  const base = Date.now();
  const at = (ms: number) => new Date(base + ms);
  const S = 1000;
  const holder = async (name: string) => (await t.gw.store.leases.holder(name))?.owner;

  it("renewal scans run on the lease holder only, once per interval across a change of holder", async () => {
    const a = new RenewalMonitor(t.gw.store, t.gw.profiles, t.gw.audit, MAX_LISTED, "inst-a");
    const b = new RenewalMonitor(other.store, other.profiles, other.audit, MAX_LISTED, "inst-b");
    // 3 certificates inside their renewal window, 12 expired unreplaced: each announced once, by A.
    expect(await a.scanLeased(HOUR, at(0))).toEqual({ due: 3, missed: 12, announced: 15 });
    expect(await b.scanLeased(HOUR, at(10 * S))).toBeUndefined();
    expect(await a.scanLeased(HOUR, at(20 * S))).toBeUndefined(); // the holder keeps its lease, and scans once per interval
    expect(await holder(SCAN_LEASE)).toBe("inst-a");
    expect(events("certificate.renewal_due")).toBe(3);
    expect(events("certificate.renewal_missed")).toBe(12);

    lapse(SCAN_LEASE); // A died
    expect(await b.scanLeased(HOUR, at(40 * S))).toBeUndefined(); // B takes the lease, but A scanned 40 s ago
    expect(await holder(SCAN_LEASE)).toBe("inst-b");
    expect(await b.scanLeased(HOUR, at(HOUR))).toEqual({ due: 3, missed: 12, announced: 0 }); // due an interval after A's scan
    expect(await a.scanLeased(HOUR, at(HOUR + 20 * S))).toBeUndefined(); // A came back: B holds it now
    // A clean stop gives the lease up: the other instance takes over at its next pass, on the same interval.
    await b.stop();
    expect(await holder(SCAN_LEASE)).toBeUndefined();
    expect(await a.scanLeased(HOUR, at(HOUR + 40 * S))).toBeUndefined();
    expect(await holder(SCAN_LEASE)).toBe("inst-a");
    expect(await a.scanLeased(HOUR, at(2 * HOUR))).toBeDefined();
    await a.stop();
  });

  it("retention runs on one instance at a time: a run in progress on A refuses B; after A lapses, B archives when due", async () => {
    const a = new Retention(t.gw.store, t.gw.audit, cfg, "inst-a");
    const b = new Retention(other.store, other.audit, cfg, "inst-b");
    // A archives a batch at a time, yielding between batches (it holds the lease once runLeased returns);
    // B tries while A's run is in progress, and again after it.
    const pa = a.runLeased(at(0), 2);
    expect(await b.runLeased(at(0))).toBeUndefined();
    expect(await pa).toMatchObject({ archived: 10, batches: 2, more: true });
    expect(await b.runLeased(at(20 * S))).toBeUndefined();
    expect(events("inventory.archived")).toBe(2);

    lapse(RETENTION_LEASE);
    expect(await b.runLeased(at(40 * S))).toBeUndefined(); // B holds it now, but A ran 40 s ago
    expect(await holder(RETENTION_LEASE)).toBe("inst-b");
    expect(await b.runLeased(at(HOUR))).toMatchObject({ archived: 2, more: false });
    expect(await a.runLeased(at(HOUR + 20 * S))).toBeUndefined();
    expect(events("inventory.archived")).toBe(3);
    const left = (db().prepare("SELECT count(*) AS n FROM certificates WHERE serial LIKE 'e1%'").get() as { n: number }).n;
    expect(left).toBe(0);
    await b.stop();
    await a.stop();
  });

  it("a run that loses its lease mid-way stops after the current batch", async () => {
    seedCertificates(db(), {
      count: 10, serialPrefix: "e2",
      row: (i) => ({ profile: "tls-server", sans: [`dns:old2-${i}.example.com`], notBefore: iso(Date.now() - 500 * DAY), notAfter: iso(Date.now() - 120 * DAY - i * 1000) }),
    });
    const a = new Retention(t.gw.store, t.gw.audit, cfg, "inst-a");
    const b = new Retention(other.store, other.audit, cfg, "inst-b");
    const archived = events("inventory.archived");
    const run = a.runLeased(at(3 * HOUR));
    // Its first batch commits without leaving the microtask queue (SQLite answers at once); the next waits for setImmediate.
    while (events("inventory.archived") === archived) await new Promise((r) => setImmediate(r));
    // Between A's batches its lease lapses (A stalled past its TTL) and B takes it.
    lapse(RETENTION_LEASE);
    expect(await other.store.leases.acquire(RETENTION_LEASE, "inst-b", LEASE_TTL_MS, at(3 * HOUR))).toBe(true);
    expect(await run).toMatchObject({ archived: 5, more: true });
    expect(await b.runLeased(at(3 * HOUR + 20 * S))).toBeUndefined(); // A's run started 20 s ago
    expect(await b.runLeased(at(4 * HOUR))).toMatchObject({ archived: 5, more: false });
    await a.stop();
    await b.stop();
  });
});
