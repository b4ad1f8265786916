import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { auditEvents } from "../helpers/stores.js";
import { allSerials, exactlyOnce, issueMany } from "../server/inventory-fixture.js";

let t: TestGateway;
const cli = (...args: string[]) => runCli(args, t.config.dataDir, t.config.profilesDir);
// After the header row.
const serialsOf = (stdout: string) => stdout.split("\n").slice(1).filter(Boolean).map((l) => l.split("\t")[0]);
const cursorIn = (stderr: string) => /--cursor (\S+)/.exec(stderr)?.[1];

beforeAll(async () => {
  t = await testGateway();
  await issueMany(t.gw, 1100);
});
afterAll(async () => t?.gw.close());

describe("gateway cert list pages instead of stopping at 1,000", () => {
  it("--limit 1000000 prints every one of 1,100 certificates and says nothing is left", async () => {
    const r = await cli("cert", "list", "--limit", "1000000");
    expect(r.code, r.stderr).toBe(0);
    expect(exactlyOnce(allSerials(t.gw), serialsOf(r.stdout))).toEqual({ missing: [], repeated: [] });
    expect(r.stderr).not.toMatch(/more rows/);
  });

  it("the default page says there is more and names the cursor; --cursor continues after the last row printed", async () => {
    const first = await cli("cert", "list");
    expect(first.code, first.stderr).toBe(0);
    expect(serialsOf(first.stdout)).toHaveLength(100);
    const cursor = cursorIn(first.stderr);
    expect(cursor, first.stderr).toBeDefined();
    const rest = await cli("cert", "list", "--cursor", cursor!, "--limit", "5000");
    expect(rest.code, rest.stderr).toBe(0);
    expect(cursorIn(rest.stderr)).toBeUndefined();
    expect(exactlyOnce(allSerials(t.gw), [...serialsOf(first.stdout), ...serialsOf(rest.stdout)])).toEqual({ missing: [], repeated: [] });
  });

  it("--all while certificates are being issued lists every earlier certificate exactly once", async () => {
    const before = allSerials(t.gw);
    let listing = true;
    let issuedDuring = 0;
    const issuing = (async () => {
      while (listing) issuedDuring += (await issueMany(t.gw, 1, "during.example.com")).length;
    })();
    const r = await cli("cert", "list", "--all");
    listing = false;
    await issuing;
    expect(r.code, r.stderr).toBe(0);
    expect(issuedDuring).toBeGreaterThan(0);
    const seen = serialsOf(r.stdout);
    expect(exactlyOnce(before, seen)).toEqual({ missing: [], repeated: [] });
    expect(cursorIn(r.stderr)).toBeUndefined();
  });

  it("refuses a limit that is not a positive integer, and --limit with --all (usage errors, exit 2)", async () => {
    for (const args of [["--limit", "0"], ["--limit", "ten"], ["--all", "--limit", "5"]]) {
      const r = await cli("cert", "list", ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^error: (--limit must be a positive integer|use --limit or --all, not both)/);
    }
    const bad = await cli("cert", "list", "--cursor", "bogus");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cursor is not valid/);
  });

  it("audit list pages by sequence number the same way", async () => {
    const first = await cli("audit", "list", "--type", "certificate.issued", "--limit", "1000");
    expect(first.code, first.stderr).toBe(0);
    const cursor = cursorIn(first.stderr);
    expect(cursor).toMatch(/^\d+$/);
    const rest = await cli("audit", "list", "--type", "certificate.issued", "--cursor", cursor!, "--all");
    expect(rest.code, rest.stderr).toBe(0);
    const seqs = [...first.stdout.split("\n").slice(1), ...rest.stdout.split("\n").slice(1)].filter(Boolean).map((l) => Number(l.split("\t")[0]));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs.length).toBe((await auditEvents(t.gw.store, { type: "certificate.issued" })).length);
    expect(seqs.length).toBe(allSerials(t.gw).length);
  });
});
