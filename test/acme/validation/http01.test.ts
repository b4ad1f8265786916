import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AcmeValidationConfig } from "../../../protocols/acme/config.js";
import type { ValidationInput, ValidationResult } from "../../../protocols/acme/validation/types.js";
import { createChallengeValidator } from "../../../protocols/acme/validation/validator.js";
import { tempDir } from "../../helpers/openssl.js";
import { challengeCert, closeAll, connections, DnsServer, httpServer, silentTcpServer, testConfig } from "./servers.js";

const TOKEN = "tok_abcdefghijklmnopqrstuvwxyz0123456789";
const KEYAUTH = `${TOKEN}.thumbprint-of-the-account-key`;
const PATH = `/.well-known/acme-challenge/${TOKEN}`;

let dns: DnsServer;
beforeAll(async () => {
  dns = await DnsServer.start();
  dns.set("dns.example.test", { a: ["127.0.0.1"] });
});
afterAll(closeAll);

const input = (value = "a.example.test", type: "dns" | "ip" = "dns"): ValidationInput => ({ type: "http-01", identifier: { type, value }, token: TOKEN, keyAuthorization: KEYAUTH });
function validate(o: Partial<AcmeValidationConfig>, i = input()): Promise<ValidationResult> {
  return createChallengeValidator(testConfig({ hostOverrides: { "*.example.test": "127.0.0.1" }, dnsResolver: dns.resolver, ...o })).validate(i);
}
const code = (r: ValidationResult) => (r.ok ? "ok" : r.error.code);
const message = (r: ValidationResult) => (r.ok ? "ok" : r.error.message);

describe("http-01", () => {
  it("accepts the key authorization with trailing whitespace, sends Host and records what it contacted", async () => {
    const s = await httpServer((_req, res) => res.end(`${KEYAUTH} \r\n\t`));
    const r = await validate({ httpPort: s.port });
    expect(code(r)).toBe("ok");
    expect(s.hits).toEqual([`a.example.test:${s.port} ${PATH}`]);
    expect(r.records).toEqual([{ url: `http://a.example.test:${s.port}${PATH}`, hostname: "a.example.test", port: s.port, addressesResolved: ["127.0.0.1"], addressUsed: "127.0.0.1" }]);
  });

  it("resolves a name once through the configured DNS server and connects to that address", async () => {
    const s = await httpServer((_req, res) => res.end(KEYAUTH));
    const r = await validate({ httpPort: s.port, hostOverrides: {} }, input("dns.example.test"));
    expect(code(r)).toBe("ok");
    expect(dns.queries.filter((q) => q === "1 dns.example.test")).toHaveLength(1);
    expect(s.hits).toEqual([`dns.example.test:${s.port} ${PATH}`]);
  });

  it("refuses a wrong body, leading whitespace, a non-200 answer and an oversized body", async () => {
    const wrong = await httpServer((_req, res) => res.end("something else"));
    const leading = await httpServer((_req, res) => res.end(` ${KEYAUTH}`));
    const missing = await httpServer((_req, res) => res.writeHead(404).end(KEYAUTH));
    const big = await httpServer((_req, res) => res.end("x".repeat(100_000)));
    const chunked = await httpServer((_req, res) => { res.write(KEYAUTH); res.end(" ".repeat(5000) + "x"); });
    for (const s of [wrong, leading, missing]) expect(code(await validate({ httpPort: s.port }))).toBe("RA_ERR_VALIDATION_INCORRECT");
    expect(message(await validate({ httpPort: missing.port }))).toMatch(/answered HTTP 404/);
    const r = await validate({ httpPort: big.port, maxResponseBytes: 1024 });
    expect([code(r), message(r)]).toEqual(["RA_ERR_VALIDATION_INCORRECT", expect.stringMatching(/larger than 1024 bytes/)]);
    expect(message(await validate({ httpPort: chunked.port, maxResponseBytes: 1024 }))).toMatch(/larger than 1024/);
  });

  it("follows a redirect to another name on the validation port, vetting the new target again", async () => {
    let port = 0;
    const s = await httpServer((req, res) => {
      if (req.url === PATH) res.writeHead(302, { location: `http://b.example.test:${port}/final` }).end();
      else res.end(req.url === "/final" ? KEYAUTH : "");
    });
    port = s.port;
    const r = await validate({ httpPort: s.port });
    expect(code(r)).toBe("ok");
    expect(r.records.map((x) => x.hostname)).toEqual(["a.example.test", "b.example.test"]);
    expect(s.hits).toEqual([`a.example.test:${port} ${PATH}`, `b.example.test:${port} /final`]);
    // The same redirect, but b.example.test now points at an address the guard refuses.
    const denied = await validate({ httpPort: s.port, allow: ["127.0.0.1"], hostOverrides: { "a.example.test": "127.0.0.1", "b.example.test": "127.0.0.2" } });
    expect([code(denied), message(denied)]).toEqual(["RA_ERR_VALIDATION_CONNECTION", "b.example.test resolves only to addresses validation may not contact"]);
    expect(s.hits).toHaveLength(3);
  });

  it("stops after maxRedirects and refuses redirects off the validation ports", async () => {
    const loop = await httpServer((req, res) => res.writeHead(301, { location: req.url! }).end());
    const r = await validate({ httpPort: loop.port, maxRedirects: 3 });
    expect(message(r)).toMatch(/more than 3 redirects/);
    expect(loop.hits).toHaveLength(4);
    const off = await httpServer((_req, res) => res.writeHead(302, { location: "http://a.example.test:1/x" }).end());
    expect(message(await validate({ httpPort: off.port }))).toMatch(/not an http-01 validation port/);
    const ftp = await httpServer((_req, res) => res.writeHead(302, { location: "ftp://a.example.test/x" }).end());
    expect(code(await validate({ httpPort: ftp.port }))).toBe("RA_ERR_VALIDATION_CONNECTION");
  });

  it("follows a redirect to https without checking its self-signed certificate", async () => {
    const tls = await challengeCert(tempDir(), "https", { san: "DNS:other.test", ext: "basicConstraints=critical,CA:FALSE" });
    const https = createHttpsServer(tls, (_req, res) => res.end(KEYAUTH));
    await new Promise<void>((r) => https.listen(0, "127.0.0.1", r));
    const httpsPort = (https.address() as AddressInfo).port;
    const s = await httpServer((_req, res) => res.writeHead(307, { location: `https://c.example.test:${httpsPort}/secure` }).end());
    try {
      const r = await validate({ httpPort: s.port, tlsAlpnPort: httpsPort });
      expect(code(r)).toBe("ok");
      expect(r.records[1]).toMatchObject({ url: `https://c.example.test:${httpsPort}/secure`, addressUsed: "127.0.0.1" });
    } finally {
      https.close();
    }
  });

  it("never connects to a denied address", async () => {
    const s = await httpServer((_req, res) => res.end(KEYAUTH));
    const denied = await validate({ httpPort: s.port, allow: [], deny: ["127.0.0.0/8"] });
    expect(code(denied)).toBe("RA_ERR_VALIDATION_CONNECTION");
    const notAllowed = await validate({ httpPort: s.port, allow: ["10.0.0.0/8"] });
    expect(code(notAllowed)).toBe("RA_ERR_VALIDATION_CONNECTION");
    expect(s.hits).toEqual([]);
    expect(denied.records[0]).toMatchObject({ hostname: "a.example.test" });
    expect(denied.records[0].addressUsed).toBeUndefined();
  });

  it("a refused connection is a connection problem", async () => {
    const closed = await silentTcpServer();
    await new Promise((r) => closed.server.close(r));
    const r = await validate({ httpPort: closed.port });
    expect([code(r), message(r)]).toEqual(["RA_ERR_VALIDATION_CONNECTION", expect.stringMatching(/ECONNREFUSED/)]);
  });

  it("fetches an IP identifier from the address itself (IPv4 and bracketed IPv6)", async () => {
    const v4 = await httpServer((_req, res) => res.end(KEYAUTH));
    expect(code(await validate({ httpPort: v4.port }, input("127.0.0.1", "ip")))).toBe("ok");
    expect(v4.hits).toEqual([`127.0.0.1:${v4.port} ${PATH}`]);
    const v6 = await httpServer((_req, res) => res.end(KEYAUTH), "::1");
    const r = await validate({ httpPort: v6.port }, input("::1", "ip"));
    expect(code(r)).toBe("ok");
    expect(v6.hits).toEqual([`[::1]:${v6.port} ${PATH}`]);
    expect(r.records[0]).toMatchObject({ hostname: "::1", addressUsed: "::1" });
  });

  it("gives up after the timeout on a server that never answers, leaving no connection open", async () => {
    const s = await silentTcpServer();
    const r = await validate({ httpPort: s.port, timeoutMs: 300 });
    expect([code(r), message(r)]).toEqual(["RA_ERR_VALIDATION_CONNECTION", "validation timed out after 300 ms"]);
    await new Promise((res) => setTimeout(res, 100));
    expect(await connections(s.server)).toBe(0);
  });
});
