import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository (this file is test/docs/markdown.ts); not from helpers/gateway.ts, which loads the whole gateway. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The source tree whose `gateway` the doc tests run: the repository, or DOCS_GATEWAY_ROOT (a snapshot, while editing). */
export const GATEWAY_ROOT = process.env.DOCS_GATEWAY_ROOT ?? ROOT;

/** README.md and every Markdown file under docs/, as paths relative to the repository. */
export function markdownFiles(): string[] {
  const out = ["README.md"];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir)).sort()) {
      const rel = join(dir, e);
      if (statSync(join(ROOT, rel)).isDirectory()) walk(rel);
      else if (e.endsWith(".md")) out.push(rel);
    }
  };
  if (existsSync(join(ROOT, "docs"))) walk("docs");
  return out;
}

export interface Line {
  text: string;
  /** 1-based. */
  line: number;
}

/** Lines outside fenced code blocks (``` or ~~~), with their numbers. */
export function proseLines(markdown: string): Line[] {
  const out: Line[] = [];
  let fence: string | undefined;
  markdown.split("\n").forEach((text, i) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(text);
    if (m) {
      if (!fence) fence = m[1][0];
      else if (m[1][0] === fence) fence = undefined;
      return;
    }
    if (!fence) out.push({ text, line: i + 1 });
  });
  return out;
}

/** GitHub's heading anchor: lower case, punctuation dropped (letters, digits, '-', '_' and spaces kept), spaces → '-'. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/`([^`]*)`/g, "$1")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\- _]/gu, "").replace(/ /g, "-");
}

/** Every anchor a file offers: heading slugs (repeats numbered -1, -2 … as GitHub does) and explicit `<a id>`/`name`. */
export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { text } of proseLines(markdown)) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (h) {
      const base = githubSlug(h[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n ? `${base}-${n}` : base);
    }
    for (const m of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]);
  }
  return anchors;
}

export interface Link {
  target: string;
  line: number;
}

/** Inline links and images outside code (fenced blocks and `code spans`). */
export function linksOf(markdown: string): Link[] {
  const out: Link[] = [];
  for (const { text, line } of proseLines(markdown)) {
    const prose = text.replace(/`[^`]*`/g, "");
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1], line });
  }
  return out;
}

/** A link to another site or scheme, which this check leaves alone. */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/** Problems with the relative links of one file: missing files, missing anchors. Empty when all resolve. */
export function brokenLinks(file: string): string[] {
  const problems: string[] = [];
  const text = readFileSync(join(ROOT, file), "utf8");
  const dir = join(ROOT, file, "..");
  for (const { target, line } of linksOf(text)) {
    if (isExternal(target)) continue;
    const [pathPart, anchor] = target.split("#", 2) as [string, string | undefined];
    const resolved = pathPart ? join(dir, decodeURIComponent(pathPart)) : join(ROOT, file);
    const where = `${file}:${line}: ${target}`;
    if (!resolved.startsWith(ROOT)) {
      problems.push(`${where}: points outside the repository`);
      continue;
    }
    if (!existsSync(resolved)) {
      problems.push(`${where}: ${relative(ROOT, resolved)} does not exist`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!resolved.endsWith(".md")) {
      problems.push(`${where}: an anchor into a file that is not Markdown`);
      continue;
    }
    if (!anchorsOf(readFileSync(resolved, "utf8")).has(anchor)) problems.push(`${where}: no heading with anchor #${anchor} in ${relative(ROOT, resolved)}`);
  }
  return problems;
}
