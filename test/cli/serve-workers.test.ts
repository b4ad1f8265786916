import { availableParallelism } from "node:os";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveWorkers } from "../../src/cli/serve.js";
import { validateConfig } from "../../src/config/load.js";
import { runGatewayCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/openssl.js";

describe("serve --workers", () => {
  it("auto is the core count; the flag wins over the config key; the default stays one process", () => {
    expect(resolveWorkers("auto", 1)).toBe(availableParallelism());
    expect(resolveWorkers(undefined, "auto")).toBe(availableParallelism());
    expect(resolveWorkers("3", 8)).toBe(3);
    expect(resolveWorkers(undefined, 4)).toBe(4);
    expect(resolveWorkers(undefined, validateConfig({}).workers)).toBe(1);
  });

  it("rejects anything but 1..1024 or auto", () => {
    for (const bad of ["0", "-1", "1.5", "abc", "", "1025", "2x", " auto2", true]) expect(resolveWorkers(bad, 1), String(bad)).toBeUndefined();
    expect(() => validateConfig({ workers: 0 })).toThrow();
    expect(() => validateConfig({ workers: "many" })).toThrow();
    expect(validateConfig({ workers: "auto" }).workers).toBe("auto");
  });

  it("--workers 0 or garbage is a usage error (exit 2) before anything is created", async () => {
    const dir = tempDir("serve-workers-");
    const cfg = join(dir, "config.yaml");
    writeFileSync(cfg, `dataDir: ${join(dir, "data")}\nlog: { level: silent }\n`);
    for (const bad of [["--workers", "0"], ["--workers", "lots"]]) {
      const r = await runGatewayCli(["serve", "--config", cfg, ...bad]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain("--workers must be a whole number from 1 to 1024 or \"auto\"");
    }
    const none = await runGatewayCli(["serve", "--config", cfg, "--workers"]);
    expect(none.code, none.stderr).toBe(2);
    expect(none.stderr).toBe("error: serve: option --workers needs a value\n");
    expect(existsSync(join(dir, "data"))).toBe(false);
  });
});
