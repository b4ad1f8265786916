import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./gateway.js";

/**
 * Runs `gateway <args>` (src/cli/main.ts through tsx) without blocking this process's event loop (servers the CLI
 * talks to may live here). execFile's default 1 MiB output cap would kill a long listing mid-line.
 */
export function runGatewayCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "src/cli/main.ts"), ...args], { env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The same on a test gateway's data and profiles. */
export function runCli(args: string[], dataDir: string, profilesDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const cfg = join(dataDir, "..", `cli-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(cfg, `dataDir: ${dataDir}\nprofilesDir: ${profilesDir}\nlog: { level: silent }\n`);
  return runGatewayCli([...args, "--config", cfg]);
}
