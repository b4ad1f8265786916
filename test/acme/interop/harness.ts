import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { accessSync, constants, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, delimiter, join } from "node:path";
import { expect } from "vitest";
import { EabKeys } from "../../../protocols/acme/eab.js";
import { normalizeSerial } from "../../../src/ca/serial.js";
import { startServers, type RunningServers } from "../../../src/server/listen.js";
import type { AuditEvent } from "../../../src/store/types.js";
import { testGateway, type TestGateway } from "../../helpers/gateway.js";
import { opensslAsync, tempDir } from "../../helpers/openssl.js";

export { freePort } from "../challtestsrv.js";

/** The Debian package that ships each program these tests run (test/run-all.sh installs them). */
const PACKAGE = { certbot: "certbot", lego: "lego", uacme: "uacme", "pebble-challtestsrv": "pebble", unshare: "util-linux", openssl: "openssl" } as const;
export type Program = keyof typeof PACKAGE;

/** A missing client is a failure naming the package, never a skip. */
export function requirePrograms(...programs: Program[]): void {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  for (const p of programs) {
    const found = dirs.some((d) => {
      try {
        accessSync(join(d, p), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (!found) throw new Error(`${p} is not installed: install the Debian package "${PACKAGE[p]}" (apt-get install ${PACKAGE[p]}; test/run-all.sh does this)`);
  }
}

/** Below vitest's 60 s test timeout, so a hung client is reported with its output. */
const RUN_TIMEOUT_MS = 45_000;

export interface RunResult {
  code: number;
  out: string;
}

/**
 * Runs a client asynchronously (a synchronous child would block the event loop the
 * in-process gateway needs) and returns its exit status with stdout+stderr.
 */
export function run(cmd: string, args: string[], o: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, ...o.env }, timeout: o.timeoutMs ?? RUN_TIMEOUT_MS, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new Error(`${cmd} could not be run: ${err.message}${cmd in PACKAGE ? ` (install the Debian package "${PACKAGE[cmd as Program]}")` : ""}`));
        return;
      }
      const killed = err?.killed ? `\n[${cmd} killed after ${o.timeoutMs ?? RUN_TIMEOUT_MS} ms]` : "";
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: `${stdout}${stderr}${killed}` });
    });
  });
}
export { fixture } from "../../helpers/fixture.js";

/** Writes an executable Node ES module (hooks and exec scripts without shell quoting). */
export function nodeScript(dir: string, name: string, body: string): string {
  const path = join(dir, `${name}.mjs`);
  writeFileSync(path, `#!${process.execPath}\n${body}\n`, { mode: 0o755 });
  return path;
}

export interface InteropGateway {
  t: TestGateway;
  servers: RunningServers;
  /** The dev root CA the gateway's TLS certificate and every issued certificate chain to. */
  rootPem: string;
  directory(endpoint?: "default" | "eab"): string;
  eabKey(): Promise<{ kid: string; hmacKey: string }>;
  audit(type: string): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

export interface ValidationSettings {
  httpPort: number;
  tlsAlpnPort?: number;
  dnsResolver?: string;
  /** Added to "*.example.com" → 127.0.0.1. */
  hostOverrides?: Record<string, string>;
}

/** A fresh gateway on ephemeral ports with real challenge validation and a default and an EAB-only endpoint. */
export async function startGateway(v: ValidationSettings): Promise<InteropGateway> {
  const validation = {
    httpPort: v.httpPort, ...(v.tlsAlpnPort ? { tlsAlpnPort: v.tlsAlpnPort } : {}), ...(v.dnsResolver ? { dnsResolver: v.dnsResolver } : {}),
    allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.example.com": "127.0.0.1", ...v.hostOverrides }, timeoutMs: 5000,
  };
  // No externalUrl: startServers then names the ports actually bound (https://localhost:<port>), matching the TLS certificate.
  const t = await testGateway({
    externalUrl: {},
    acme: { validation, endpoints: [{ name: "default" }, { name: "eab", externalAccountRequired: true }] },
  });
  const servers = await startServers(t.gw);
  const rootPem = join(t.config.dataDir, "cas", "dev-root", "cert.pem");
  const eab = new EabKeys(t.gw.store.acme, t.gw.profiles, t.gw.audit);
  return {
    t, servers, rootPem,
    directory: (endpoint = "default") => `${t.gw.urls.https}/acme${endpoint === "default" ? "" : `/${endpoint}`}/directory`,
    eabKey: async () => {
      const { kid, hmacKey } = await eab.create({ profiles: ["tls-server"], endpoint: "eab", createdBy: "interop-test" });
      return { kid, hmacKey };
    },
    audit: (type) => t.gw.store.queryAudit({ type }),
    async close() {
      await servers.close();
      await t.gw.close();
    },
  };
}

export interface IssuedCert {
  serial: string;
  /** Leaf and issuing-CA PEM files, for `openssl ocsp`. */
  leaf: string;
  issuer: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

/**
 * Asserts what a client saved is a certificate from this gateway for exactly `names`:
 * `openssl verify` to the dev root through the client's chain, the SANs, and the gateway's record.
 * `certFile` may hold the chain after the leaf; `chainFile` is read when given.
 */
export async function expectIssued(gw: InteropGateway, certFile: string, names: string[], chainFile?: string): Promise<IssuedCert> {
  const pems = (file: string) => readFileSync(file, "utf8").match(PEM_BLOCK) ?? [];
  const [leafPem, ...rest] = pems(certFile);
  const chainPems = chainFile ? pems(chainFile) : rest;
  if (!leafPem) throw new Error(`${certFile} holds no certificate`);
  expect(chainPems.length, `no chain certificates in ${chainFile ?? certFile}`).toBeGreaterThan(0);
  const dir = tempDir("interop-cert-");
  const leaf = join(dir, `${basename(certFile)}.leaf.pem`);
  const chain = join(dir, "chain.pem");
  const issuer = join(dir, "issuer.pem");
  writeFileSync(leaf, leafPem);
  writeFileSync(chain, chainPems.join(""));
  writeFileSync(issuer, chainPems[0]);

  const verify = await opensslAsync(["verify", "-CAfile", gw.rootPem, "-untrusted", chain, leaf]);
  expect(verify.out).toContain(`${leaf}: OK`);
  expect(verify.code).toBe(0);
  const sans = (new X509Certificate(leafPem).subjectAltName ?? "").split(", ").filter(Boolean).sort();
  expect(sans).toEqual(names.map((n) => `DNS:${n}`).sort());

  const s = await opensslAsync(["x509", "-in", leaf, "-noout", "-serial"]);
  const serial = normalizeSerial(/serial=([0-9A-Fa-f]+)/.exec(s.out)?.[1] ?? "");
  expect(await gw.t.gw.store.getCertificate(serial), `gateway has no record of ${serial}`).toMatchObject({ protocol: "acme", revokedAt: undefined });
  return { serial, leaf, issuer };
}

/** Asks the gateway's OCSP responder (openssl ocsp, response signature checked against the root). */
export async function ocspStatus(gw: InteropGateway, c: IssuedCert): Promise<string> {
  const r = await opensslAsync(["ocsp", "-timeout", "10", "-issuer", c.issuer, "-cert", c.leaf, "-url", `http://127.0.0.1:${gw.servers.httpPort}/ocsp`, "-CAfile", gw.rootPem]);
  expect(r.out).toContain("Response verify OK");
  expect(r.code).toBe(0);
  return r.out;
}

/** The gateway's store and its OCSP responder both report the certificate revoked. */
export async function expectRevoked(gw: InteropGateway, c: IssuedCert, reason?: { code: number; ocspName: string }): Promise<void> {
  const rec = await gw.t.gw.store.getCertificate(c.serial);
  expect(rec?.revokedAt, `certificate ${c.serial} is not revoked in the store`).toBeTruthy();
  const out = await ocspStatus(gw, c);
  expect(out).toContain(`${c.leaf}: revoked`);
  if (reason) {
    expect(rec?.revocationReason).toBe(reason.code);
    expect(out).toContain(`Reason: ${reason.ocspName}`);
  }
}

/**
 * The gateway itself validated (or refused) `name` with `challenge`: its audit event and the stored
 * authorization agree, so the client cannot have succeeded by any other route.
 */
export async function expectAuthz(gw: InteropGateway, name: string, challenge: string, status: "valid" | "invalid"): Promise<AuditEvent> {
  const ev = (await gw.audit(`acme.authz.${status}`)).find((e) => (e.data.identifier as { value?: string } | undefined)?.value === name);
  expect(ev, `no acme.authz.${status} audit event for ${name}`).toBeDefined();
  expect(ev!.data.challenge).toBe(challenge);
  expect((await gw.t.gw.store.acme.getAuthz(ev!.target!))?.status).toBe(status);
  return ev!;
}

/** Serves files of `dir` at /.well-known/acme-challenge/<token>, as a client's web server would. */
export async function serveWebroot(dir: string): Promise<{ port: number; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(`${req.headers.host} ${req.url}`);
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? "")?.[1];
    let body: string | undefined;
    try {
      body = token ? readFileSync(join(dir, token), "utf8") : undefined;
    } catch {
      body = undefined;
    }
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "text/plain" }).end(body ?? "not found");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port, hits,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}
