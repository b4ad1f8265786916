import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/openssl.js";
import { ChallTestSrv } from "../challtestsrv.js";
import { expectAuthz, expectIssued, fixture, freePort, nodeScript, requirePrograms, run, startGateway, type InteropGateway, type IssuedCert } from "./harness.js";

// lego 4.9.1 (Debian package "lego") against the gateway: http-01, tls-alpn-01, dns-01, EAB, renewal, a failed validation.

/** Mapped to an address where nothing listens: lego binds its challenge servers to 127.0.0.1 only. */
const UNREACHABLE = "dead.example.com";

interface LegoEnv {
  gw: InteropGateway;
  dns: ChallTestSrv;
  httpPort: number;
  tlsPort: number;
  close(): Promise<void>;
}

const env = fixture<LegoEnv>(async () => {
  requirePrograms("lego", "pebble-challtestsrv", "openssl");
  const dns = await ChallTestSrv.start();
  try {
    const httpPort = await freePort();
    const tlsPort = await freePort();
    const gw = await startGateway({ httpPort, tlsAlpnPort: tlsPort, dnsResolver: dns.resolver, hostOverrides: { [UNREACHABLE]: "127.0.0.2" } });
    return { gw, dns, httpPort, tlsPort, close: async () => { await gw.close(); dns.stop(); } };
  } catch (e) {
    dns.stop();
    throw e;
  }
});

/** Runs lego against an endpoint; `path` holds its account and certificates between runs. */
function lego(e: LegoEnv, path: string, args: string[], o: { endpoint?: "default" | "eab"; env?: Record<string, string> } = {}) {
  return run("lego", ["--accept-tos", "--email", "interop@example.com", "--server", e.gw.directory(o.endpoint), "--path", path, ...args], {
    env: { LEGO_CA_CERTIFICATES: e.gw.rootPem, ...o.env },
  });
}

const http01 = (e: LegoEnv) => ["--http", "--http.port", `127.0.0.1:${e.httpPort}`];
const domains = (...names: string[]) => names.flatMap((n) => ["--domains", n]);
const certFiles = (path: string, name: string) => ({ cert: join(path, "certificates", `${name}.crt`), issuer: join(path, "certificates", `${name}.issuer.crt`) });

describe("lego", () => {
  const path = tempDir("lego-");
  let first: IssuedCert;

  it("obtains a certificate over http-01 (its own challenge server)", async () => {
    const e = await env();
    const names = ["h.example.com", "www.h.example.com"];
    const r = await lego(e, path, [...domains(...names), ...http01(e), "run"]);
    expect(r.out).toContain("Server responded with a certificate");
    expect(r.code, r.out).toBe(0);
    const f = certFiles(path, names[0]);
    first = await expectIssued(e.gw, f.cert, names, f.issuer);
    for (const n of names) await expectAuthz(e.gw, n, "http-01", "valid");
  });

  it("renews it (renew --days 100 on a 90-day certificate) with a new serial", async () => {
    const e = await env();
    expect(first, "the http-01 test must have issued a certificate").toBeDefined();
    const names = ["h.example.com", "www.h.example.com"];
    const r = await lego(e, path, [...domains(...names), ...http01(e), "renew", "--days", "100", "--no-random-sleep"]);
    expect(r.out).toMatch(/acme: Trying renewal with \d+ hours remaining/);
    expect(r.code, r.out).toBe(0);
    const f = certFiles(path, names[0]);
    const renewed = await expectIssued(e.gw, f.cert, names, f.issuer);
    expect(renewed.serial).not.toBe(first.serial);
  });

  it("obtains a certificate over tls-alpn-01", async () => {
    const e = await env();
    const p = tempDir("lego-tls-");
    const r = await lego(e, p, [...domains("t.example.com"), "--tls", "--tls.port", `127.0.0.1:${e.tlsPort}`, "run"]);
    expect(r.code, r.out).toBe(0);
    const f = certFiles(p, "t.example.com");
    await expectIssued(e.gw, f.cert, ["t.example.com"], f.issuer);
    await expectAuthz(e.gw, "t.example.com", "tls-alpn-01", "valid");
  });

  it("obtains a certificate over dns-01 (exec provider publishing TXT records in pebble-challtestsrv)", async () => {
    const e = await env();
    const p = tempDir("lego-dns-");
    // lego calls `<script> present|cleanup <fqdn> <value>`; the gateway resolves TXT through challtestsrv.
    const calls = join(p, "calls.log");
    const script = nodeScript(p, "dns-exec", `
import { appendFileSync } from "node:fs";
const [mode, host, value] = process.argv.slice(2);
appendFileSync(${JSON.stringify(calls)}, mode + " " + host + "\\n");
const op = mode === "present" ? "set-txt" : "clear-txt";
const res = await fetch("http://127.0.0.1:${e.dns.mgmtPort}/" + op, { method: "POST", body: JSON.stringify(mode === "present" ? { host, value } : { host }) });
process.exit(res.ok ? 0 : 1);`);
    const r = await lego(e, p, [...domains("d.example.com"), "--dns", "exec", "--dns.resolvers", e.dns.resolver, "--dns.disable-cp", "run"], {
      env: { EXEC_PATH: script, EXEC_PROPAGATION_TIMEOUT: "20", EXEC_POLLING_INTERVAL: "1" },
    });
    expect(r.code, r.out).toBe(0);
    expect(readFileSync(calls, "utf8")).toBe("present _acme-challenge.d.example.com.\ncleanup _acme-challenge.d.example.com.\n");
    const f = certFiles(p, "d.example.com");
    await expectIssued(e.gw, f.cert, ["d.example.com"], f.issuer);
    await expectAuthz(e.gw, "d.example.com", "dns-01", "valid");
  });

  it("EAB endpoint: refuses an account without a binding, issues with one, refuses the key's reuse", async () => {
    const e = await env();
    const eabArgs = (k: { kid: string; hmacKey: string }) => ["--eab", "--kid", k.kid, "--hmac", k.hmacKey];
    const accountsBefore = (await e.gw.audit("acme.account.created")).length;

    const without = await lego(e, tempDir("lego-noeab-"), [...domains("e.example.com"), ...http01(e), "run"], { endpoint: "eab" });
    expect(without.code).not.toBe(0);
    expect(without.out).toContain("Server requires External Account Binding");
    expect(await e.gw.audit("acme.account.created")).toHaveLength(accountsBefore);

    const key = await e.gw.eabKey();
    const p = tempDir("lego-eab-");
    const ok = await lego(e, p, [...eabArgs(key), ...domains("e.example.com"), ...http01(e), "run"], { endpoint: "eab" });
    expect(ok.code, ok.out).toBe(0);
    const f = certFiles(p, "e.example.com");
    await expectIssued(e.gw, f.cert, ["e.example.com"], f.issuer);
    const created = (await e.gw.audit("acme.account.created")).filter((ev) => ev.data.eab === key.kid);
    expect(created).toHaveLength(1);
    expect(created[0].data.endpoint).toBe("eab");
    expect((await e.gw.t.gw.store.acme.getEabKey(key.kid))?.accountId).toBe(created[0].target);

    // A second account key (fresh --path) with the same EAB key.
    const reuse = await lego(e, tempDir("lego-eab2-"), [...eabArgs(key), ...domains("e2.example.com"), ...http01(e), "run"], { endpoint: "eab" });
    expect(reuse.code).not.toBe(0);
    expect(reuse.out).toMatch(/already used/);
    expect((await e.gw.audit("acme.account.created")).filter((ev) => ev.data.eab === key.kid)).toHaveLength(1);
  });

  it("fails when http-01 validation cannot connect, and the gateway marks the authorization invalid", async () => {
    const e = await env();
    const r = await lego(e, tempDir("lego-dead-"), [...domains(UNREACHABLE), ...http01(e), "run"]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(UNREACHABLE);
    expect(r.out).toContain("urn:ietf:params:acme:error:connection");
    const ev = await expectAuthz(e.gw, UNREACHABLE, "http-01", "invalid");
    expect(ev.data.code).toBe("RA_ERR_VALIDATION_CONNECTION");
  });
});
