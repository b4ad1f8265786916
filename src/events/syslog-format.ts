import { hostname } from "node:os";
import { cefMessage, cefSeverity } from "./cef.js";
import type { EventPayload } from "./types.js";

/** Our private enterprise number slot for structured data (any registered PEN works; 32473 is the documentation PEN, RFC 5612). */
export const SD_ID = "gateway@32473";

export interface SyslogFields {
  facility: number;
  hostname?: string;
  appName: string;
  procId?: string;
}

/** CEF severity bands (low, medium, high, very high) → syslog severity (informational, notice, warning, critical). */
export function syslogSeverity(cef: number): number {
  if (cef >= 9) return 2;
  if (cef >= 7) return 4;
  if (cef >= 4) return 5;
  return 6;
}

/** A header field: printable US-ASCII without spaces, at most `max` characters, "-" when empty. */
export function headerField(v: string | undefined, max: number): string {
  const s = (v ?? "").replace(/[^!-~]/g, "_").slice(0, max);
  return s || "-";
}

/** SD-PARAM value escaping (RFC 5424 §6.3.3): `"`, `\` and `]` get a backslash. */
export function sdEscape(v: string): string {
  return v.replace(/["\\\]]/g, "\\$&");
}

/**
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG` with MSG a CEF record. MSG is written
 * without the UTF-8 BOM (MSG-ANY): CEF parsers expect the record to start with "CEF:".
 */
export function formatSyslog(e: EventPayload, f: SyslogFields): string {
  const pri = f.facility * 8 + syslogSeverity(cefSeverity(e.type));
  const ts = Number.isFinite(Date.parse(e.ts)) ? new Date(e.ts).toISOString() : "-";
  const sd = `[${SD_ID} seq="${e.seq}" hash="${sdEscape(e.hash)}"]`;
  return `<${pri}>1 ${ts} ${headerField(f.hostname ?? hostname(), 255)} ${headerField(f.appName, 48)} ${headerField(f.procId ?? String(process.pid), 128)} ${headerField(e.type, 32)} ${sd} ${cefMessage(e)}`;
}
