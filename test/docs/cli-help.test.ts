import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GATEWAY_ROOT, ROOT } from "./markdown.js";

// docs/api.md shows `gateway --help` verbatim (the first fenced block under "## CLI"): it must be what the CLI prints.

describe("docs/api.md CLI synopsis", () => {
  it("equals the output of `gateway --help`", async () => {
    const md = readFileSync(join(ROOT, "docs/api.md"), "utf8");
    const m = /^## CLI\n[\s\S]*?\n```\n([\s\S]*?)```/m.exec(md);
    expect(m, "docs/api.md has no fenced block under ## CLI").not.toBeNull();
    const help = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", "src/cli/main.ts", "--help"], { cwd: GATEWAY_ROOT, timeout: 50_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: stdout || stderr });
      });
    });
    expect(help.code, help.out).toBe(0);
    expect(m![1].trimEnd()).toBe(help.out.trimEnd());
  });
});
