import { writeFileSync } from "node:fs";
import { join } from "node:path";
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

describe("gateway db status | migrate", () => {
  it("on SQLite: a new file needs every migration; migrate applies them once", async () => {
    const cfg = config("");
    const before = await runGatewayCli(["db", "status", "--config", cfg]);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/^sqlite .*gateway\.db: schema version 0 of (\d+) \(\1 migration\(s\) to apply\)/);
    const m = await runGatewayCli(["db", "migrate", "--config", cfg]);
    expect(m.stdout).toMatch(/migrated from schema version 0 to \d+/);
    expect((await runGatewayCli(["db", "migrate", "--config", cfg])).stdout).toMatch(/already at schema version \d+/);
    expect((await runGatewayCli(["db", "status", "--config", cfg])).stdout).toMatch(/schema version (\d+) of \1 \(up to date\)/);
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
    expect((await runGatewayCli(["db", "status", "--config", cfg], env)).stdout).toMatch(/schema version (\d+) of \1 \(up to date\)/);
  }, 120_000);
});
