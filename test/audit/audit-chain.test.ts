import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { ROOT, testGateway, type TestGateway } from "../helpers/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await testGateway();
});
afterAll(async () => t?.gw.close());

describe("hash-chained audit log", () => {
  it("records CA init and config load, and the chain verifies", async () => {
    const types = (await t.gw.store.queryAudit({ limit: 10 })).map((e) => e.type);
    expect(types.slice(0, 2)).toEqual(["ca.initialized", "config.loaded"]);
    for (let i = 0; i < 20; i++) await t.gw.audit.record({ type: "test.event", actor: "test", target: `t${i}`, data: { i } });
    expect(await t.gw.audit.verify()).toEqual({ ok: true, events: 22 });
  });

  it("the database refuses updates and deletes of audit rows", () => {
    const db = (t.gw.store as SqliteStore).raw;
    expect(() => db.prepare("UPDATE audit_events SET actor = 'x' WHERE seq = 5").run()).toThrow(/append-only/);
    expect(() => db.prepare("DELETE FROM audit_events WHERE seq = 5").run()).toThrow(/append-only/);
  });

  it("reports the first broken link after tampering, also through the CLI", async () => {
    const db = (t.gw.store as SqliteStore).raw;
    db.exec("DROP TRIGGER audit_no_update");
    db.prepare("UPDATE audit_events SET data = ? WHERE seq = 7").run(JSON.stringify({ i: 999 }));
    expect(await t.gw.audit.verify()).toMatchObject({ ok: false, brokenAt: 7, why: "content does not match its hash" });

    const cfg = join(t.dir, "cli.yaml");
    writeFileSync(cfg, `dataDir: ${t.config.dataDir}\nprofilesDir: ${t.config.profilesDir}\nlog: { level: silent }\n`);
    let out = "";
    let code = 0;
    try {
      execFileSync(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "src/cli/main.ts"), "audit", "verify", "--config", cfg], { stdio: "pipe" });
    } catch (e) {
      const err = e as { status: number; stdout: Buffer };
      code = err.status;
      out = err.stdout.toString();
    }
    expect(code).toBe(3);
    expect(out).toContain("BROKEN at event 7");
  });

  it("a deleted event is reported as a missing link", async () => {
    const db = (t.gw.store as SqliteStore).raw;
    db.exec("DROP TRIGGER audit_no_delete");
    db.prepare("UPDATE audit_events SET data = ? WHERE seq = 7").run(JSON.stringify({ i: 4 }));
    expect((await t.gw.audit.verify()).ok).toBe(true);
    db.prepare("DELETE FROM audit_events WHERE seq = 3").run();
    expect(await t.gw.audit.verify()).toMatchObject({ ok: false, brokenAt: 3 });
  });
});
