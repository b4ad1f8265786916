import type { EventPayload } from "./types.js";
import { globToRegExp } from "./routing.js";

export const CEF_VENDOR = "Enrollment Gateway";
export const CEF_PRODUCT = "enrollment-gateway";
export const CEF_VERSION = "0.1.0";

/** CEF severity (0-10) by event type: first match wins; everything else is 3 (low). */
const SEVERITY_RULES: ReadonlyArray<[RegExp, number]> = [
  ["enforcement.*", 8],
  ["*denied*", 7],
  ["*invalid*", 7],
  ["*.rejected", 6],
  ["*.failed", 6],
  ["*.revoked", 5],
].map(([p, s]) => [globToRegExp(p as string), s as number]);

export function cefSeverity(type: string): number {
  for (const [re, s] of SEVERITY_RULES) if (re.test(type)) return s;
  return 3;
}

/** Header fields: `\` and `|` are escaped; line breaks cannot appear in a header, so they become spaces. */
export function cefHeaderEscape(v: string): string {
  return v.replace(/[\\|]/g, "\\$&").replace(/\r\n|[\r\n]/g, " ");
}

/** Extension values: `\` and `=` are escaped, line breaks written as `\n` / `\r`. */
export function cefExtensionEscape(v: string): string {
  return v.replace(/[\\=]/g, "\\$&").replace(/\r\n|\n/g, "\\n").replace(/\r/g, "\\r");
}

/** "certificate.issued" → "certificate issued". */
export function shortName(type: string): string {
  return type.replace(/[._]+/g, " ").trim() || type;
}

/** Longest `msg` text before escaping; CEF consumers commonly cap msg at 1023 characters. */
const MSG_MAX = 1000;

/** One CEF record for an audit event. */
export function cefMessage(e: EventPayload): string {
  const header = [CEF_VENDOR, CEF_PRODUCT, CEF_VERSION, e.type, shortName(e.type), String(cefSeverity(e.type))].map(cefHeaderEscape);
  const ext: Array<[string, string]> = [];
  const rt = Date.parse(e.ts);
  if (Number.isFinite(rt)) ext.push(["rt", String(rt)]);
  if (e.actor) ext.push(["suser", e.actor]);
  if (e.target !== null) ext.push(["cs1Label", "target"], ["cs1", e.target]);
  ext.push(["cs2Label", "seq"], ["cs2", String(e.seq)]);
  ext.push(["cs3Label", "hash"], ["cs3", e.hash]);
  let msg = JSON.stringify(e.data) ?? "{}";
  if (msg.length > MSG_MAX) msg = `${msg.slice(0, MSG_MAX - 3)}...`;
  ext.push(["msg", msg]);
  return `CEF:0|${header.join("|")}|${ext.map(([k, v]) => `${k}=${cefExtensionEscape(v)}`).join(" ")}`;
}
