import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from "node:net";
import { join } from "node:path";
import { createSecureContext, createServer as createTlsServer } from "node:tls";
import { acmeValidationSchema, type AcmeValidationConfig } from "../../../protocols/acme/config.js";
import { ipToBytes } from "../../../src/asn1/ip.js";
import { opensslAsync } from "../../helpers/openssl.js";

/** Real servers on loopback for the validator tests; each file closes its own with closeAll(). */
const closers: Array<() => Promise<void>> = [];
export async function closeAll(): Promise<void> {
  await Promise.all(closers.splice(0).map((c) => c()));
}

async function listenTcp(server: TcpServer, host = "127.0.0.1"): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, r));
  closers.push(() => new Promise((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

/** Open connections right now, to prove a validation left none behind. */
export function connections(server: TcpServer): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
}

export interface HttpTarget {
  server: Server;
  port: number;
  /** "Host url" of each request seen. */
  hits: string[];
}

export async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void, host = "127.0.0.1"): Promise<HttpTarget> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.headers.host} ${req.url}`);
    handler(req, res);
  });
  // A server that never answers must not keep the test process's close() waiting.
  closers.push(async () => void server.closeAllConnections());
  return { server, port: await listenTcp(server, host), hits };
}

/** A TCP server that accepts and then says nothing (for timeouts). */
export async function silentTcpServer(): Promise<{ server: TcpServer; port: number }> {
  // resume(): a paused socket would never see the peer's FIN, so it would look open forever.
  const server = createTcpServer((s) => void s.resume());
  const sockets = new Set<Socket>();
  server.on("connection", (s) => (sockets.add(s), s.on("close", () => sockets.delete(s))));
  closers.push(async () => sockets.forEach((s) => s.destroy()));
  return { server, port: await listenTcp(server) };
}

/** A TLS server offering `alpn` (null: no ALPN at all); records the SNI name of every ClientHello. */
export async function tlsServer(c: { cert: Buffer; key: Buffer }, alpn: string[] | null = ["acme-tls/1"], host = "127.0.0.1"): Promise<{ server: TcpServer; port: number; handshakes: string[] }> {
  const handshakes: string[] = [];
  const context = createSecureContext(c);
  const server = createTlsServer({
    ...c,
    ...(alpn ? { ALPNProtocols: alpn } : {}),
    SNICallback: (name, cb) => (handshakes.push(name), cb(null, context)),
  }, (sock) => sock.end());
  return { server, port: await listenTcp(server, host), handshakes };
}

/** A self-signed tls-alpn-01 certificate made by the OpenSSL CLI (async: a server runs in this process). */
export async function challengeCert(dir: string, name: string, o: { san: string; ext: string }): Promise<{ cert: Buffer; key: Buffer }> {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  const r = await opensslAsync(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
    "-days", "1", "-subj", "/CN=acme challenge", "-addext", `subjectAltName=${o.san}`, "-addext", o.ext]);
  if (r.code !== 0) throw new Error(r.out);
  return { cert: readFileSync(crt), key: readFileSync(key) };
}

export interface DnsAnswers {
  txt?: string[][];
  a?: string[];
  aaaa?: string[];
}

/**
 * A minimal authoritative DNS server over UDP: answers TXT, A and AAAA from `zone`,
 * NXDOMAIN for unknown names, and nothing at all while `silent` is set.
 */
export class DnsServer {
  readonly zone = new Map<string, DnsAnswers>();
  readonly queries: string[] = [];
  silent = false;
  private constructor(readonly port: number) {}

  static async start(): Promise<DnsServer> {
    const socket = createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
    const srv = new DnsServer(socket.address().port);
    socket.on("message", (msg, peer) => {
      const reply = srv.answer(msg);
      if (reply) socket.send(reply, peer.port, peer.address);
    });
    closers.push(() => new Promise((r) => socket.close(() => r())));
    return srv;
  }

  get resolver(): string {
    return `127.0.0.1:${this.port}`;
  }

  set(name: string, answers: DnsAnswers): void {
    this.zone.set(name.toLowerCase(), answers);
  }

  private answer(msg: Buffer): Buffer | undefined {
    if (this.silent || msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
    let pos = 12;
    const labels: string[] = [];
    while (msg[pos] !== 0) {
      labels.push(msg.subarray(pos + 1, pos + 1 + msg[pos]).toString("latin1"));
      pos += 1 + msg[pos];
    }
    const qtype = msg.readUInt16BE(pos + 1);
    const question = msg.subarray(12, pos + 5);
    const name = labels.join(".").toLowerCase();
    this.queries.push(`${qtype} ${name}`);
    const entry = this.zone.get(name);
    const rdatas = !entry ? [] : qtype === 16 ? (entry.txt ?? []).map(txtRdata) : qtype === 1 ? (entry.a ?? []).map((ip) => Buffer.from(ipToBytes(ip)))
      : qtype === 28 ? (entry.aaaa ?? []).map((ip) => Buffer.from(ipToBytes(ip))) : [];
    const head = Buffer.alloc(12);
    msg.copy(head, 0, 0, 2); // id
    head.writeUInt16BE(0x8080 | (msg[2] & 0x01 ? 0x0100 : 0) | (entry ? 0 : 3), 2); // QR, RA, RD copied; rcode 3 = NXDOMAIN
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(rdatas.length, 6);
    const answers = rdatas.map((rd) => {
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
      rr.writeUInt16BE(qtype, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(rd.length, 10);
      return Buffer.concat([rr, rd]);
    });
    return Buffer.concat([head, question, ...answers]);
  }
}

/** One TXT record = several character-strings, each at most 255 bytes. */
function txtRdata(chunks: string[]): Buffer {
  return Buffer.concat(chunks.map((c) => Buffer.concat([Buffer.from([Buffer.byteLength(c)]), Buffer.from(c)])));
}

/** A validation config for tests: loopback allowed, nothing denied, short timeout. */
export function testConfig(o: Partial<AcmeValidationConfig> = {}): AcmeValidationConfig {
  return acmeValidationSchema.parse({ allow: ["127.0.0.0/8", "::1"], deny: [], timeoutMs: 3000, ...o });
}
