// Store conformance, console sessions (cap, idle and absolute expiry, shared by instances) and job leases
// (acquire/renew/lapse, run claims per interval, release). Every engine (test/store/engines.ts).
import { afterAll, describe, expect, it } from "vitest";
import type { SessionRecord } from "../../../src/store/session-types.js";
import { ENGINES } from "../engines.js";
import { at, DAY, NOW, sha256, tag } from "./fixtures.js";

const session = (over: Partial<SessionRecord> = {}): SessionRecord => ({
  idHash: sha256(tag()), adminId: "adm-1", adminName: "alice", createdAt: at(0), lastSeen: at(0), expiresAt: at(1), ...over,
});
/** Sessions expire at `expiresAt` or when last seen before `idleBefore`. */
const cut = (now: number, idleDays = 0.5) => ({ now: at(now), idleBefore: at(now - idleDays) });
const date = (days: number) => new Date(NOW + days * DAY);

describe.each(ENGINES)("conformance: console sessions ($name)", (engine) => {
  afterAll(() => engine.close());

  it("create/get/touch/delete, seen by another instance", async () => {
    const [a, b] = await engine.freshPair();
    const x = session();
    await a.sessions.create(x, cut(0), 10, 10);
    expect(await b.sessions.get(x.idHash)).toEqual(x);
    expect(await b.sessions.get(sha256(tag()))).toBeUndefined();
    expect(await b.sessions.touch(x.idHash, at(0.1), at(0))).toBe(false); // last seen at ifBefore: recent enough, no write
    expect(await b.sessions.touch(x.idHash, at(0.1), at(0.05))).toBe(true);
    expect((await a.sessions.get(x.idHash))!.lastSeen).toBe(at(0.1));
    expect(await a.sessions.touch(x.idHash, at(0.15), at(0.1))).toBe(false);
    expect(await a.sessions.touch(sha256(tag()), at(0.2), at(0.2))).toBe(false);
    // An older time never replaces a newer one, whatever ifBefore says (a slow instance's late write).
    expect(await a.sessions.touch(x.idHash, at(0.08), at(0.2))).toBe(false);
    expect((await b.sessions.get(x.idHash))!.lastSeen).toBe(at(0.1));
    expect(await b.sessions.delete(x.idHash)).toBe(true); // a logout anywhere ends it everywhere
    expect(await b.sessions.delete(x.idHash)).toBe(false);
    expect(await a.sessions.get(x.idHash)).toBeUndefined();
    expect(await a.sessions.count()).toBe(0);
  });

  it("create purges expired sessions and keeps the count under the cap by ending the oldest", async () => {
    const s = await engine.fresh();
    const olds = [3, 1, 2].map((h) => session({ createdAt: at(h / 24), lastSeen: at(h / 24) }));
    for (const o of olds) await s.sessions.create(o, cut(0.2), 3, 10);
    expect(await s.sessions.count()).toBe(3);
    const next = session({ createdAt: at(0.2), lastSeen: at(0.2) });
    await s.sessions.create(next, cut(0.2), 3, 10);
    expect(await s.sessions.count()).toBe(3);
    expect(await s.sessions.get(olds[1].idHash)).toBeUndefined(); // the oldest (created at 1 h)
    expect(await s.sessions.get(olds[0].idHash)).toBeDefined();
    expect(await s.sessions.get(next.idHash)).toEqual(next);
    // Expired ones are purged before the cap counts: nothing valid is ended.
    const idle = session({ createdAt: at(0.25), lastSeen: at(0.25), expiresAt: at(5) });
    await s.sessions.create(idle, cut(0.3), 4, 10);
    await s.sessions.create(session({ createdAt: at(2), lastSeen: at(2), expiresAt: at(3) }), cut(2, 1.6), 4, 10);
    // At day 2: the first three expired (expiresAt day 1); `idle` was last seen before the idle cutoff (day 0.4).
    expect(await s.sessions.count()).toBe(1);
  });

  it("purgeExpired deletes up to `limit` sessions past their absolute expiry or idle too long", async () => {
    const s = await engine.fresh();
    const live = session({ lastSeen: at(0.9), expiresAt: at(2) });
    const absolute = session({ lastSeen: at(0.9), expiresAt: at(1) });
    const idle1 = session({ lastSeen: at(0.1), expiresAt: at(2) });
    const idle2 = session({ lastSeen: at(0.2), expiresAt: at(2) });
    for (const x of [live, absolute, idle1, idle2]) await s.sessions.create(x, cut(0), 10, 10);
    expect(await s.sessions.purgeExpired(cut(1), 2)).toBe(2);
    expect(await s.sessions.purgeExpired(cut(1), 2)).toBe(1);
    expect(await s.sessions.purgeExpired(cut(1), 2)).toBe(0);
    expect(await s.sessions.get(live.idHash)).toEqual(live);
    expect(await s.sessions.count()).toBe(1);
  });
});

describe.each(ENGINES)("conformance: job leases ($name)", (engine) => {
  afterAll(() => engine.close());

  it("acquire: one holder; the holder renews; another takes it once it lapsed; release frees it at once", async () => {
    const [a, b] = await engine.freshPair();
    const name = `job-${tag()}`;
    expect(await a.leases.holder(name)).toBeUndefined();
    expect(await a.leases.acquire(name, "A", 60_000, date(0))).toBe(true);
    expect(await b.leases.acquire(name, "B", 60_000, date(0))).toBe(false);
    expect(await b.leases.holder(name)).toEqual({ owner: "A", until: new Date(NOW + 60_000).toISOString() });
    expect(await a.leases.acquire(name, "A", 60_000, new Date(NOW + 30_000))).toBe(true); // heartbeat
    expect(await b.leases.acquire(name, "B", 60_000, new Date(NOW + 61_000))).toBe(false); // renewed until +90 s
    expect(await b.leases.acquire(name, "B", 60_000, new Date(NOW + 90_000))).toBe(true); // lapsed
    expect(await a.leases.acquire(name, "A", 60_000, new Date(NOW + 91_000))).toBe(false);
    await a.leases.release(name, "A"); // not A's: no effect
    expect((await a.leases.holder(name))?.owner).toBe("B");
    await b.leases.release(name, "B");
    expect(await a.leases.holder(name)).toBeUndefined();
    expect(await a.leases.acquire(name, "A", 60_000, new Date(NOW + 92_000))).toBe(true);
  });

  it("take says when the job last ran; claimRun allows one run per interval, only to the unlapsed holder", async () => {
    const s = await engine.open();
    const name = `job-${tag()}`;
    const H = 3_600_000;
    expect(await s.leases.take(name, "A", H, date(0))).toEqual({ lastRun: undefined });
    expect(await s.leases.take(name, "B", H, date(0))).toBeUndefined();
    expect(await s.leases.claimRun(name, "B", H, date(0))).toBe(false); // not the holder
    expect(await s.leases.claimRun(name, "A", H, date(0))).toBe(true);
    expect(await s.leases.claimRun(name, "A", H, new Date(NOW + H - 1))).toBe(false); // within the interval
    expect(await s.leases.claimRun(name, "A", H, new Date(NOW + H + 1))).toBe(false); // lease lapsed at +1 h
    expect(await s.leases.take(name, "B", 2 * H, new Date(NOW + H))).toEqual({ lastRun: date(0).toISOString() });
    expect(await s.leases.claimRun(name, "B", H, new Date(NOW + H))).toBe(true); // exactly one interval later
    await s.leases.release(name, "B");
    expect(await s.leases.claimRun(name, "B", H, new Date(NOW + 3 * H))).toBe(false); // released
    // The last run survives a release and a change of holder.
    expect(await s.leases.take(name, "C", H, new Date(NOW + H + 5))).toEqual({ lastRun: new Date(NOW + H).toISOString() });
    expect(await s.leases.claimRun(name, "C", H, new Date(NOW + H + 10))).toBe(false);
  });
});
