// Job leases across instances: two SqliteStore connections on one file stand for two gateways.
import { afterAll, describe, expect, it } from "vitest";
import { LEASE_TICK_MS, LEASE_TTL_MS, LeaseHeartbeat, LeasedJob } from "../../src/lifecycle/job-lease.js";
import { twoStores } from "../helpers/stores.js";

const { a, b } = twoStores("lease-");

const MIN = 60_000;
const t0 = new Date("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(t0.getTime() + ms);

describe("job leases", () => {
  it("a lease taken by A is refused to B until it lapses, then B gets it and A is refused", async () => {
    expect(await a.leases.acquire("job.x", "A", 10 * MIN, t0)).toBe(true);
    expect(await b.leases.acquire("job.x", "B", 10 * MIN, at(1 * MIN))).toBe(false);
    expect(await b.leases.holder("job.x")).toEqual({ owner: "A", until: at(10 * MIN).toISOString() });
    // A renews while it lives: B is still refused past A's first expiry.
    expect(await a.leases.acquire("job.x", "A", 10 * MIN, at(9 * MIN))).toBe(true);
    expect(await b.leases.acquire("job.x", "B", 10 * MIN, at(15 * MIN))).toBe(false);
    // A dies (stops renewing): the lease lapses at its last renewal + TTL and B takes it.
    expect(await b.leases.acquire("job.x", "B", 10 * MIN, at(19 * MIN))).toBe(true);
    expect((await a.leases.holder("job.x"))?.owner).toBe("B");
    expect(await a.leases.acquire("job.x", "A", 10 * MIN, at(20 * MIN))).toBe(false);
  });

  it("release frees the lease at once, only for its holder; names are independent", async () => {
    expect(await a.leases.acquire("job.y", "A", 10 * MIN, t0)).toBe(true);
    expect(await b.leases.acquire("job.z", "B", 10 * MIN, t0)).toBe(true);
    await b.leases.release("job.y", "B"); // not B's: nothing happens
    expect(await b.leases.acquire("job.y", "B", 10 * MIN, at(1 * MIN))).toBe(false);
    await a.leases.release("job.y", "A");
    expect(await a.leases.holder("job.y")).toBeUndefined();
    expect(await b.leases.acquire("job.y", "B", 10 * MIN, at(1 * MIN))).toBe(true);
  });

  it("claimRun: once per interval, only by the unlapsed holder; a release keeps the last run for the next holder", async () => {
    expect(await a.leases.take("job.r", "A", 10 * MIN, t0)).toEqual({ lastRun: undefined });
    expect(await b.leases.claimRun("job.r", "B", 60 * MIN, t0)).toBe(false); // not B's
    expect(await a.leases.claimRun("job.r", "A", 60 * MIN, t0)).toBe(true);
    expect(await a.leases.claimRun("job.r", "A", 60 * MIN, at(30 * MIN))).toBe(false); // within the interval
    expect(await a.leases.claimRun("job.r", "A", 60 * MIN, at(61 * MIN))).toBe(false); // lapsed (not renewed since t0)
    await a.leases.release("job.r", "A");
    expect(await b.leases.take("job.r", "B", 10 * MIN, at(1 * MIN))).toEqual({ lastRun: t0.toISOString() });
  });
});

describe("heartbeat failover (TTL 60 s, tick 20 s)", () => {
  const HOUR = 60 * MIN;
  const S = 1000;
  const failover = LEASE_TTL_MS + LEASE_TICK_MS;
  const added: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const f of added) await f();
  });
  const instance = (store: typeof a, owner: string, name: string, ran: string[]) => {
    const hb = new LeaseHeartbeat(LEASE_TICK_MS);
    const job = new LeasedJob(store.leases, name, HOUR, (now) => void ran.push(`${owner}@${(now.getTime() - t0.getTime()) / S}`), owner);
    hb.add(job, (e) => { throw e; }, false);
    added.push(() => hb.remove(job));
    return { hb, job };
  };

  it("the holder's heartbeat keeps the lease; a standby takes it within TTL + tick of the holder's death, keeping the job's interval", async () => {
    const ran: string[] = [];
    const A = instance(a, "A", "job.hb", ran);
    const B = instance(b, "B", "job.hb", ran);
    // Both beat every tick, B 10 s after A: A holds and runs once; B is refused throughout.
    let t = 0;
    for (; t <= 5 * MIN; t += LEASE_TICK_MS) {
      await A.hb.beat(at(t));
      await B.hb.beat(at(t + 10 * S));
      expect((await a.leases.holder("job.hb"))?.owner).toBe("A");
    }
    const died = t - LEASE_TICK_MS; // A's last beat
    // A dies: only B beats now. It takes the lease within TTL + tick of A's last beat, but the job ran 5 min ago: no run.
    let took = -1;
    for (let tb = died + 10 * S; took < 0 && tb < HOUR; tb += LEASE_TICK_MS) {
      await B.hb.beat(at(tb));
      if ((await b.leases.holder("job.hb"))?.owner === "B") took = tb;
    }
    expect(took).toBeGreaterThanOrEqual(died + LEASE_TTL_MS); // not before A's lease lapsed
    expect(took - died).toBeLessThanOrEqual(failover);
    expect(ran).toEqual(["A@0"]);
    // B keeps beating: the next run is at its first beat an interval after A's run, not an interval after the handover.
    let tb = took;
    while (ran.length < 2 && tb < 2 * HOUR) await B.hb.beat(at((tb += LEASE_TICK_MS)));
    expect(tb).toBeGreaterThanOrEqual(HOUR);
    expect(tb).toBeLessThan(HOUR + LEASE_TICK_MS);
    expect(ran[1]).toBe(`B@${tb / S}`);
  });

  it("an overdue job runs on the new holder's first held beat", async () => {
    const ran: string[] = [];
    const A = instance(a, "A", "job.overdue", ran);
    const B = instance(b, "B", "job.overdue", ran);
    await A.hb.beat(at(0)); // runs
    await A.hb.beat(at(HOUR - 30 * S)); // last beat before it dies; the next run would be due at HOUR
    await B.hb.beat(at(HOUR - 20 * S)); // refused
    let tb = HOUR;
    while ((await a.leases.holder("job.overdue"))?.owner !== "B" && tb < 2 * HOUR) await B.hb.beat(at((tb += LEASE_TICK_MS)));
    expect(tb - (HOUR - 30 * S)).toBeLessThanOrEqual(failover);
    expect(ran).toEqual(["A@0", `B@${tb / S}`]);
  });

  it("a clean stop releases: the standby takes over at its next beat without re-running", async () => {
    const ran: string[] = [];
    const A = instance(a, "A", "job.stop", ran);
    const B = instance(b, "B", "job.stop", ran);
    await A.hb.beat(at(0));
    await A.hb.remove(A.job);
    expect(await a.leases.holder("job.stop")).toBeUndefined();
    await B.hb.beat(at(10 * S));
    expect((await b.leases.holder("job.stop"))?.owner).toBe("B");
    expect(ran).toEqual(["A@0"]);
  });
});
