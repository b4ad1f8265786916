// Job leases across instances: two SqliteStore connections on one file stand for two gateways.
import { afterAll, describe, expect, it } from "vitest";
import { LEASE_TICK_MS, LEASE_TTL_MS, LeaseHeartbeat, LeasedJob } from "../../src/lifecycle/job-lease.js";
import { twoStores } from "../helpers/stores.js";

const { a, b } = twoStores("lease-");

const MIN = 60_000;
const t0 = new Date("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(t0.getTime() + ms);

describe("job leases", () => {
  it("a lease taken by A is refused to B until it lapses, then B gets it and A is refused", () => {
    expect(a.leases.acquire("job.x", "A", 10 * MIN, t0)).toBe(true);
    expect(b.leases.acquire("job.x", "B", 10 * MIN, at(1 * MIN))).toBe(false);
    expect(b.leases.holder("job.x")).toEqual({ owner: "A", until: at(10 * MIN).toISOString() });
    // A renews while it lives: B is still refused past A's first expiry.
    expect(a.leases.acquire("job.x", "A", 10 * MIN, at(9 * MIN))).toBe(true);
    expect(b.leases.acquire("job.x", "B", 10 * MIN, at(15 * MIN))).toBe(false);
    // A dies (stops renewing): the lease lapses at its last renewal + TTL and B takes it.
    expect(b.leases.acquire("job.x", "B", 10 * MIN, at(19 * MIN))).toBe(true);
    expect(a.leases.holder("job.x")?.owner).toBe("B");
    expect(a.leases.acquire("job.x", "A", 10 * MIN, at(20 * MIN))).toBe(false);
  });

  it("release frees the lease at once, only for its holder; names are independent", () => {
    expect(a.leases.acquire("job.y", "A", 10 * MIN, t0)).toBe(true);
    expect(b.leases.acquire("job.z", "B", 10 * MIN, t0)).toBe(true);
    b.leases.release("job.y", "B"); // not B's: nothing happens
    expect(b.leases.acquire("job.y", "B", 10 * MIN, at(1 * MIN))).toBe(false);
    a.leases.release("job.y", "A");
    expect(a.leases.holder("job.y")).toBeUndefined();
    expect(b.leases.acquire("job.y", "B", 10 * MIN, at(1 * MIN))).toBe(true);
  });

  it("claimRun: once per interval, only by the unlapsed holder; a release keeps the last run for the next holder", () => {
    expect(a.leases.take("job.r", "A", 10 * MIN, t0)).toEqual({ lastRun: undefined });
    expect(b.leases.claimRun("job.r", "B", 60 * MIN, t0)).toBe(false); // not B's
    expect(a.leases.claimRun("job.r", "A", 60 * MIN, t0)).toBe(true);
    expect(a.leases.claimRun("job.r", "A", 60 * MIN, at(30 * MIN))).toBe(false); // within the interval
    expect(a.leases.claimRun("job.r", "A", 60 * MIN, at(61 * MIN))).toBe(false); // lapsed (not renewed since t0)
    a.leases.release("job.r", "A");
    expect(b.leases.take("job.r", "B", 10 * MIN, at(1 * MIN))).toEqual({ lastRun: t0.toISOString() });
  });
});

describe("heartbeat failover (TTL 60 s, tick 20 s)", () => {
  const HOUR = 60 * MIN;
  const S = 1000;
  const failover = LEASE_TTL_MS + LEASE_TICK_MS;
  const added: Array<() => void> = [];
  afterAll(() => added.forEach((f) => f()));
  const instance = (store: typeof a, owner: string, name: string, ran: string[]) => {
    const hb = new LeaseHeartbeat(LEASE_TICK_MS);
    const job = new LeasedJob(store.leases, name, HOUR, (now) => void ran.push(`${owner}@${(now.getTime() - t0.getTime()) / S}`), owner);
    hb.add(job, (e) => { throw e; }, false);
    added.push(() => hb.remove(job));
    return { hb, job };
  };

  it("the holder's heartbeat keeps the lease; a standby takes it within TTL + tick of the holder's death, keeping the job's interval", () => {
    const ran: string[] = [];
    const A = instance(a, "A", "job.hb", ran);
    const B = instance(b, "B", "job.hb", ran);
    // Both beat every tick, B 10 s after A: A holds and runs once; B is refused throughout.
    let t = 0;
    for (; t <= 5 * MIN; t += LEASE_TICK_MS) {
      A.hb.beat(at(t));
      B.hb.beat(at(t + 10 * S));
      expect(a.leases.holder("job.hb")?.owner).toBe("A");
    }
    const died = t - LEASE_TICK_MS; // A's last beat
    // A dies: only B beats now. It takes the lease within TTL + tick of A's last beat, but the job ran 5 min ago: no run.
    let took = -1;
    for (let tb = died + 10 * S; took < 0 && tb < HOUR; tb += LEASE_TICK_MS) {
      B.hb.beat(at(tb));
      if (b.leases.holder("job.hb")?.owner === "B") took = tb;
    }
    expect(took).toBeGreaterThanOrEqual(died + LEASE_TTL_MS); // not before A's lease lapsed
    expect(took - died).toBeLessThanOrEqual(failover);
    expect(ran).toEqual(["A@0"]);
    // B keeps beating: the next run is at its first beat an interval after A's run, not an interval after the handover.
    let tb = took;
    while (ran.length < 2 && tb < 2 * HOUR) B.hb.beat(at((tb += LEASE_TICK_MS)));
    expect(tb).toBeGreaterThanOrEqual(HOUR);
    expect(tb).toBeLessThan(HOUR + LEASE_TICK_MS);
    expect(ran[1]).toBe(`B@${tb / S}`);
  });

  it("an overdue job runs on the new holder's first held beat", () => {
    const ran: string[] = [];
    const A = instance(a, "A", "job.overdue", ran);
    const B = instance(b, "B", "job.overdue", ran);
    A.hb.beat(at(0)); // runs
    A.hb.beat(at(HOUR - 30 * S)); // last beat before it dies; the next run would be due at HOUR
    B.hb.beat(at(HOUR - 20 * S)); // refused
    let tb = HOUR;
    while (a.leases.holder("job.overdue")?.owner !== "B" && tb < 2 * HOUR) B.hb.beat(at((tb += LEASE_TICK_MS)));
    expect(tb - (HOUR - 30 * S)).toBeLessThanOrEqual(failover);
    expect(ran).toEqual(["A@0", `B@${tb / S}`]);
  });

  it("a clean stop releases: the standby takes over at its next beat without re-running", () => {
    const ran: string[] = [];
    const A = instance(a, "A", "job.stop", ran);
    const B = instance(b, "B", "job.stop", ran);
    A.hb.beat(at(0));
    A.hb.remove(A.job);
    expect(a.leases.holder("job.stop")).toBeUndefined();
    B.hb.beat(at(10 * S));
    expect(b.leases.holder("job.stop")?.owner).toBe("B");
    expect(ran).toEqual(["A@0"]);
  });
});
