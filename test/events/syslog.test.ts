import { hostname } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { parseCef, parseSyslog, tcpCollector, udpCollector, waitFor } from "./harness.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function gateway(sink: Record<string, unknown>): Promise<TestGateway> {
  const t = await testGateway({ events: { pollIntervalMs: 50, sinks: [{ name: "siem", types: ["request.*", "test.*"], backoff: { initialMs: 20, maxMs: 100 }, ...sink }] } });
  cleanups.push(() => t.gw.close());
  return t;
}

/** An event whose values need escaping in every layer. */
function recordTricky(t: TestGateway) {
  return t.gw.audit.record({ type: "request.rejected", actor: "est-user:a|b", target: "CN=x|y\\z", data: { reason: "name=evil|host", note: "two\nlines" } });
}

function checkTricky(line: string, e: { seq: number; hash: string; ts: string }, facility: number, host: string) {
  const p = parseSyslog(line);
  expect(p.pri).toBe(facility * 8 + 5); // request.rejected: CEF 6 → notice
  expect(p).toMatchObject({ version: "1", hostname: host, appName: "enrollment-gateway", procId: String(process.pid), msgId: "request.rejected", sdId: "gateway@32473" });
  expect(p.timestamp).toBe(e.ts);
  expect(p.sdParams).toEqual({ seq: String(e.seq), hash: e.hash });
  const cef = parseCef(p.msg);
  expect(cef.header).toEqual(["CEF:0", "Enrollment Gateway", "enrollment-gateway", "0.1.0", "request.rejected", "request rejected", "6"]);
  expect(cef.ext).toMatchObject({ suser: "est-user:a|b", cs1Label: "target", cs1: "CN=x|y\\z", cs2Label: "seq", cs2: String(e.seq), rt: String(Date.parse(e.ts)) });
  expect(JSON.parse(cef.ext.msg)).toEqual({ reason: "name=evil|host", note: "two\nlines" });
  expect(p.msg).toContain("cs1=CN\\=x|y\\\\z");
  expect(line).not.toContain("\n");
}

describe("syslog sink", () => {
  it("sends RFC 5424 + CEF over UDP, one datagram per event", async () => {
    const c = await udpCollector();
    cleanups.push(() => c.close());
    const t = await gateway({ type: "syslog", transport: "udp", host: "127.0.0.1", port: c.port, facility: 13 });
    const e = await recordTricky(t);
    await t.gw.audit.record({ type: "test.second", actor: "test" });
    await t.gw.audit.record({ type: "other.ignored", actor: "test" });
    await waitFor(() => c.messages.length >= 2, "two datagrams");
    checkTricky(c.messages[0], e, 13, hostname());
    expect(parseSyslog(c.messages[1]).msgId).toBe("test.second");
    await t.gw.events.flush();
    expect(c.messages).toHaveLength(2);
    expect(await t.gw.store.outbox.list({ status: "delivered" })).toHaveLength(2);
  });

  it("sends octet-counted frames over one TCP connection and reconnects after the collector drops it", async () => {
    const c = await tcpCollector();
    cleanups.push(() => c.close());
    const t = await gateway({ type: "syslog", transport: "tcp", host: "127.0.0.1", port: c.port, hostname: "ra-1.example.com" });
    const e = await recordTricky(t);
    for (let i = 0; i < 3; i++) await t.gw.audit.record({ type: "test.burst", actor: "test", data: { i } });
    await waitFor(() => c.messages.length >= 4, "four frames");
    checkTricky(c.messages[0], e, 10, "ra-1.example.com");
    expect(c.messages.slice(1).map((m) => JSON.parse(parseCef(parseSyslog(m).msg).ext.msg).i)).toEqual([0, 1, 2]);
    expect(c.connections).toBe(1);

    for (const s of c.sockets) s.destroy();
    await waitFor(() => c.sockets.size === 0, "the collector to drop the connection");
    await new Promise((r) => setTimeout(r, 300)); // let the gateway's socket see the FIN (not a speed assertion)
    await t.gw.audit.record({ type: "test.after-drop", actor: "test" });
    await waitFor(() => c.messages.length >= 5, "a frame on a new connection");
    expect(parseSyslog(c.messages[4]).msgId).toBe("test.after-drop");
    expect(c.connections).toBe(2);
  });

  it("retries while the TCP collector is unreachable, then delivers", async () => {
    const c = await tcpCollector();
    const port = c.port;
    await c.close();
    const t = await gateway({ type: "syslog", transport: "tcp", host: "127.0.0.1", port });
    await t.gw.audit.record({ type: "test.waiting", actor: "test" });
    const row = await waitFor(async () => (await t.gw.store.outbox.list({})).find((o) => o.attempts >= 1), "a failed attempt");
    expect(row.status).not.toBe("delivered");
    expect(row.lastError).toMatch(/ECONNREFUSED/);
    const up = await tcpCollector(port);
    cleanups.push(() => up.close());
    await waitFor(() => up.messages.length === 1, "the frame once the collector is up");
    expect(parseSyslog(up.messages[0]).msgId).toBe("test.waiting");
    await waitFor(async () => (await t.gw.store.outbox.get(row.id))?.status === "delivered", "the row delivered");
  });
});
