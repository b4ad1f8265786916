import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/openssl.js";
import { expectAuthz, expectIssued, expectRevoked, fixture, freePort, ocspStatus, requirePrograms, run, startGateway, type InteropGateway, type IssuedCert } from "./harness.js";

// certbot 2.1 (Debian package "certbot") against the gateway: accounts with and without EAB,
// certonly --standalone over http-01, forced renewal and revocation.

interface CertbotEnv {
  gw: InteropGateway;
  httpPort: number;
  close(): Promise<void>;
}

const env = fixture<CertbotEnv>(async () => {
  requirePrograms("certbot", "openssl");
  const httpPort = await freePort();
  const gw = await startGateway({ httpPort });
  return { gw, httpPort, close: () => gw.close() };
});

/** Runs certbot with its state under `home` (no /etc/letsencrypt), trusting the gateway's dev root. */
function certbot(e: CertbotEnv, home: string, args: string[]) {
  const dirs = ["--config-dir", join(home, "config"), "--work-dir", join(home, "work"), "--logs-dir", join(home, "logs")];
  return run("certbot", [...args, ...dirs, "--non-interactive", "--agree-tos"], { env: { REQUESTS_CA_BUNDLE: e.gw.rootPem } });
}

describe("certbot", () => {
  const home = tempDir("certbot-");
  const names = ["c.example.com", "www.c.example.com"];
  const live = join(home, "config", "live", names[0]);
  const issued = (e: CertbotEnv) => expectIssued(e.gw, join(live, "cert.pem"), names, join(live, "chain.pem"));
  let first: IssuedCert | undefined;
  let renewed: IssuedCert | undefined;

  it("certonly --standalone obtains a certificate over http-01", async () => {
    const e = await env();
    const r = await certbot(e, home, [
      "certonly", "--standalone", "--http-01-port", String(e.httpPort), "--http-01-address", "127.0.0.1",
      "--server", e.gw.directory(), "--register-unsafely-without-email", ...names.flatMap((n) => ["-d", n]),
    ]);
    expect(r.out).toContain("Successfully received certificate");
    expect(r.code, r.out).toBe(0);
    first = await issued(e);
    for (const n of names) await expectAuthz(e.gw, n, "http-01", "valid");
  });

  it("renew --force-renewal replaces it with a new serial", async () => {
    const e = await env();
    expect(first, "certonly must have issued a certificate").toBeDefined();
    const r = await certbot(e, home, ["renew", "--force-renewal", "--no-random-sleep-on-renew", "--cert-name", names[0]]);
    expect(r.out).toContain("Congratulations, all renewals succeeded");
    expect(r.code, r.out).toBe(0);
    renewed = await issued(e);
    expect(renewed.serial).not.toBe(first!.serial);
  });

  it("revoke --reason keycompromise: the gateway's store and OCSP report it revoked", async () => {
    const e = await env();
    expect(renewed, "renew must have issued a certificate").toBeDefined();
    const r = await certbot(e, home, [
      "revoke", "--cert-path", join(live, "cert.pem"), "--reason", "keycompromise", "--no-delete-after-revoke", "--server", e.gw.directory(),
    ]);
    expect(r.out).toContain("successfully revoked");
    expect(r.code, r.out).toBe(0);
    await expectRevoked(e.gw, renewed!, { code: 1, ocspName: "keyCompromise" });
    // Only that certificate: the one it replaced is still good.
    expect(await ocspStatus(e.gw, first!)).toContain(`${first!.leaf}: good`);
  });

  it("EAB endpoint: register fails without a binding, succeeds with one, and the key cannot be reused", async () => {
    const e = await env();
    const register = (extra: string[]) => certbot(e, tempDir("certbot-acct-"), ["register", "--server", e.gw.directory("eab"), "--register-unsafely-without-email", ...extra]);
    const accounts = async () => (await e.gw.audit("acme.account.created")).filter((ev) => ev.data.endpoint === "eab");

    const without = await register([]);
    expect(without.code).not.toBe(0);
    expect(without.out).toMatch(/requires external account binding/i);
    expect(await accounts()).toHaveLength(0);

    const key = await e.gw.eabKey();
    const ok = await register(["--eab-kid", key.kid, "--eab-hmac-key", key.hmacKey]);
    expect(ok.out).toContain("Account registered");
    expect(ok.code, ok.out).toBe(0);
    expect((await accounts()).map((ev) => ev.data.eab)).toEqual([key.kid]);
    expect((await e.gw.t.gw.store.acme.getEabKey(key.kid))?.accountId).toBe((await accounts())[0].target);

    // A fresh config dir means a fresh account key presenting the already-bound EAB key.
    const reuse = await register(["--eab-kid", key.kid, "--eab-hmac-key", key.hmacKey]);
    expect(reuse.code).not.toBe(0);
    expect(reuse.out).toContain("already used");
    expect(await accounts()).toHaveLength(1);
  });
});
