import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.js";
import { ROOT } from "../helpers/gateway.js";
import { tempDir } from "../helpers/openssl.js";

/**
 * Opens a SqliteStore on `db` once `go` exists: every child is loaded and waiting first, so they all
 * migrate the fresh file at the same moment, as the workers of a first start or a CLI next to `serve` would.
 */
const CHILD = `
import { existsSync } from "node:fs";
const [db, go] = process.argv.slice(-2);
const { SqliteStore } = await import(${JSON.stringify(join(ROOT, "src/store/sqlite/store.ts"))});
console.log("ready");
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 1));
const s = new SqliteStore(db);
await s.close();
console.log("opened");
`;

function child(db: string, go: string): { ready: Promise<void>; done: Promise<{ code: number | null; out: string }> } {
  const p = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD, "--", db, go], { cwd: ROOT });
  let out = "";
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  p.stdout.on("data", (c: Buffer) => {
    out += c.toString();
    if (out.includes("ready")) onReady();
  });
  p.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const done = new Promise<{ code: number | null; out: string }>((r) => p.once("exit", (code) => {
    onReady();
    r({ code, out });
  }));
  return { ready, done };
}

describe("SQLite migrations from several processes at once", () => {
  it("six processes opening a fresh database all succeed and apply each migration once", async () => {
    const dir = tempDir("migrate-race-");
    const db = join(dir, "gateway.db");
    const go = join(dir, "go");
    const children = Array.from({ length: 6 }, () => child(db, go));
    await Promise.all(children.map((c) => c.ready));
    writeFileSync(go, "");
    const results = await Promise.all(children.map((c) => c.done));
    for (const r of results) {
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain("opened");
    }
    const check = new Database(db, { readonly: true });
    try {
      expect(check.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
      expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      check.close();
    }
  });
});
