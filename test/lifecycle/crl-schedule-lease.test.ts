// The periodic CRL regeneration (startServers' schedule) runs on the holder of the crl.regenerate job lease only.
// An instance starting while another live instance holds it makes sure each CA has a current CRL but publishes no
// new one; a clean shutdown gives the lease up. The last publication time is kept with the lease, so a new holder
// publishes on the schedule's interval, not at once.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openGateway } from "../../src/gateway.js";
import { INSTANCE_ID } from "../../src/lifecycle/job-lease.js";
import { CRL_LEASE, startServers } from "../../src/server/listen.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await testGateway();
});
afterAll(async () => t?.gw.close());

const latest = async () => (await t.gw.store.crl.latestMeta(t.gw.cas.issuing[0].name))?.number ?? 0;

describe("CRL schedule lease", () => {
  it("the first instance takes the lease and publishes; one starting while another holds it publishes nothing new", async () => {
    const s1 = await startServers(t.gw);
    expect((await t.gw.store.leases.holder(CRL_LEASE))?.owner).toBe(INSTANCE_ID);
    const published = await latest();
    expect(published).toBeGreaterThan(0);
    await s1.close();
    expect(await t.gw.store.leases.holder(CRL_LEASE)).toBeUndefined();

    // Another (live) instance holds the schedule: a second gateway on the same data starting now only checks currency.
    expect(await t.gw.store.leases.acquire(CRL_LEASE, "other-instance", 3_600_000)).toBe(true);
    const second = await openGateway(t.config, pino({ level: "silent" }));
    try {
      const s2 = await startServers(second);
      expect(await latest()).toBe(published);
      await s2.close();
      expect((await t.gw.store.leases.holder(CRL_LEASE))?.owner).toBe("other-instance"); // not its lease to release
    } finally {
      await second.close();
    }
  });

  it("a new holder keeps the schedule's interval: no publication right after the last one, one at once when overdue", async () => {
    await t.gw.store.leases.release(CRL_LEASE, "other-instance"); // the other instance stopped cleanly
    const before = await latest();
    const s3 = await startServers(t.gw);
    expect((await t.gw.store.leases.holder(CRL_LEASE))?.owner).toBe(INSTANCE_ID);
    expect(await latest()).toBe(before); // the last scheduled publication was minutes ago
    await s3.close();

    // The last publication is older than the interval (the holder died long ago): the next holder publishes on start.
    const db = (t.gw.store as SqliteStore).raw;
    db.prepare("UPDATE job_leases SET last_run = ? WHERE name = ?").run(new Date(Date.now() - 61 * 60_000).toISOString(), CRL_LEASE);
    const s4 = await startServers(t.gw);
    expect(await latest()).toBeGreaterThan(before);
    await s4.close();
  });
});
