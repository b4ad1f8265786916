import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/audit-log.js";
import { newSerial, serialHex, timeOrderedUuid } from "../../src/ca/serial.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";

const dir = mkdtempSync(join(tmpdir(), "gw-audit-async-"));
const store = new SqliteStore(join(dir, "g.db"));
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("AuditLog.recordAsync", () => {
  it("events queued together share one commit, keep one chain, and are stored once each promise settles", async () => {
    const audit = new AuditLog(store);
    const events = await Promise.all(Array.from({ length: 20 }, (_, i) => audit.recordAsync({ type: "cmp.request", actor: "cmp:x", target: `t${i}`, data: { i } })));
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => events[0].seq + i));
    expect(await store.queryAudit({ type: "cmp.request", limit: 100 })).toHaveLength(20);
    expect((await audit.verify()).ok).toBe(true);
  });
});

describe("time-ordered identifiers", () => {
  it("serials are 20-octet positive minimal integers (a seconds prefix, then 128 random bits) and request ids UUIDv7, both unique", () => {
    const serials = new Set(Array.from({ length: 1000 }, () => serialHex(newSerial())));
    expect(serials.size).toBe(1000);
    for (const s of serials) expect(s).toMatch(/^(0[1-9a-f]|[1-7][0-9a-f])[0-9a-f]{38}$/);
    // The random part differs between serials made in the same second.
    const tails = new Set([...serials].map((s) => s.slice(8)));
    expect(tails.size).toBe(1000);
    const ids = Array.from({ length: 1000 }, () => timeOrderedUuid());
    expect(new Set(ids).size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
