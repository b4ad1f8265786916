import { createHmac, timingSafeEqual } from "node:crypto";
import { createSocket } from "node:dgram";
import { cpSync } from "node:fs";
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import { validateConfig } from "../../src/config/load.js";
import type { GatewayConfig } from "../../src/config/schema.js";
import { openGateway, type Gateway } from "../../src/gateway.js";
import { ROOT } from "../helpers/gateway.js";
import { tempDir } from "../helpers/openssl.js";

/** Polls `cond` until it is truthy; the timeout is generous on purpose (slow CI), never a speed assertion. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 30_000): Promise<Exclude<T, undefined | null | false | 0 | "">> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as Exclude<T, undefined | null | false | 0 | "">;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A gateway on a fresh data dir like testGateway, but with the logger the test gives (to capture the log sink). */
export async function gatewayWithLogger(overrides: Record<string, unknown>, log: Logger): Promise<{ gw: Gateway; config: GatewayConfig }> {
  const dir = tempDir();
  const profilesDir = join(dir, "profiles");
  cpSync(join(ROOT, "profiles"), profilesDir, { recursive: true });
  const config = validateConfig({
    dataDir: join(dir, "data"), profilesDir, listen: { https: { host: "127.0.0.1", port: 0 }, http: { host: "127.0.0.1", port: 0 } },
    externalUrl: { http: "http://127.0.0.1:8080" }, log: { level: "silent" }, ...overrides,
  });
  return { gw: await openGateway(config, log), config };
}

/** A pino logger whose JSON lines land in `lines`. */
export function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

export const silentLog = (): Logger => pino({ level: "silent" });

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** The signature recomputed here from the secret, the timestamp header and the raw body. */
  signatureValid: boolean;
  status: number;
}

/** A local webhook receiver that checks X-Gateway-Signature itself and answers what `respond` says. */
export class WebhookReceiver {
  readonly received: Received[] = [];
  respond: (n: number, r: Omit<Received, "status">) => number = () => 204;
  private server?: Server;
  port = 0;

  constructor(private readonly secret: string) {}

  async start(port = 0): Promise<this> {
    const server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const ts = String(req.headers["x-gateway-timestamp"] ?? "");
        const expected = Buffer.from(`sha256=${createHmac("sha256", this.secret).update(`${ts}.${body}`).digest("hex")}`);
        const given = Buffer.from(String(req.headers["x-gateway-signature"] ?? ""));
        const fresh = Math.abs(Date.now() / 1000 - Number(ts)) < 300;
        const r = { headers: req.headers, body, signatureValid: fresh && given.length === expected.length && timingSafeEqual(given, expected) };
        const status = this.respond(this.received.length, r);
        this.received.push({ ...r, status });
        res.writeHead(status, { "content-type": "text/plain" }).end(status >= 300 ? "receiver says no" : "");
      });
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Events answered 2xx, parsed. */
  delivered(): Array<{ seq: number; type: string; target: string | null; data: Record<string, unknown> }> {
    return this.received.filter((r) => r.status < 300).map((r) => JSON.parse(r.body) as { seq: number; type: string; target: string | null; data: Record<string, unknown> });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
}

/** A UDP syslog collector. */
export async function udpCollector(): Promise<{ port: number; messages: string[]; close(): Promise<void> }> {
  const sock = createSocket("udp4");
  const messages: string[] = [];
  sock.on("message", (m) => messages.push(m.toString("utf8")));
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  return { port: sock.address().port, messages, close: () => new Promise((r) => sock.close(() => r())) };
}

/** A TCP syslog collector reading RFC 6587 octet-counted frames. */
export async function tcpCollector(port = 0): Promise<{ port: number; messages: string[]; connections: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const messages: string[] = [];
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server = createTcpServer((s) => {
    state.connections++;
    sockets.add(s);
    let buf = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0) return;
        const len = Number(buf.subarray(0, sp).toString("ascii"));
        if (!Number.isInteger(len) || len <= 0) throw new Error(`bad frame length ${buf.subarray(0, sp).toString()}`);
        if (buf.length < sp + 1 + len) return;
        messages.push(buf.subarray(sp + 1, sp + 1 + len).toString("utf8"));
        buf = buf.subarray(sp + 1 + len);
      }
    });
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port, messages, sockets,
    get connections() { return state.connections; },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

export interface ParsedSyslog {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sdId: string;
  sdParams: Record<string, string>;
  msg: string;
}

/** Parses one RFC 5424 line with one SD element (what the gateway sends), unescaping SD-PARAM values. */
export function parseSyslog(line: string): ParsedSyslog {
  const m = /^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) \[([^ \]]+)((?: [^=\s]+="(?:[^"\\]|\\.)*")*)\] (.*)$/s.exec(line);
  if (!m) throw new Error(`not RFC 5424: ${line}`);
  const sdParams: Record<string, string> = {};
  for (const p of m[9].matchAll(/ ([^=\s]+)="((?:[^"\\]|\\.)*)"/g)) sdParams[p[1]] = p[2].replace(/\\(["\\\]])/g, "$1");
  return { pri: Number(m[1]), version: m[2], timestamp: m[3], hostname: m[4], appName: m[5], procId: m[6], msgId: m[7], sdId: m[8], sdParams, msg: m[10] };
}

/** Parses a CEF record: seven header fields (unescaping `\|`, `\\`) and the extension (unescaping `\=`, `\\`, `\n`). */
export function parseCef(msg: string): { header: string[]; ext: Record<string, string> } {
  const header: string[] = [];
  let i = 0;
  let cur = "";
  while (header.length < 7) {
    const c = msg[i++];
    if (c === undefined) throw new Error(`short CEF header: ${msg}`);
    if (c === "\\") cur += msg[i++];
    else if (c === "|") { header.push(cur); cur = ""; }
    else cur += c;
  }
  // Extension: an unescaped "=" ends a key, which is the word before it; everything else is value text.
  const ext: Record<string, string> = {};
  const rest = msg.slice(i);
  let key: string | undefined;
  let raw = "";
  const flush = (v: string) => {
    if (key !== undefined) ext[key] = v.replace(/\\(.)/g, (_m, ch: string) => (ch === "n" ? "\n" : ch === "r" ? "\r" : ch));
  };
  for (let j = 0; j < rest.length; j++) {
    const c = rest[j];
    if (c === "\\") { raw += c + rest[++j]; continue; }
    if (c === "=") {
      const sp = raw.lastIndexOf(" ");
      flush(sp < 0 ? "" : raw.slice(0, sp));
      key = raw.slice(sp + 1);
      raw = "";
      continue;
    }
    raw += c;
  }
  flush(raw);
  return { header, ext };
}

/** An HTTP server that accepts requests and never answers (a receiver that hangs); closed by `cleanups`. */
export async function hangingServer(cleanups: Array<() => Promise<unknown>>): Promise<{ hung: IncomingMessage[]; port: number }> {
  const hung: IncomingMessage[] = [];
  const hanging = createHttpServer((req) => void hung.push(req));
  await new Promise<void>((r) => hanging.listen(0, "127.0.0.1", r));
  cleanups.push(() => {
    hanging.closeAllConnections();
    return new Promise((r) => hanging.close(r));
  });
  return { hung, port: (hanging.address() as { port: number }).port };
}
