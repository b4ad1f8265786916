import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/openssl.js";
import { expectAuthz, freePort, nodeScript, requirePrograms, run, serveWebroot, startGateway, type InteropGateway } from "../acme/interop/harness.js";

// docs/interop.md "IP address identifiers": which Debian 12 ACME clients can ask for an IP address, checked against a
// real gateway whose tls-server profile allows 127.0.0.0/8 and which validates http-01 at the address itself.

let gw: InteropGateway;
let web: Awaited<ReturnType<typeof serveWebroot>>;
let webroot: string;

beforeAll(async () => {
  requirePrograms("certbot", "lego", "uacme", "unshare", "openssl");
  if (process.getuid?.() !== 0) throw new Error("the uacme case needs root: libcurl-gnutls ignores CA settings, so it mounts its own CA directory (unshare -m)");
  webroot = tempDir("ip-webroot-");
  web = await serveWebroot(webroot);
  gw = await startGateway({ httpPort: web.port });
});
afterAll(async () => {
  await gw?.close();
  await web?.close();
});

describe("ACME clients and IP identifiers (docs/interop.md)", () => {
  it("uacme 1.7 sends an RFC 8738 ip identifier and gets an IP Address SAN", async () => {
    const dir = tempDir("ip-uacme-");
    const hook = nodeScript(dir, "hook", `
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const [method, type, , token, keyAuth] = process.argv.slice(2);
if (type !== "http-01") process.exit(1);
const file = join(${JSON.stringify(webroot)}, token);
if (method === "begin") writeFileSync(file, keyAuth); else rmSync(file, { force: true });`);
    const uacme = (args: string[]) => run("unshare", ["-m", "sh", "-c", 'mount -t tmpfs tmpfs /etc/ssl/certs && cp "$0" /etc/ssl/certs/ca-certificates.crt && exec uacme "$@"',
      gw.rootPem, "-v", "-y", "-o", "-c", join(dir, "conf"), "-a", gw.directory(), ...args]);
    const account = await uacme(["new"]);
    expect(account.code, account.out).toBe(0);
    const r = await uacme(["-h", hook, "issue", "127.0.0.1"]);
    expect(r.code, r.out).toBe(0);
    const cert = new X509Certificate(readFileSync(join(dir, "conf", "127.0.0.1", "cert.pem")));
    expect(cert.subjectAltName).toBe("IP Address:127.0.0.1");
    const ev = await expectAuthz(gw, "127.0.0.1", "http-01", "valid");
    expect(ev.data.identifier).toEqual({ type: "ip", value: "127.0.0.1" });
  });

  it("lego 4.9 sends the address as a dns identifier, which the gateway refuses", async () => {
    const r = await run("lego", ["--accept-tos", "--email", "ip@example.com", "--server", gw.directory(), "--path", tempDir("ip-lego-"),
      "--domains", "127.0.0.1", "--http", "--http.port", `127.0.0.1:${await freePort()}`, "run"], { env: { LEGO_CA_CERTIFICATES: gw.rootPem } });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("urn:ietf:params:acme:error:rejectedIdentifier");
    expect(r.out).toContain("an IP address is not a DNS name");
  });

  it("certbot 2.1 refuses an IP address itself and sends no order", async () => {
    const home = tempDir("ip-certbot-");
    const r = await run("certbot", ["certonly", "--standalone", "--http-01-port", String(await freePort()), "--server", gw.directory(), "-d", "127.0.0.1",
      "--register-unsafely-without-email", "--non-interactive", "--agree-tos", "--config-dir", join(home, "c"), "--work-dir", join(home, "w"), "--logs-dir", join(home, "l")],
    { env: { REQUESTS_CA_BUNDLE: gw.rootPem } });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("Requested name 127.0.0.1 is an IP address");
    // lego's refused order is the only one the gateway saw: certbot sent none.
    expect((await gw.audit("acme.order.rejected")).length).toBe(1);
  });
});
