// Jobs that run once (renewal scan, retention, CRL schedule) hold a lease in the database: with two instances on one
// PostgreSQL each job is held by one of them, and when that instance is killed its leases move to the other within
// the stated bound (TTL 60 s after the last heartbeat + one 20 s heartbeat).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LEASE_TICK_MS, LEASE_TTL_MS } from "../../src/lifecycle/job-lease.js";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { startDeployment, type Deployment } from "./instances.js";

const testDb = lazyTestDatabase();
let d: Deployment;
beforeAll(async () => {
  d = await startDeployment({ databaseUrl: (await testDb.get()).url, instances: 2 });
}, 240_000);
afterAll(async () => {
  await d?.stop();
  await testDb.drop();
});

async function holders(): Promise<Array<{ name: string; owner: string; until: string }>> {
  const c = new pg.Client({ connectionString: d.databaseUrl });
  await c.connect();
  try {
    return (await c.query("SELECT name, owner, until FROM job_leases WHERE until > $1 ORDER BY name", [new Date().toISOString()])).rows as Array<{ name: string; owner: string; until: string }>;
  } finally {
    await c.end();
  }
}

const pidOf = (owner: string) => Number(owner.split(":")[1]);

describe("job leases across instances on PostgreSQL", () => {
  it("each job is held by one instance; a killed holder's jobs move to the other within TTL + one heartbeat", async () => {
    const [a, b] = d.instances;
    const held = await holders();
    expect(held.length).toBeGreaterThan(0);
    // One holder per job, and it is one of the two instances.
    expect(new Set(held.map((h) => h.name)).size).toBe(held.length);
    for (const h of held) expect([a.proc.pid, b.proc.pid]).toContain(pidOf(h.owner));
    const victim = held.some((h) => pidOf(h.owner) === a.proc.pid) ? a : b;
    const survivor = victim === a ? b : a;
    const jobs = held.filter((h) => pidOf(h.owner) === victim.proc.pid).map((h) => h.name);
    const killedAt = Date.now();
    victim.proc.kill("SIGKILL");
    await victim.exited;
    const bound = LEASE_TTL_MS + LEASE_TICK_MS + 5_000;
    for (;;) {
      const now = await holders();
      const moved = jobs.every((j) => now.find((h) => h.name === j && pidOf(h.owner) === survivor.proc.pid));
      if (moved) break;
      expect(Date.now() - killedAt).toBeLessThan(bound);
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(Date.now() - killedAt).toBeLessThan(bound);
  }, 240_000);
});
