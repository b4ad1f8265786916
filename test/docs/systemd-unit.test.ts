import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "./markdown.js";

// The systemd unit in docs/operations.md (the ```ini block after `<!-- systemd-unit -->`) is a unit systemd loads
// without a warning, with the settings the operations page promises.

function unitText(): string {
  const md = readFileSync(join(ROOT, "docs/operations.md"), "utf8");
  const m = /<!-- systemd-unit -->\n```ini\n([\s\S]*?)```/.exec(md);
  if (!m) throw new Error("docs/operations.md has no ```ini block after <!-- systemd-unit -->");
  return m[1];
}

function settings(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = "";
  for (const raw of unit.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) {
      section = s[1];
      continue;
    }
    const eq = line.indexOf("=");
    const key = `${section}.${line.slice(0, eq)}`;
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

describe("docs/operations.md systemd unit", () => {
  const dir = mkdtempSync(join(tmpdir(), "unit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs the compiled CLI as an unprivileged user, restarts on failure, stops with SIGTERM within a bound", () => {
    const s = settings(unitText());
    expect(s.get("Service.User")).toEqual(["gateway"]);
    expect(s.get("Service.ExecStart")).toEqual(["/usr/bin/node --max-semi-space-size=4 /opt/gateway/dist/src/cli/main.js serve --config /etc/gateway/config.yaml"]);
    expect(s.get("Service.ExecStartPre")?.[0]).toContain("check-config --config /etc/gateway/config.yaml");
    expect(s.get("Service.Restart")).toEqual(["on-failure"]);
    expect(s.get("Service.KillSignal")).toEqual(["SIGTERM"]);
    expect(Number(s.get("Service.TimeoutStopSec")?.[0])).toBeGreaterThan(0);
    for (const k of ["NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet", "SystemCallFilter"]) {
      expect(s.has(`Service.${k}`), `no ${k}=`).toBe(true);
    }
    expect(s.get("Service.MemoryDenyWriteExecute"), "Node's JIT needs W+X memory").toBeUndefined();
    expect(s.get("Install.WantedBy")).toEqual(["multi-user.target"]);
  });

  it("loads in systemd without a warning (systemd-analyze verify)", async () => {
    const file = join(dir, "gateway.service");
    // verify checks that each command's program exists: where Node.js is not /usr/bin/node, name the running one.
    const unit = existsSync("/usr/bin/node") ? unitText() : unitText().replaceAll("/usr/bin/node ", `${process.execPath} `);
    writeFileSync(file, unit);
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile("systemd-analyze", ["verify", file], { timeout: 50_000 }, (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
          resolve({ code: -1, out: "systemd-analyze is not installed (apt-get install systemd)" });
          return;
        }
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: `${stdout}${stderr}` });
      });
    });
    expect(r.code, r.out).toBe(0);
    // Unknown keys and bad values are only warnings: any line about our file is one.
    expect(r.out.split("\n").filter((l) => l.includes("gateway.service"))).toEqual([]);
  });
});
