import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { anchorsOf, brokenLinks, githubSlug, linksOf, markdownFiles, ROOT } from "./markdown.js";

describe("documentation links", () => {
  it("README.md and docs/ exist and link to each other", () => {
    const files = markdownFiles();
    expect(files).toContain("README.md");
    for (const page of ["acme", "est", "scep", "cmp", "profiles", "hsm", "operations", "troubleshooting", "interop"]) {
      expect(files, `docs/${page}.md is missing`).toContain(`docs/${page}.md`);
    }
    // Every docs page is reachable from the README, directly or through another page.
    const reached = new Set<string>(["README.md"]);
    const queue = ["README.md"];
    while (queue.length) {
      const file = queue.shift()!;
      const text = readText(file);
      for (const { target } of linksOf(text)) {
        const path = target.split("#")[0];
        if (!path.endsWith(".md") || /^[a-z]+:/i.test(path)) continue;
        const rel = join(file, "..", path);
        if (!reached.has(rel) && files.includes(rel)) {
          reached.add(rel);
          queue.push(rel);
        }
      }
    }
    expect(files.filter((f) => !reached.has(f))).toEqual([]);
  });

  it("every relative link resolves to a file, and every #anchor to a heading", () => {
    const problems = markdownFiles().flatMap((f) => brokenLinks(f));
    expect(problems).toEqual([]);
  });
});

describe("the link checker", () => {
  const dir = join(ROOT, "test-output", `docs-links-${process.pid}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("makes GitHub's anchors", () => {
    expect(githubSlug("ACME (RFC 8555)")).toBe("acme-rfc-8555");
    expect(githubSlug("Hardware-bound certificates: `device-attest-01`")).toBe("hardware-bound-certificates-device-attest-01");
    expect(githubSlug("CMP (RFC 9483 lightweight CMP over HTTP)")).toBe("cmp-rfc-9483-lightweight-cmp-over-http");
    expect(githubSlug("Symptoms → cause → fix")).toBe("symptoms--cause--fix");
    expect([...anchorsOf("# A\n## Same\n```\n## Not a heading\n```\n## Same\n")]).toEqual(["a", "same", "same-1"]);
  });

  it("reports a missing file, a missing anchor and ignores code and external links", () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "a.md"), [
      "# Page A", "## Known part",
      "[ok](#known-part) [ok](b.md#b-heading) [ext](https://example.com/x.md)",
      "[gone](missing.md) [bad anchor](b.md#nope) [self](#unknown)",
      "`[code](nowhere.md)`", "```", "[fenced](nowhere.md)", "```",
    ].join("\n"));
    writeFileSync(join(dir, "b.md"), "# B heading\n");
    const rel = join("test-output", `docs-links-${process.pid}`, "a.md");
    const problems = brokenLinks(rel);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/a\.md:4: missing\.md: .*missing\.md does not exist/);
    expect(problems[1]).toContain("no heading with anchor #nope");
    expect(problems[2]).toContain("no heading with anchor #unknown");
  });
});

function readText(file: string): string {
  return readFileSync(join(ROOT, file), "utf8");
}
