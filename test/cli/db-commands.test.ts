import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { runGatewayCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/openssl.js";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { ROOT } from "../helpers/gateway.js";

const testDb = lazyTestDatabase();
afterAll(() => testDb.drop());

function config(store: string): string {
  const dir = tempDir("dbcmd-");
  const path = join(dir, "config.yaml");
  writeFileSync(path, `dataDir: ${join(dir, "data")}\nprofilesDir: ${join(ROOT, "profiles")}\nlog: { level: silent }\n${store}`);
  return path;
}

describe("gateway db status | migrate | after-restore", () => {
  it("on SQLite: a new file needs every migration; migrate applies them once", async () => {
    const cfg = config("");
    const before = await runGatewayCli(["db", "status", "--config", cfg]);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/^sqlite .*gateway\.db: schema version 0 of (\d+) \(\1 migration\(s\) to apply\)/);
    const m = await runGatewayCli(["db", "migrate", "--config", cfg]);
    expect(m.stdout).toMatch(/migrated from schema version 0 to \d+/);
    expect((await runGatewayCli(["db", "migrate", "--config", cfg])).stdout).toMatch(/already at schema version \d+/);
    expect((await runGatewayCli(["db", "status", "--config", cfg])).stdout).toMatch(/schema version (\d+) of \1 \(up to date\)/);
    const json = JSON.parse((await runGatewayCli(["db", "status", "--json", "--config", cfg])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ engine: "sqlite", state: "current" });
    expect(json.schemaVersion).toBe(json.latest);
  }, 120_000);

  it("on PostgreSQL: two migrate commands at once migrate once; status never shows the password", async () => {
    const { url } = await testDb.get();
    const cfg = config("store: { kind: postgres, url: { env: GW_DB_URL } }\n");
    const env = { GW_DB_URL: url };
    const before = await runGatewayCli(["db", "status", "--config", cfg], env);
    expect(before.stdout).toMatch(/^postgres 127\.0\.0\.1:\d+\/\S+: schema version 0 of (\d+)/);
    expect(before.stdout + before.stderr).not.toContain(new URL(url).password);
    const [a, b] = await Promise.all([runGatewayCli(["db", "migrate", "--config", cfg], env), runGatewayCli(["db", "migrate", "--config", cfg], env)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    // One of them applied the versions; the other found them applied (it waited on the migration lock).
    expect([a.stdout, b.stdout].filter((s) => /migrated from schema version 0/.test(s)).length).toBe(1);
    const status = (await runGatewayCli(["db", "status", "--config", cfg], env)).stdout;
    expect(status).toMatch(/schema version (\d+) of \1 \(up to date\)/);
    // The server's sizing, read from the server: the test cluster runs with shared_buffers=32MB.
    expect(status).toMatch(/^server: PostgreSQL \d+\.\d+.*, shared_buffers 32 MB, huge_pages (on|off|try)[^;]*; certificate tables and indexes \d+(\.\d)? kB$/m);
    const json = JSON.parse((await runGatewayCli(["db", "status", "--json", "--config", cfg], env)).stdout) as { server: Record<string, unknown>; hints: string[] };
    expect(json.server).toMatchObject({ sharedBuffersBytes: 32 * 1024 * 1024 });
    expect(json.server.certificateBytes).toBeGreaterThan(0);
    expect(json.hints).toEqual([]);
  }, 120_000);

  it("after-restore on SQLite: verifies the chain, clears what must not come back, records store.restored", async () => {
    const cfg = config("");
    const missing = await runGatewayCli(["db", "after-restore", "--config", cfg]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("no database at");
    expect((await runGatewayCli(["ca", "init", "--config", cfg])).code).toBe(0); // admin commands need a CA
    const minted = await runGatewayCli(["secret", "create", "--profile", "device", "--config", cfg]);
    expect(minted.code, minted.stderr).toBe(0);
    const kept = await runGatewayCli(["db", "after-restore", "--keep-unused-secrets", "--config", cfg]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain("audit chain     intact");
    expect(kept.stdout).not.toContain("enrollmentSecretsRetired");
    const a = await runGatewayCli(["db", "after-restore", "--config", cfg]);
    expect(a.stdout).toContain("enrollmentSecretsRetired=1");
    const list = await runGatewayCli(["audit", "list", "--type", "store.restored", "--config", cfg]);
    expect(list.stdout.match(/store\.restored/g) ?? []).toHaveLength(2);
  }, 120_000);

  it("after-restore on PostgreSQL: refused while another gateway is connected, then records store.restored", async () => {
    const { url } = await testDb.get();
    const cfg = config("store: { kind: postgres, url: { env: GW_DB_URL } }\n");
    const env = { GW_DB_URL: url };
    expect((await runGatewayCli(["db", "migrate", "--config", cfg], env)).code).toBe(0);
    // What a serving gateway looks like from the database: a connection named like db.ts names the pool's.
    const other = new pg.Client({ connectionString: url, application_name: "enrollment-gateway" });
    await other.connect();
    try {
      const busy = await runGatewayCli(["db", "after-restore", "--config", cfg], env);
      expect(busy.code).not.toBe(0);
      expect(busy.stderr).toContain("stop the gateways first");
      expect(busy.stderr).not.toContain(new URL(url).password);
    } finally {
      await other.end();
    }
    const a = await runGatewayCli(["db", "after-restore", "--config", cfg], env);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^restored postgres 127\.0\.0\.1:\d+\/\S+ from \(restored by other means\)/);
    expect(a.stdout).toContain("audit chain     intact");
    expect(a.stdout + a.stderr).not.toContain(new URL(url).password);
  }, 120_000);
});
