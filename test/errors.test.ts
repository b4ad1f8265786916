import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES } from "../src/errors.js";
import { ROOT } from "./helpers/gateway.js";

describe("error registry", () => {
  it("codes are unique, prefixed, documented in code and in the error table (docs/api.md)", () => {
    const table = readFileSync(join(ROOT, "docs", "api.md"), "utf8");
    const codes = Object.keys(ERROR_CODES);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [code, def] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^RA_ERR_[A-Z0-9_]+$/);
      expect(def.doc.length).toBeGreaterThan(10);
      expect(table, `docs/api.md lacks ${code}`).toMatch(new RegExp(`^\\| \`?${code}\`? \\|`, "m"));
    }
  });
});
