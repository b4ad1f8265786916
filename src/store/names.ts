import { hash } from "node:crypto";

/** The canonical key of a SAN list: the same names in any order give the same key (what implicit renewal matches on). */
export function namesKey(sans: readonly string[]): string {
  // crypto.hash: one-shot, without the stream object createHash builds (a few µs, twice per issuance).
  return hash("sha256", [...sans].sort().join("\n"), "hex");
}

const NAME_KINDS = /^(dns|ip|email|uri|permanentId|hardwareModule):/;

/** A device selector as (value, kind): "permanentId:X" is that kind only, a bare value any kind. */
export function nameSelector(entry: string): { value: string; kind: string | null } {
  const m = NAME_KINDS.exec(entry);
  return m ? { value: entry.slice(m[0].length), kind: m[1] } : { value: entry, kind: null };
}
