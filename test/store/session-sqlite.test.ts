// Console sessions in the store: two SqliteStore connections on one file stand for two gateways.
import { describe, expect, it } from "vitest";
import type { SessionRecord } from "../../src/store/session-types.js";
import { twoStores } from "../helpers/stores.js";

const { a, b } = twoStores("session-");

const MIN = 60_000;
const t0 = Date.parse("2030-01-01T00:00:00.000Z");
const iso = (ms: number) => new Date(t0 + ms).toISOString();
const cut = (ms: number) => ({ now: iso(ms), idleBefore: iso(ms - 30 * MIN) });
const rec = (id: string, createdMs: number, lastMs = createdMs): SessionRecord => ({
  idHash: id, adminId: "adm", adminName: "ops", createdAt: iso(createdMs), lastSeen: iso(lastMs), expiresAt: iso(createdMs + 480 * MIN),
});

describe("session store", () => {
  it("a session made on A is read, touched and deleted on B; touch never moves last_seen backwards", async () => {
    await a.sessions.create(rec("h1", 0), cut(0), 10, 10);
    expect(await b.sessions.get("h1")).toEqual(rec("h1", 0));
    expect(await b.sessions.touch("h1", iso(5 * MIN), iso(2 * MIN))).toBe(true);
    // A touch computed from an older view changes nothing.
    expect(await a.sessions.touch("h1", iso(4 * MIN), iso(1 * MIN))).toBe(false);
    expect((await a.sessions.get("h1"))?.lastSeen).toBe(iso(5 * MIN));
    expect(await b.sessions.delete("h1")).toBe(true);
    expect(await a.sessions.get("h1")).toBeUndefined();
    expect(await a.sessions.delete("h1")).toBe(false);
  });

  it("purges expired sessions in bounded batches, idle or past the absolute limit, and keeps live ones", async () => {
    const now = 1000 * MIN;
    for (let i = 0; i < 5; i++) await a.sessions.create(rec(`idle${i}`, now - 60 * MIN, now - 31 * MIN), cut(now - 31 * MIN), 100, 0);
    for (let i = 0; i < 3; i++) await a.sessions.create(rec(`old${i}`, now - 481 * MIN, now - 1 * MIN), cut(now - 481 * MIN), 100, 0);
    await a.sessions.create(rec("live", now - 10 * MIN, now - 1 * MIN), cut(now - 10 * MIN), 100, 0);
    expect(await b.sessions.purgeExpired(cut(now), 3)).toBe(3);
    expect(await b.sessions.purgeExpired(cut(now), 3)).toBe(3);
    expect(await b.sessions.purgeExpired(cut(now), 3)).toBe(2);
    expect(await b.sessions.purgeExpired(cut(now), 3)).toBe(0);
    expect(await a.sessions.count()).toBe(1);
    expect(await a.sessions.get("live")).toBeDefined();
    await a.sessions.delete("live");
  });

  it("caps the number of sessions: a login past the cap ends the oldest", async () => {
    for (let i = 0; i < 4; i++) await (i % 2 ? a : b).sessions.create(rec(`c${i}`, 2000 * MIN + i), cut(2000 * MIN + i), 3, 10);
    expect(await a.sessions.count()).toBe(3);
    expect(await a.sessions.get("c0")).toBeUndefined();
    expect(await a.sessions.get("c3")).toBeDefined();
  });
});
