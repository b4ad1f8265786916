import { describe, expect, it } from "vitest";
import { eventsConfigSchema } from "../../src/config/schema-events.js";
import { cefMessage, cefSeverity } from "../../src/events/cef.js";
import { backoffDelay } from "../../src/events/dispatcher.js";
import { typeMatcher } from "../../src/events/routing.js";
import { formatSyslog } from "../../src/events/syslog-format.js";
import { truncateUtf8 } from "../../src/events/syslog-transport.js";
import type { EventPayload } from "../../src/events/types.js";
import { parseCef, parseSyslog } from "./harness.js";

const event = (over: Partial<EventPayload> = {}): EventPayload => ({
  seq: 7, ts: "2025-01-02T03:04:05.678Z", type: "certificate.issued", actor: "admin:ops", target: "0a1b", data: { profile: "tls-server" },
  prevHash: "0".repeat(64), hash: "ab".repeat(32), ...over,
});

describe("event routing", () => {
  it("matches type globs", () => {
    const m = typeMatcher(["certificate.*", "request.rejected", "*denied*"]);
    expect(["certificate.issued", "certificate.revoked", "request.rejected", "acme.authz.denied", "x.denied.y"].every(m)).toBe(true);
    expect(["certificates.issued", "request.accepted", "request.rejectedX", "certificate"].some(m)).toBe(false);
    expect(typeMatcher(["*"])("anything.at.all")).toBe(true);
    expect(typeMatcher(["a.b"])("aXb")).toBe(false); // "." is literal
  });

  it("backs off exponentially up to maxMs", () => {
    const b = { initialMs: 1000, maxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6, 60].map((n) => backoffDelay(n, b))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });
});

describe("events config", () => {
  it("fills defaults and refuses duplicate names, unknown keys and bad URLs", () => {
    const c = eventsConfigSchema.parse({ sinks: [{ type: "webhook", name: "siem", url: "https://siem.example/hook", hmacSecret: { env: "X" } }, { type: "syslog", name: "rs", transport: "tcp", host: "relay" }] });
    expect(c.pollIntervalMs).toBe(1000);
    expect(c.sinks[0]).toMatchObject({ types: ["*"], timeoutMs: 5000, maxAttempts: 10, backoff: { initialMs: 1000, maxMs: 300_000 } });
    expect(c.sinks[1]).toMatchObject({ port: 514, facility: 10, appName: "enrollment-gateway" });
    const bad = eventsConfigSchema.safeParse({ sinks: [{ type: "log", name: "a" }, { type: "log", name: "a" }] });
    expect(bad.error?.issues.map((i) => i.message)).toContain("duplicate sink name a");
    expect(eventsConfigSchema.safeParse({ sinks: [{ type: "log", name: "a", extra: 1 }] }).success).toBe(false);
    expect(eventsConfigSchema.safeParse({ sinks: [{ type: "webhook", name: "w", url: "file:///etc/passwd", hmacSecret: "s" }] }).success).toBe(false);
    expect(eventsConfigSchema.safeParse({ sinks: [{ type: "syslog", name: "s", transport: "udp", host: "h", facility: 24 }] }).success).toBe(false);
  });
});

describe("CEF and RFC 5424", () => {
  it("escapes header and extension values and survives a round trip", () => {
    const e = event({ type: "odd|type\\x", actor: "cn=a|b", target: "k=v|w\\z", data: { note: "line1\nline2", eq: "a=b" } });
    const cef = parseCef(cefMessage(e));
    expect(cef.header).toEqual(["CEF:0", "Enrollment Gateway", "enrollment-gateway", "0.1.0", "odd|type\\x", "odd|type\\x", "3"]);
    expect(cef.ext.suser).toBe("cn=a|b");
    expect(cef.ext.cs1Label).toBe("target");
    expect(cef.ext.cs1).toBe("k=v|w\\z");
    expect(cef.ext.cs2).toBe("7");
    expect(cef.ext.rt).toBe(String(Date.parse(e.ts)));
    expect(JSON.parse(cef.ext.msg)).toEqual(e.data);
    expect(cefMessage(e)).not.toMatch(/\n/);
  });

  it("rates severity by event type", () => {
    expect(cefSeverity("certificate.issued")).toBe(3);
    expect(cefSeverity("certificate.revoked")).toBe(5);
    expect(cefSeverity("request.rejected")).toBe(6);
    expect(cefSeverity("issuance.failed")).toBe(6);
    expect(cefSeverity("acme.authz.invalid")).toBe(7);
    expect(cefSeverity("authorization.denied")).toBe(7);
    expect(cefSeverity("enforcement.applied")).toBe(8);
  });

  it("formats an RFC 5424 line with PRI, MSGID and escaped structured data", () => {
    const line = formatSyslog(event({ type: "x".repeat(40), hash: 'h"a]s\\h' }), { facility: 13, appName: "gw", hostname: "host1", procId: "42" });
    const p = parseSyslog(line);
    expect(p.pri).toBe(13 * 8 + 6);
    expect(p).toMatchObject({ version: "1", timestamp: "2025-01-02T03:04:05.678Z", hostname: "host1", appName: "gw", procId: "42", msgId: "x".repeat(32), sdId: "gateway@32473" });
    expect(p.sdParams).toEqual({ seq: "7", hash: 'h"a]s\\h' });
    expect(p.msg.startsWith("CEF:0|")).toBe(true);
    expect(parseSyslog(formatSyslog(event({ type: "enforcement.applied" }), { facility: 10, appName: "gw" })).pri).toBe(10 * 8 + 4);
  });

  it("truncates on a UTF-8 character boundary", () => {
    const b = Buffer.from("aé€", "utf8"); // 1 + 2 + 3 bytes
    expect(truncateUtf8(b, 4).toString("utf8")).toBe("aé");
    expect(truncateUtf8(b, 5).toString("utf8")).toBe("aé");
    expect(truncateUtf8(b, 6).toString("utf8")).toBe("aé€");
    expect(truncateUtf8(b, 2).toString("utf8")).toBe("a");
  });
});
