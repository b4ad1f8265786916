import { describe, expect, it } from "vitest";
import { describeSizing, formatBytes, sizingHints, type ServerSizing } from "../../src/store/postgres/server-sizing.js";

const GB = 1024 ** 3;
const sizing = (o: Partial<ServerSizing>): ServerSizing => ({
  version: "15.14", sharedBuffersBytes: 2 * GB, hugePages: "on", hugePagesStatus: null, certificateBytes: GB, ...o,
});

describe("db status: the PostgreSQL server's sizing", () => {
  it("says nothing when the cache holds the certificate tables and huge pages are on", () => {
    expect(sizingHints(sizing({}))).toEqual([]);
    expect(describeSizing(sizing({}))).toBe("PostgreSQL 15.14, shared_buffers 2.0 GB, huge_pages on; certificate tables and indexes 1.0 GB");
  });

  it("flags a buffer cache smaller than the certificate tables and their indexes", () => {
    const h = sizingHints(sizing({ sharedBuffersBytes: 128 * 1024 ** 2, hugePages: "try" }));
    expect(h).toHaveLength(1);
    expect(h[0]).toContain("shared_buffers (128 MB) is smaller than the certificate tables and their indexes (1.0 GB)");
  });

  it("flags huge pages off under a large cache, from the setting or from PostgreSQL 17's status", () => {
    expect(sizingHints(sizing({ hugePages: "off" }))[0]).toContain("huge pages are off with a 2.0 GB buffer cache");
    expect(sizingHints(sizing({ hugePages: "try", hugePagesStatus: "off" }))[0]).toContain("huge pages are off");
    expect(sizingHints(sizing({ hugePages: "try", hugePagesStatus: "on" }))).toEqual([]);
    // PostgreSQL 15 and 16 do not say whether `try` got them: no advice, and the line says so.
    expect(sizingHints(sizing({ hugePages: "try" }))).toEqual([]);
    expect(describeSizing(sizing({ hugePages: "try" }))).toContain("huge_pages try, in use: not reported before PostgreSQL 17");
    // A small cache gains little from them.
    expect(sizingHints(sizing({ sharedBuffersBytes: 512 * 1024 ** 2, hugePages: "off", certificateBytes: 1024 }))).toEqual([]);
  });

  it("prints sizes in binary units", () => {
    expect([formatBytes(0), formatBytes(8192), formatBytes(1536 * 1024), formatBytes(32 * 1024 ** 2)]).toEqual(["0 B", "8.0 kB", "1.5 MB", "32 MB"]);
  });
});
