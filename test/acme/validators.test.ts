import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acmeValidationSchema } from "../../protocols/acme/config.js";
import { createChallengeValidator } from "../../protocols/acme/validation/validator.js";
import type { ValidationInput } from "../../protocols/acme/validation/types.js";
import { opensslAsync, tempDir } from "../helpers/openssl.js";
import { ChallTestSrv } from "./challtestsrv.js";

const TOKEN = "tok_abcdefghijklmnopqrstuvwxyz0123456789";
const KEYAUTH = `${TOKEN}.thumbprint`;

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.headers.host} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

const servers: Array<Server | TlsServer> = [];
let dns: ChallTestSrv;
let dir: string;
beforeAll(async () => {
  dns = await ChallTestSrv.start();
  dir = tempDir();
});
afterAll(() => {
  dns?.stop();
  for (const s of servers) s.close();
});

function validator(o: Record<string, unknown>) {
  return createChallengeValidator(acmeValidationSchema.parse({ allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.example.com": "127.0.0.1" }, timeoutMs: 2000, ...o }));
}
const http01 = (value = "a.example.com", type: "dns" | "ip" = "dns"): ValidationInput => ({ type: "http-01", identifier: { type, value }, token: TOKEN, keyAuthorization: KEYAUTH });

describe("http-01", () => {
  it("accepts the key authorization (trailing newline allowed) and records what it contacted", async () => {
    const s = await listen((_req, res) => res.end(`${KEYAUTH}\n`));
    servers.push(s.server);
    const r = await validator({ httpPort: s.port }).validate(http01());
    expect(r.ok).toBe(true);
    expect(s.hits).toEqual([`a.example.com:${s.port} /.well-known/acme-challenge/${TOKEN}`]);
    expect(r.records[0]).toMatchObject({ hostname: "a.example.com", addressUsed: "127.0.0.1", port: s.port });
  });

  it("a wrong body is incorrectResponse; an oversized one is cut off", async () => {
    const wrong = await listen((_req, res) => res.end("something else"));
    const big = await listen((_req, res) => res.end("x".repeat(100_000)));
    servers.push(wrong.server, big.server);
    const r1 = await validator({ httpPort: wrong.port }).validate(http01());
    expect(r1.ok === false && r1.error.code).toBe("RA_ERR_VALIDATION_INCORRECT");
    const r2 = await validator({ httpPort: big.port, maxResponseBytes: 1024 }).validate(http01());
    expect(r2.ok === false && r2.error.message).toMatch(/larger than 1024/);
  });

  it("follows a redirect to the validation port and stops after maxRedirects", async () => {
    let port = 0;
    const s = await listen((req, res) => {
      if (req.url?.startsWith("/.well-known")) res.writeHead(302, { location: `http://b.example.com:${port}/final` }).end();
      else if (req.url === "/final") res.end(KEYAUTH);
      else res.end();
    });
    port = s.port;
    const loop = await listen((req, res) => res.writeHead(301, { location: req.url! }).end());
    servers.push(s.server, loop.server);
    const ok = await validator({ httpPort: s.port }).validate(http01());
    expect(ok.ok).toBe(true);
    expect(ok.records.map((x) => x.hostname)).toEqual(["a.example.com", "b.example.com"]);
    const looped = await validator({ httpPort: loop.port, maxRedirects: 3 }).validate(http01());
    expect(looped.ok === false && looped.error.message).toMatch(/more than 3 redirects/);
    expect(loop.hits).toHaveLength(4);
  });

  it("never connects to a denied address, and a refused connection is a connection problem", async () => {
    const s = await listen((_req, res) => res.end(KEYAUTH));
    servers.push(s.server);
    const denied = await validator({ httpPort: s.port, allow: [], deny: ["127.0.0.0/8"] }).validate(http01());
    expect(denied.ok === false && denied.error.code).toBe("RA_ERR_VALIDATION_CONNECTION");
    expect(s.hits).toHaveLength(0);
    const notAllowed = await validator({ httpPort: s.port, allow: ["10.0.0.0/8"] }).validate(http01());
    expect(notAllowed.ok).toBe(false);
    expect(s.hits).toHaveLength(0);
    const closed = await listen(() => undefined);
    await new Promise((r) => closed.server.close(r));
    const refused = await validator({ httpPort: closed.port }).validate(http01());
    expect(refused.ok === false && refused.error.message).toMatch(/ECONNREFUSED/);
  });

  it("an IP identifier is fetched from the address itself", async () => {
    const s = await listen((_req, res) => res.end(KEYAUTH));
    servers.push(s.server);
    const r = await validator({ httpPort: s.port }).validate(http01("127.0.0.1", "ip"));
    expect(r.ok).toBe(true);
    expect(s.hits[0]).toMatch(/^127\.0\.0\.1:\d+ /);
  });

  it("gives up after the timeout when the server never answers", async () => {
    const s = await listen(() => undefined); // accepts, never responds
    servers.push(s.server);
    const started = Date.now();
    const r = await validator({ httpPort: s.port, timeoutMs: 300 }).validate(http01());
    expect(r.ok === false && r.error.message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("dns-01 (pebble-challtestsrv as the resolver)", () => {
  const input = (value: string): ValidationInput => ({ type: "dns-01", identifier: { type: "dns", value }, token: TOKEN, keyAuthorization: KEYAUTH });
  const digest = createHash("sha256").update(KEYAUTH).digest("base64url");

  it("accepts the digest among several TXT records and refuses a wrong or missing one", async () => {
    await dns.setTxt("_acme-challenge.d1.example.net", "unrelated");
    await dns.setTxt("_acme-challenge.d1.example.net", digest);
    const v = validator({ dnsResolver: dns.resolver });
    expect((await v.validate(input("d1.example.net"))).ok).toBe(true);
    await dns.setTxt("_acme-challenge.d2.example.net", "wrong");
    const wrong = await v.validate(input("d2.example.net"));
    expect(wrong.ok === false && wrong.error.code).toBe("RA_ERR_VALIDATION_INCORRECT");
    const none = await v.validate(input("d3.example.net"));
    expect(none.ok === false && none.error.code).toBe("RA_ERR_VALIDATION_DNS");
    expect(none.records[0].query).toBe("_acme-challenge.d3.example.net");
  });
});

describe("tls-alpn-01 (RFC 8737)", () => {
  const digestHex = createHash("sha256").update(KEYAUTH).digest("hex");
  async function challengeCert(name: string, o: { san?: string; ext?: string } = {}): Promise<{ cert: Buffer; key: Buffer }> {
    const key = join(dir, `${name}.key`);
    const crt = join(dir, `${name}.crt`);
    const r = await opensslAsync(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=challenge",
      "-addext", `subjectAltName=${o.san ?? "DNS:t.example.com"}`, "-addext", o.ext ?? `1.3.6.1.5.5.7.1.31=critical,DER:0420${digestHex}`]);
    if (r.code !== 0) throw new Error(r.out);
    return { cert: readFileSync(crt), key: readFileSync(key) };
  }
  async function tlsServer(c: { cert: Buffer; key: Buffer }, alpn = true): Promise<number> {
    const s = createTlsServer({ ...c, ALPNProtocols: alpn ? ["acme-tls/1"] : undefined }, (sock) => sock.end());
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    servers.push(s);
    return (s.address() as AddressInfo).port;
  }
  const input = (value = "t.example.com", type: "dns" | "ip" = "dns"): ValidationInput => ({ type: "tls-alpn-01", identifier: { type, value }, token: TOKEN, keyAuthorization: KEYAUTH });

  it("accepts the right certificate over acme-tls/1, also for an IP identifier", async () => {
    expect((await validator({ tlsAlpnPort: await tlsServer(await challengeCert("good")) }).validate(input())).ok).toBe(true);
    const ipPort = await tlsServer(await challengeCert("ip", { san: "IP:127.0.0.1" }));
    expect((await validator({ tlsAlpnPort: ipPort }).validate(input("127.0.0.1", "ip"))).ok).toBe(true);
  });

  it("refuses a wrong digest, a non-critical extension, two names, and a server without acme-tls/1", async () => {
    const cases: Array<[string, number, RegExp]> = [
      ["digest", await tlsServer(await challengeCert("digest", { ext: `1.3.6.1.5.5.7.1.31=critical,DER:0420${"00".repeat(32)}` })), /does not match/],
      ["noncritical", await tlsServer(await challengeCert("noncrit", { ext: `1.3.6.1.5.5.7.1.31=DER:0420${digestHex}` })), /critical/],
      ["two names", await tlsServer(await challengeCert("two", { san: "DNS:t.example.com,DNS:u.example.com" })), /exactly/],
      ["no alpn", await tlsServer(await challengeCert("noalpn"), false), /acme-tls\/1/],
    ];
    for (const [what, port, re] of cases) {
      const r = await validator({ tlsAlpnPort: port }).validate(input());
      expect(r.ok, what).toBe(false);
      expect(r.ok === false && r.error.message, what).toMatch(re);
    }
  });
});

describe("insecureSkipValidation", () => {
  it("passes without any network access", async () => {
    const r = await validator({ insecureSkipValidation: true, httpPort: 1 }).validate(http01("nowhere.invalid"));
    expect(r).toEqual({ ok: true, records: [] });
  });
});
