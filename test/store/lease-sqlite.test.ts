// Job leases across instances: two SqliteStore connections on one file stand for two gateways.
import { describe, expect, it } from "vitest";
import { JobLease } from "../../src/lifecycle/job-lease.js";
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

  it("JobLease: the holder keeps its lease from tick to tick; the other instance is refused", () => {
    const la = new JobLease(a.leases, "job.tick", 2 * MIN, "inst-a");
    const lb = new JobLease(b.leases, "job.tick", 2 * MIN, "inst-b");
    const ran: string[] = [];
    // Ticks of both instances interleaved, each within the holder's TTL: every tick runs on A only.
    for (let i = 0; i < 5; i++) {
      if (la.hold(at(i * MIN))) ran.push("a");
      if (lb.hold(at(i * MIN + 30_000))) ran.push("b");
    }
    expect(ran).toEqual(["a", "a", "a", "a", "a"]);
    la.release();
    expect(lb.hold(at(5 * MIN))).toBe(true);
  });
});
