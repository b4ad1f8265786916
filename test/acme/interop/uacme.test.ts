import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/openssl.js";
import { expectAuthz, expectIssued, expectRevoked, fixture, nodeScript, requirePrograms, run, serveWebroot, startGateway, type InteropGateway, type IssuedCert } from "./harness.js";

// uacme 1.7.4 (Debian package "uacme") against the gateway: account, http-01 issuance through a hook, revocation,
// a hook that accepts a challenge it never serves, and EAB.

/** Where Debian's libcurl-gnutls looks for trusted CAs (compiled in; uacme has no CA option). */
const CA_DIR = "/etc/ssl/certs";
/** The hook accepts http-01 for this name (exit 0) but publishes nothing, so validation gets a 404. */
const UNSERVED = "unserved.example.com";

interface UacmeEnv {
  gw: InteropGateway;
  webroot: string;
  hits: string[];
  close(): Promise<void>;
}

const env = fixture<UacmeEnv>(async () => {
  requirePrograms("uacme", "unshare", "openssl");
  if (process.getuid?.() !== 0) throw new Error("uacme interop needs root: libcurl-gnutls ignores CA settings, so the test mounts its own CA directory in a private mount namespace");
  const webroot = tempDir("uacme-webroot-");
  const web = await serveWebroot(webroot);
  const gw = await startGateway({ httpPort: web.port }).catch(async (e: unknown) => {
    await web.close();
    throw e;
  });
  return { gw, webroot, hits: web.hits, close: async () => { await gw.close(); await web.close(); } };
});

/**
 * uacme in a private mount namespace whose CA directory is a tmpfs holding only the gateway's root
 * as ca-certificates.crt (works whether or not the ca-certificates package is installed).
 */
function uacme(e: UacmeEnv, confdir: string, args: string[], endpoint: "default" | "eab" = "default") {
  const script = `mount -t tmpfs tmpfs ${CA_DIR} && cp "$0" ${CA_DIR}/ca-certificates.crt && exec uacme "$@"`;
  return run("unshare", ["-m", "sh", "-c", script, e.gw.rootPem, "-v", "-y", "-o", "-c", confdir, "-a", e.gw.directory(endpoint), ...args]);
}

/** The uacme hook: `begin|done|failed <type> <ident> <token> <keyauth>`; serves http-01 only. */
function hook(e: UacmeEnv, dir: string): { path: string; log: string } {
  const log = join(dir, "hook.log");
  const path = nodeScript(dir, "hook", `
import { appendFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const [method, type, ident, token, keyAuth] = process.argv.slice(2);
appendFileSync(${JSON.stringify(log)}, [method, type, ident].join(" ") + "\\n");
if (type !== "http-01") process.exit(1);
const file = join(${JSON.stringify(e.webroot)}, token);
if (method === "begin" && ident !== ${JSON.stringify(UNSERVED)}) writeFileSync(file, keyAuth);
if (method !== "begin") rmSync(file, { force: true });
process.exit(0);`);
  return { path, log };
}

describe("uacme", () => {
  const confdir = tempDir("uacme-");
  const names = ["u.example.com", "www.u.example.com"];
  let cert: IssuedCert | undefined;

  it("registers an account (new)", async () => {
    const e = await env();
    const r = await uacme(e, confdir, ["new"]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/account created at https:\/\/localhost:\d+\/acme\/acct\//);
    expect((await e.gw.audit("acme.account.created")).filter((ev) => ev.data.endpoint === "default")).toHaveLength(1);
  });

  it("issues a certificate over http-01 with a hook publishing the key authorization", async () => {
    const e = await env();
    const h = hook(e, tempDir("uacme-hook-"));
    const r = await uacme(e, confdir, ["-h", h.path, "issue", ...names]);
    expect(r.code, r.out).toBe(0);
    cert = await expectIssued(e.gw, join(confdir, names[0], "cert.pem"), names);
    for (const n of names) {
      await expectAuthz(e.gw, n, "http-01", "valid");
      expect(readFileSync(h.log, "utf8")).toContain(`begin http-01 ${n}\n`);
      expect(e.hits.some((x) => x.startsWith(`${n}:`))).toBe(true);
    }
  });

  it("revokes it with reason superseded (-r 4): the gateway's store and OCSP report it revoked", async () => {
    const e = await env();
    expect(cert, "issue must have produced a certificate").toBeDefined();
    const r = await uacme(e, confdir, ["-r", "4", "revoke", join(confdir, names[0], "cert.pem")]);
    expect(r.code, r.out).toBe(0);
    await expectRevoked(e.gw, cert!, { code: 4, ocspName: "superseded" });
  });

  it("fails when the challenge is acknowledged but never served, and the gateway marks the authorization invalid", async () => {
    const e = await env();
    const h = hook(e, tempDir("uacme-hook-"));
    const r = await uacme(e, confdir, ["-h", h.path, "issue", UNSERVED]);
    expect(r.code).not.toBe(0);
    expect(readFileSync(h.log, "utf8")).toContain(`begin http-01 ${UNSERVED}\n`);
    const ev = await expectAuthz(e.gw, UNSERVED, "http-01", "invalid");
    expect(ev.data.code).toBe("RA_ERR_VALIDATION_INCORRECT");
    expect(r.out).toContain("urn:ietf:params:acme:error:incorrectResponse");
    expect(r.out).toMatch(/acme-challenge\/[\w-]+ answered HTTP 404/);
  });

  it("EAB endpoint: new fails without a binding, succeeds with -e KID:KEY", async () => {
    const e = await env();
    const accounts = async () => (await e.gw.audit("acme.account.created")).filter((ev) => ev.data.endpoint === "eab");
    const without = await uacme(e, tempDir("uacme-eab-"), ["new"], "eab");
    expect(without.code).not.toBe(0);
    expect(without.out).toContain("requires external credentials");
    expect(await accounts()).toHaveLength(0);

    const key = await e.gw.eabKey();
    const ok = await uacme(e, tempDir("uacme-eab-"), ["-e", `${key.kid}:${key.hmacKey}`, "new"], "eab");
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/account created at https:\/\/localhost:\d+\/acme\/eab\/acct\//);
    expect((await accounts()).map((ev) => ev.data.eab)).toEqual([key.kid]);
  });
});
