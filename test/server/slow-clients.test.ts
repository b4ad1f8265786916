import { readFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { get as httpGet } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";

interface Env { t: TestGateway; servers: RunningServers; ca: string }

async function env(limits: Record<string, number>): Promise<Env> {
  const t = await testGateway({ externalUrl: {}, limits });
  const servers = await startServers(t.gw);
  return { t, servers, ca: readFileSync(join(t.gw.paths.data, "cas", "dev-root", "cert.pem"), "utf8") };
}

/** What the server sent on a socket and whether it closed the socket, once it has. */
function watch(s: Socket): { data: () => string; closed: Promise<void> } {
  let data = "";
  s.on("data", (c: Buffer) => (data += c.toString("latin1")));
  s.on("error", () => {}); // a reset is one way of being closed
  return { data: () => data, closed: new Promise((r) => s.once("close", () => r())) };
}

function connected(s: Socket, event = "connect"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    s.once(event, () => resolve(s));
    s.once("error", reject);
  });
}

/** GET /healthz on a fresh connection, optionally from another loopback address. */
function healthz(e: Env, on: "http" | "https", localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const opts = { host: "127.0.0.1", path: "/healthz", agent: false as const, localAddress };
    const done = (res: { statusCode?: number; resume(): void }) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    };
    const req = on === "https"
      ? httpsGet({ ...opts, port: e.servers.httpsPort, ca: e.ca, servername: "localhost" }, done)
      : httpGet({ ...opts, port: e.servers.httpPort }, done);
    req.on("error", reject);
  });
}

/** Sends one byte of a header line at a time until the server closes the socket. */
function dribble(s: Socket): void {
  const timer = setInterval(() => s.writable && s.write("a"), 100);
  s.once("close", () => clearInterval(timer));
}

describe("per-address connection cap", () => {
  const CAP = 4;
  let e: Env;
  // Generous timeouts: the slow connections must outlive the test's probes.
  beforeAll(async () => (e = await env({ maxConnectionsPerAddress: CAP, headersTimeoutMs: 60_000, requestTimeoutMs: 120_000 })));
  afterAll(async () => {
    await e?.servers.close();
    await e?.t.gw.close();
  });

  it("HTTP: past the cap a connection is closed at once; other addresses and, after the slow ones go, this one are served", async () => {
    const slow = await Promise.all(Array.from({ length: CAP }, async () => {
      const s = await connected(netConnect(e.servers.httpPort, "127.0.0.1"));
      s.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n"); // headers never finished
      return s;
    }));
    await vi.waitFor(() => expect(e.servers.connections.http.open("127.0.0.1")).toBe(CAP), { timeout: 15_000 });

    const over = netConnect(e.servers.httpPort, "127.0.0.1");
    const seen = watch(over);
    over.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    await seen.closed;
    expect(seen.data()).toBe("");
    expect(await e.t.gw.metrics.registry.getSingleMetricAsString("gateway_http_connections_refused_total")).toMatch(/listener="http"} [1-9]/);

    expect(await healthz(e, "http", "127.0.0.2")).toBe(200); // another address is not affected

    for (const s of slow) s.destroy();
    await vi.waitFor(() => expect(e.servers.connections.http.open("127.0.0.1")).toBe(0), { timeout: 15_000 });
    expect(await healthz(e, "http")).toBe(200);
  });

  it("HTTPS: connections count before the TLS handshake", async () => {
    // Raw TCP, no ClientHello: a client stalling the handshake still holds a slot.
    const slow = await Promise.all(Array.from({ length: CAP }, () => connected(netConnect(e.servers.httpsPort, "127.0.0.1"))));
    await vi.waitFor(() => expect(e.servers.connections.https.open("127.0.0.1")).toBe(CAP), { timeout: 15_000 });

    const over = tlsConnect({ host: "127.0.0.1", port: e.servers.httpsPort, ca: e.ca, servername: "localhost" });
    const outcome = await new Promise<string>((resolve) => {
      over.once("secureConnect", () => resolve("handshake completed"));
      over.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      over.once("close", () => resolve("closed"));
    });
    expect(outcome).not.toBe("handshake completed");
    over.destroy();

    expect(await healthz(e, "https", "127.0.0.2")).toBe(200);

    for (const s of slow) s.destroy();
    await vi.waitFor(() => expect(e.servers.connections.https.open("127.0.0.1")).toBe(0), { timeout: 15_000 });
    expect(await healthz(e, "https")).toBe(200);
  });
});

// Each case waits for the server to close the socket. The test timeout (20 s) is a guard, not a measure:
// with the configured 1 s the close comes early; without these limits Node would keep such a socket far longer.
describe("slow clients are disconnected", () => {
  let e: Env;
  beforeAll(async () => (e = await env({ headersTimeoutMs: 1000, requestTimeoutMs: 2000 })));
  afterAll(async () => {
    await e?.servers.close();
    await e?.t.gw.close();
  });

  it("HTTP: headers sent a byte at a time (slowloris) get 408 and a closed socket", { timeout: 20_000 }, async () => {
    const s = await connected(netConnect(e.servers.httpPort, "127.0.0.1"));
    const seen = watch(s);
    s.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    dribble(s);
    await seen.closed;
    expect(seen.data()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("HTTP: a body sent a byte at a time is cut off after the request timeout", { timeout: 20_000 }, async () => {
    const s = await connected(netConnect(e.servers.httpPort, "127.0.0.1"));
    const seen = watch(s);
    s.write("POST /ocsp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/ocsp-request\r\nContent-Length: 4000\r\n\r\n");
    dribble(s);
    await seen.closed;
    expect(seen.data()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("HTTPS: slowloris after the handshake gets 408 and a closed socket", { timeout: 20_000 }, async () => {
    const s = await connected(tlsConnect({ host: "127.0.0.1", port: e.servers.httpsPort, ca: e.ca, servername: "localhost" }), "secureConnect");
    const seen = watch(s);
    s.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    dribble(s);
    await seen.closed;
    expect(seen.data()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("HTTPS: a connection that never starts the TLS handshake is closed", { timeout: 20_000 }, async () => {
    const s = await connected(netConnect(e.servers.httpsPort, "127.0.0.1"));
    const seen = watch(s);
    await seen.closed;
    expect(seen.data()).toBe("");
  });
});
