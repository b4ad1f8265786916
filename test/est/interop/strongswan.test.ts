import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { normalizeSerial } from "../../../src/ca/serial.js";
import { fixture } from "../../helpers/fixture.js";
import { tempDir } from "../../helpers/openssl.js";
import { curl, EST_USER, estEnv, type EstEnv } from "../setup.js";
import { approvalEnv, derSubject, pki, pkiKeyAndRequest, pkiUrl, verifyDer } from "./pki.js";

// strongSwan's `pki` (Debian strongswan-pki 5.9.8) as an EST client of the gateway: --estca
// fetches the chain, --est enrolls over HTTP Basic, renews over the TLS client certificate
// (simplereenroll), and polls a pending request until an administrator approves it.
// pki speaks EST itself over strongSwan's TLS stack (not the curl fetcher): the URL is only
// scheme://host:port, pki appends /.well-known/est/<operation>.

const env = fixture(() => estEnv());
const RETRY_AFTER = 2;
const approval = fixture(() => approvalEnv(RETRY_AFTER));

const userpass = `${EST_USER.name}:${EST_USER.password}`;
const work = tempDir("est-sw-");
const TIMEOUT = 60_000;

/**
 * pki --est with Basic: the issued certificate (DER) on stdout and pki's log. The issuing CA is
 * given as a --cacert too: the answer holds only the new certificate, and pki checks it chains.
 */
function enrollBasic(e: EstEnv, req: string, extra: string[] = []) {
  return pki(["--est", "--url", pkiUrl(e), "--cacert", e.rootPem, "--cacert", e.issuingPem, "--userpass", userpass, "--in", req, ...extra]);
}

describe("strongSwan pki --estca", () => {
  it("fetches the issuing chain; the root equals the TLS trust anchor", async () => {
    const e = await env();
    const dir = tempDir("est-sw-ca-");
    const r = await pki(["--estca", "--url", pkiUrl(e), "--cacert", e.rootPem, "--caout", join(dir, "ca.der")]);
    expect(r.code, r.log).toBe(0);
    expect(r.log).toContain("Root CA equals trusted TLS Root CA");
    expect(r.log).toMatch(/Sub CA cert is trusted/);
    expect(await derSubject(join(dir, "ca.der"))).toContain("CN = Enrollment Gateway Dev Root CA");
    expect(await derSubject(join(dir, "ca-1.der"))).toContain("CN = Enrollment Gateway Dev Issuing CA");
    expect(readFileSync(join(dir, "ca.der")).equals(new X509Certificate(readFileSync(e.rootPem)).raw)).toBe(true);
    expect(readFileSync(join(dir, "ca-1.der")).equals(new X509Certificate(readFileSync(e.issuingPem)).raw)).toBe(true);
  }, TIMEOUT);
});

describe("strongSwan pki --est", () => {
  it("enrolls with --userpass: a certificate for the request's name that verifies", async () => {
    const e = await env();
    const { req } = await pkiKeyAndRequest(work, "sw1", "CN=sw1.example.com", ["sw1.example.com"]);
    const r = await enrollBasic(e, req);
    expect(r.code, r.log).toBe(0);
    expect(r.log).toContain("Issued certificate is trusted");
    const { cert, verify } = await verifyDer(e, r.stdout, "sw1");
    expect(verify).toContain(": OK");
    expect(cert.subject).toContain("CN=sw1.example.com");
    expect(cert.subject).toContain("OU=Devices");
    expect(cert.subjectAltName).toBe("DNS:sw1.example.com");
    const rec = (await e.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec.protocol).toBe("est");
    expect(rec.profile).toBe("device");
    expect(rec.requesterId).toBe(EST_USER.name);
  }, TIMEOUT);

  it("renews with --cert/--key (simplereenroll over the TLS client certificate); the old one is recorded as replaced", async () => {
    const e = await env();
    const old = await pkiKeyAndRequest(work, "sw1-old", "CN=sw1.example.com", ["sw1.example.com"]);
    const first = await enrollBasic(e, old.req);
    expect(first.code, first.log).toBe(0);
    const oldCertPath = join(work, "sw1-old.der");
    writeFileSync(oldCertPath, first.stdout);
    const oldCert = new X509Certificate(first.stdout);

    const next = await pkiKeyAndRequest(work, "sw1-new", "CN=sw1.example.com", ["sw1.example.com"]);
    const r = await pki(["--est", "--url", pkiUrl(e), "--cacert", e.rootPem, "--cacert", e.issuingPem, "--cert", oldCertPath, "--key", old.key, "--in", next.req]);
    expect(r.code, r.log).toBe(0);
    expect(r.log).toContain("sending TLS client certificate");
    const { cert, verify } = await verifyDer(e, r.stdout, "sw1-new");
    expect(verify).toContain(": OK");
    expect(cert.subject).toBe(oldCert.subject);
    expect(cert.subjectAltName).toBe(oldCert.subjectAltName);
    expect(cert.serialNumber).not.toBe(oldCert.serialNumber);
    expect(cert.publicKey.equals(oldCert.publicKey)).toBe(false);

    const oldRec = (await e.t.gw.store.getCertificate(normalizeSerial(oldCert.serialNumber)))!;
    const newRec = (await e.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(oldRec.replacedBy).toBe(newRec.serial);
    expect(newRec.renewalOf).toBe(oldRec.serial);
    expect(newRec.requesterKind).toBe("tls-client");
  }, TIMEOUT);

  it("a wrong --userpass fails (HTTP 401) and is audited as est.auth.failed", async () => {
    const e = await env();
    const { req } = await pkiKeyAndRequest(work, "sw-bad", "CN=sw-bad.example.com", ["sw-bad.example.com"]);
    const before = (await e.t.gw.store.queryAudit({ type: "est.auth.failed", limit: 1000 })).length;
    const r = await pki(["--est", "--url", pkiUrl(e), "--cacert", e.rootPem, "--userpass", `${EST_USER.name}:not-the-password`, "--in", req]);
    expect(r.code, r.log).not.toBe(0);
    expect(r.log).toContain("EST request failed: HTTP 401");
    expect(r.stdout.length).toBe(0);
    const events = await e.t.gw.store.queryAudit({ type: "est.auth.failed", limit: 1000 });
    expect(events.length).toBe(before + 1);
    const last = events.find((ev) => String(ev.data.reason) === `wrong password for user ${EST_USER.name}` && ev.data.op === "simpleenroll");
    expect(last, JSON.stringify(events)).toBeDefined();
    expect(JSON.stringify(events)).not.toContain("not-the-password");
  }, TIMEOUT);
});

describe("strongSwan pki --est with approval", () => {
  it("polls on 202 at the server's Retry-After and receives the certificate once approved", async () => {
    const e = await approval();
    const { req } = await pkiKeyAndRequest(work, "sw-pend", "CN=sw-pend.example.com", ["sw-pend.example.com"]);
    const admin = ["-H", `Authorization: Bearer ${e.t.token}`];
    const running = enrollBasic(e, req, ["--interval", "1", "--maxpolltime", "30"]);

    // Wait for the pending request pki made, then approve it while pki keeps polling.
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      const list = await curl(e, [...admin, `${e.adminBase}/approvals?status=pending`]);
      expect(list.status, list.body.toString()).toBe(200);
      const approvals = (JSON.parse(list.body.toString()) as { approvals: Array<{ id: string; requesterId: string; protocol: string }> }).approvals;
      id = approvals.find((a) => a.protocol === "est" && a.requesterId === EST_USER.name)?.id;
      if (!id) await new Promise((r) => setTimeout(r, 100));
    }
    expect(id, "pki's request never became a pending approval").toBeDefined();
    // Let pki see at least one 202 before the approval.
    await new Promise((r) => setTimeout(r, 500));
    const approve = await curl(e, [...admin, "-H", "Content-Type: application/json", "--data", "{}", `${e.adminBase}/approvals/${id}/approve`]);
    expect(approve.status, approve.body.toString()).toBe(200);

    const r = await running;
    expect(r.code, r.log).toBe(0);
    // Retry-After (2 s) overrides the shorter --interval 1.
    expect(r.log).toContain(`EST request pending, polling every ${RETRY_AFTER} seconds up to 30 seconds`);
    const { cert, verify } = await verifyDer(e, r.stdout, "sw-pend");
    expect(verify).toContain(": OK");
    expect(cert.subject).toContain("CN=sw-pend.example.com");
    const rec = (await e.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec.profile).toBe("device-approval");
    expect(rec.requesterId).toBe(EST_USER.name);
    expect((await e.t.gw.store.getRequest(id!))!.status).toBe("issued");
    expect((await e.t.gw.store.queryAudit({ type: "est.request.repeated", limit: 100 })).length).toBeGreaterThan(0);
  }, TIMEOUT);
});
