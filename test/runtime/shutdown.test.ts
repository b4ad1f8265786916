import type { ClientRequest } from "node:http";
import { request } from "node:https";
import { connect } from "node:net";
import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeCsr } from "../helpers/csr.js";
import { opensslAsync } from "../helpers/openssl.js";
import { alive, EST_USER, logLines, processTree, startGateway, tryConnect, type GatewayProcess } from "./serve-process.js";

const tsxServe = (extra: string[] = []) => (config: string) => ["--import", "tsx", "src/cli/main.ts", "serve", "--config", config, ...extra];
const started: GatewayProcess[] = [];

afterEach(() => {
  for (const g of started.splice(0)) if (g.proc.exitCode === null && g.proc.signalCode === null) g.proc.kill("SIGKILL");
});

interface Held {
  req: ClientRequest;
  /** Resolves once the server has sent 100 Continue: it has parsed the headers and the request is in flight. */
  inFlight: Promise<void>;
  response: Promise<{ status: number; body: string }>;
  body: string;
}

/** An EST enrollment whose body is held back: the client asks `Expect: 100-continue` and sends nothing more yet. */
function heldEnrollment(g: GatewayProcess, name: string): Held {
  const csr = makeCsr(g.dir, name, { subject: `/CN=${name}.example.com` });
  const body = readFileSync(csr.body, "utf8");
  const req = request({
    host: "127.0.0.1", port: g.httpsPort, method: "POST", path: "/.well-known/est/simpleenroll", agent: false, rejectUnauthorized: false,
    headers: {
      Authorization: `Basic ${Buffer.from(`${EST_USER.name}:${EST_USER.password}`).toString("base64")}`,
      "Content-Type": "application/pkcs10", "Content-Length": Buffer.byteLength(body), Expect: "100-continue",
    },
  });
  const inFlight = new Promise<void>((r) => req.once("continue", () => r()));
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.once("response", (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (d: string) => (text += d)).once("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.once("error", reject);
  });
  req.flushHeaders();
  return { req, inFlight, response, body };
}

/** A keep-alive connection that has had one answer and now sits idle; `closed` resolves when the server closes it. */
async function idleKeepAlive(port: number): Promise<{ closed: Promise<void> }> {
  const s = connect(port, "127.0.0.1");
  let seen = "";
  const answered = new Promise<void>((r) => s.on("data", (d: Buffer) => { seen += d.toString("latin1"); if (seen.includes("\r\n\r\n")) r(); }));
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n");
  await answered;
  expect(seen).toMatch(/^HTTP\/1\.1 200/);
  return { closed };
}

describe("graceful shutdown", () => {
  it("SIGTERM: new connections are refused, a request in flight finishes with 200, idle keep-alive connections close, one log line, exit 0", async () => {
    const g = await startGateway("shutdown-", process.execPath, tsxServe());
    started.push(g);
    const held = heldEnrollment(g, "held");
    await held.inFlight;
    const idle = await idleKeepAlive(g.httpPort);

    g.proc.kill("SIGTERM");
    // Both listeners stop accepting while the enrollment is still waiting for its body.
    await vi.waitFor(async () => expect(await tryConnect(g.httpsPort)).toBe("ECONNREFUSED"), { timeout: 30_000, interval: 50 });
    expect(await tryConnect(g.httpPort)).toBe("ECONNREFUSED");
    await idle.closed;
    expect(g.proc.exitCode).toBeNull(); // still draining the enrollment

    held.req.end(held.body);
    const res = await held.response;
    expect(res.status, res.body).toBe(200);
    const p7 = join(g.dir, "held.p7");
    writeFileSync(p7, Buffer.from(res.body.replace(/\s+/g, ""), "base64"));
    const printed = await opensslAsync(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs", "-noout"]);
    expect(printed.out).toMatch(/subject=.*CN ?= ?held\.example\.com/);

    expect(await g.exited).toEqual({ code: 0, signal: null });
    const stopped = logLines(g).filter((l) => l.msg === "gateway stopped");
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatchObject({ signal: "SIGTERM", inFlightFinished: 1, forced: 0 });
    expect(typeof stopped[0].ms).toBe("number");
  }, 180_000);

  it("a request still in flight when the bound runs out is cut off; the gateway still exits 0 and counts it as forced", async () => {
    const g = await startGateway("shutdown-forced-", process.execPath, tsxServe());
    started.push(g);
    const held = heldEnrollment(g, "never");
    await held.inFlight;
    const outcome = held.response.then((r) => `answered ${r.status}`, (e: NodeJS.ErrnoException) => e.code ?? e.message);

    g.proc.kill("SIGINT");
    expect(await g.exited).toEqual({ code: 0, signal: null });
    expect(await outcome).toMatch(/ECONNRESET|socket hang up/);
    const stopped = logLines(g).filter((l) => l.msg === "gateway stopped");
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatchObject({ signal: "SIGINT", inFlightFinished: 0, forced: 1 });
    expect(stopped[0].ms).toBeGreaterThanOrEqual(10_000); // SHUTDOWN_GRACE_MS: the bound was waited for, not skipped
  }, 180_000);

  it("--workers 2: SIGTERM to the primary stops every worker (one line each) and the primary exits 0", async () => {
    const g = await startGateway("shutdown-workers-", process.execPath, tsxServe(["--workers", "2"]));
    started.push(g);
    await vi.waitFor(() => expect(logLines(g).filter((l) => l.msg === "worker ready")).toHaveLength(2), { timeout: 60_000, interval: 100 });
    const workers = logLines(g).filter((l) => l.msg === "worker ready").map((l) => l.workerPid as number);
    const tree = processTree(g.proc.pid ?? 0); // the primary, its workers (and tsx's esbuild service processes)
    for (const w of workers) expect(tree).toContain(w);

    g.proc.kill("SIGTERM");
    expect(await g.exited).toEqual({ code: 0, signal: null });
    const stopped = logLines(g).filter((l) => l.msg === "gateway stopped");
    expect(stopped).toHaveLength(2);
    expect(new Set(stopped.map((l) => l.pid))).toEqual(new Set(workers));
    await vi.waitFor(() => expect(alive(tree)).toEqual([]), { timeout: 30_000, interval: 100 });
    expect(await tryConnect(g.httpsPort)).toBe("ECONNREFUSED");
  }, 180_000);
});
