import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { normalizeSerial } from "../../../src/ca/serial.js";
import { fixture } from "../../helpers/fixture.js";
import { opensslAsync, tempDir } from "../../helpers/openssl.js";
import { scepEnv, type ScepEnv } from "../setup.js";
import { adminApi, auditMark, output, pki, pkiRsaKey, pkiScepCa, scepAudit, verifyCert, waitForPendingApproval, type RunResult, type ScepCaFiles } from "./clients.js";

// strongSwan's `pki` (Debian strongswan-pki 5.9.8) as a SCEP client of the gateway: --scepca
// fetches the RA and CA certificates (GetCACert), --scep enrolls an RSA key with a challenge
// (PKCSReq), renews with the old certificate and key (RenewalReq), and polls a pending request
// (CertPoll) until an administrator approves it. pki speaks HTTP through its curl plugin and
// appends `?operation=...` to --url itself. It reads GetCACaps (with --debug 2 it logs what it chose),
// but sends an explicit --digest sha1 / --cipher des3 even where the list lacks them: the gateway refuses.
// The PKCS#10 it sends is signed with the --digest too.

const env = fixture(() => scepEnv());

const TIMEOUT = 60_000;
const work = tempDir("scep-sw-");

const caFiles = new Map<string, Promise<ScepCaFiles>>();
/** pki --scepca once per endpoint URL. */
function ca(url: string): Promise<ScepCaFiles> {
  let p = caFiles.get(url);
  if (!p) {
    const dir = tempDir("scep-sw-ca-");
    caFiles.set(url, (p = pkiScepCa(url, dir)));
  }
  return p;
}

/** The pki --scep arguments every enrollment here shares: the RA encrypts and signs, the CA chain makes the answer trusted. */
function scepArgs(url: string, c: ScepCaFiles, key: string, dn: string, sans: string[], alg = { cipher: "aes", digest: "sha256" }): string[] {
  return [
    "--scep", "--url", url, "--in", key, "--dn", dn, ...sans.flatMap((s) => ["--san", s]),
    "--cacert-enc", c.ra, "--cacert-sig", c.ra, "--cacert", c.root, "--cacert", c.issuing,
    "--cipher", alg.cipher, "--digest", alg.digest, "--debug", "2",
  ];
}

/** Enrolls a fresh RSA key with a one-time challenge on the default endpoint; the certificate and key files. */
async function enroll(e: ScepEnv, name: string, host: string) {
  const url = `${e.http}/scep`;
  const c = await ca(url);
  const key = await pkiRsaKey(work, name);
  const r = await pki([...scepArgs(url, c, key, `CN=${host}`, [host]), "--password", await e.challenge()]);
  expect(r.code, output(r)).toBe(0);
  const certPath = join(work, `${name}.cert.der`);
  writeFileSync(certPath, r.stdout);
  return { key, certPath, cert: new X509Certificate(r.stdout), log: r.log };
}

describe("strongSwan pki --scepca", () => {
  it("fetches the RA certificate and the CA chain of GetCACert", async () => {
    const e = await env();
    const c = await pkiScepCa(`${e.http}/scep`, tempDir("scep-sw-ca-"));
    expect(c.log).toMatch(/Root CA cert "[^"]*CN=Enrollment Gateway Dev Root CA\b/);
    expect(c.log).toMatch(/Sub CA cert "[^"]*CN=Enrollment Gateway Dev Issuing CA\b/);
    expect(c.log).toMatch(/RA cert "[^"]*CN=SCEP RA default\b/);
    expect(c.log).toMatch(/Sub CA cert is trusted/);
    expect(c.log).toMatch(/RA cert is trusted/);
    expect(readFileSync(c.root).equals(new X509Certificate(readFileSync(e.rootPem)).raw)).toBe(true);
    expect(readFileSync(c.issuing).equals(new X509Certificate(readFileSync(e.issuingPem)).raw)).toBe(true);
    const ra = new X509Certificate(readFileSync(c.ra));
    expect(ra.publicKey.asymmetricKeyType).toBe("rsa");
    expect(ra.ca).toBe(false);
    expect(ra.checkIssued(new X509Certificate(readFileSync(e.issuingPem)))).toBe(true);
  }, TIMEOUT);
});

describe("strongSwan pki --scep", () => {
  it("enrolls with a one-time challenge, negotiating AES and SHA-256 from GetCACaps", async () => {
    const e = await env();
    const url = `${e.http}/scep`;
    const c = await ca(url);
    const key = await pkiRsaKey(work, "sw1");
    const challenge = await e.challenge();
    const mark = await auditMark(e);
    const r = await pki([...scepArgs(url, c, key, "CN=sw1.example.com", ["sw1.example.com"]), "--password", challenge]);
    expect(r.code, output(r)).toBe(0);

    // What pki chose from the capabilities, and that it POSTed.
    expect(r.log).toContain("sha256 digest and AES_CBC encryption algorithm supported by CA");
    expect(r.log).toContain("HTTP POST supported");
    expect(r.log).toContain(`sending request to '${url}?operation=PKIOperation'`);
    expect(r.log).toContain("Issued certificate is trusted");

    const { cert, verify, ok } = await verifyCert(e, r.stdout, "sw1");
    expect(ok, verify).toBe(true);
    expect(cert.subject).toContain("CN=sw1.example.com");
    expect(cert.subject).toContain("OU=Devices");
    expect(cert.subjectAltName).toBe("DNS:sw1.example.com");
    const rec = (await e.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec.protocol).toBe("scep");
    expect(rec.profile).toBe("device");

    // The gateway's view of the same exchange: a PKCSReq with a one-time challenge, SHA-256 and AES.
    const events = await scepAudit(e, mark);
    expect(events.length, JSON.stringify(events)).toBe(1);
    expect(events[0].data).toMatchObject({ endpoint: "default", messageType: "PKCSReq", decision: "SUCCESS", challengeKind: "one-time", digest: "sha256", contentEncryption: "aes-128-cbc" });
    expect(JSON.stringify(events)).not.toContain(challenge);
  }, TIMEOUT);

  it("renews with --cert/--key (RenewalReq signed with the old certificate); the old one is recorded as replaced", async () => {
    const e = await env();
    const url = `${e.http}/scep`;
    const c = await ca(url);
    const old = await enroll(e, "sw2-old", "sw2.example.com");
    const newKey = await pkiRsaKey(work, "sw2-new");
    const mark = await auditMark(e);
    // No --password: the old certificate vouches for the request.
    const r = await pki([...scepArgs(url, c, newKey, "CN=sw2.example.com", ["sw2.example.com"]), "--cert", old.certPath, "--key", old.key]);
    expect(r.code, output(r)).toBe(0);
    expect(r.log).toContain("SCEP Renewal operation supported");

    const { cert, verify, ok } = await verifyCert(e, r.stdout, "sw2-new");
    expect(ok, verify).toBe(true);
    expect(cert.subject).toBe(old.cert.subject);
    expect(cert.subjectAltName).toBe(old.cert.subjectAltName);
    expect(cert.serialNumber).not.toBe(old.cert.serialNumber);
    expect(cert.publicKey.equals(old.cert.publicKey)).toBe(false);

    const oldRec = (await e.t.gw.store.getCertificate(normalizeSerial(old.cert.serialNumber)))!;
    const newRec = (await e.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(oldRec.replacedBy).toBe(newRec.serial);
    expect(newRec.renewalOf).toBe(oldRec.serial);
    expect(newRec.requesterKind).toBe("scep-certificate");

    const events = await scepAudit(e, mark);
    expect(events.map((ev) => ev.data), JSON.stringify(events)).toEqual([expect.objectContaining({ messageType: "RenewalReq", decision: "SUCCESS" })]);
  }, TIMEOUT);
});

describe("strongSwan pki --scep with legacy algorithms", () => {
  it("enrolls with --cipher des3 --digest sha1 on a legacyAlgorithms endpoint: SHA-1 message and CSR signatures, 3DES", async () => {
    const e = await env();
    const url = `${e.http}/scep/legacy`;
    const c = await ca(url);
    const key = await pkiRsaKey(work, "sw-legacy");
    const challenge = await e.challenge();
    const mark = await auditMark(e);
    const r = await pki([...scepArgs(url, c, key, "CN=sw-legacy.example.com", ["sw-legacy.example.com"], { cipher: "des3", digest: "sha1" }), "--password", challenge]);
    expect(r.code, output(r)).toBe(0);
    expect(r.log).toContain("sha1 digest and 3DES_CBC encryption algorithm supported by CA");
    expect(r.log).toContain("Issued certificate is trusted");
    const { cert, verify, ok } = await verifyCert(e, r.stdout, "sw-legacy");
    expect(ok, verify).toBe(true);
    expect(cert.subjectAltName).toBe("DNS:sw-legacy.example.com");
    const rec = (await e.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec).toMatchObject({ protocol: "scep", profile: "device" });
    // The CSR pki sent is signed with SHA-1 (the core accepted it for this endpoint only).
    const stored = (await e.t.gw.store.getRequest(rec.requestId))!;
    const csrDer = Buffer.from(JSON.parse(stored.payload).csr as string, "base64");
    const csrFile = join(work, "sw-legacy.csr.der");
    writeFileSync(csrFile, csrDer);
    expect((await opensslAsync(["req", "-inform", "DER", "-in", csrFile, "-noout", "-text"])).out).toMatch(/Signature Algorithm: sha1WithRSAEncryption/);

    const events = await scepAudit(e, mark);
    expect(events.length, JSON.stringify(events)).toBe(1);
    expect(events[0].data).toMatchObject({ endpoint: "legacy", decision: "SUCCESS", challengeKind: "one-time", digest: "sha1", contentEncryption: "des-ede3-cbc" });
    expect(events[0].data.singleDes).toBeUndefined();
  }, TIMEOUT);

  it("the same request on an endpoint without legacyAlgorithms is answered badAlg, and its one-time challenge stays unused", async () => {
    const e = await env();
    const url = `${e.http}/scep`;
    const c = await ca(url);
    const key = await pkiRsaKey(work, "sw-modern");
    const challenge = await e.challenge();
    const mark = await auditMark(e);
    const r = await pki([...scepArgs(url, c, key, "CN=sw-modern.example.com", ["sw-modern.example.com"], { cipher: "des3", digest: "sha1" }), "--password", challenge]);
    expect(r.code, output(r)).not.toBe(0);
    expect(r.log).toMatch(/pkiStatus:\s+FAILURE/);
    expect(r.log).toMatch(/failInfo:\s+badAlg/);
    const events = await scepAudit(e, mark);
    expect(events.length, JSON.stringify(events)).toBe(1);
    expect(events[0].data).toMatchObject({ endpoint: "default", decision: "FAILURE", failInfo: "badAlg", reason: expect.stringContaining("sha1") });
    expect((await e.secrets.findBySecret(challenge, "scep"))?.usedAt).toBeUndefined();
  }, TIMEOUT);
});

describe("strongSwan pki --scep with approval", () => {
  it("gets PENDING, polls with CertPoll and receives the certificate once an administrator approves", async () => {
    const e = await env();
    const url = `${e.http}/scep/approve`;
    const c = await ca(url);
    const key = await pkiRsaKey(work, "sw-pend");
    const mark = await auditMark(e);
    let exited: RunResult | undefined;
    const running = pki([...scepArgs(url, c, key, "CN=sw-pend.example.com", ["sw-pend.example.com"]),
      "--password", await e.challenge({ profile: "scep-approval" }), "--interval", "1", "--maxpolltime", "40"]).then((r) => (exited = r));
    const gaveUp = () => (exited ? `pki exited before the approval:\n${output(exited)}` : undefined);

    // pki's PKCSReq becomes a pending approval; approve it once pki has polled (CertPoll) at least once.
    const id = await waitForPendingApproval(e, (a) => a.protocol === "scep" && a.profile === "scep-approval", gaveUp);
    for (const until = Date.now() + 20_000; !(await scepAudit(e, mark)).some((ev) => ev.data.messageType === "CertPoll" && ev.data.decision === "PENDING");) {
      const why = gaveUp() ?? (Date.now() > until ? "pki did not poll within 20 s" : undefined);
      if (why) throw new Error(why);
      await new Promise((r) => setTimeout(r, 200));
    }
    const approve = await adminApi(e, "POST", `/approvals/${id}/approve`, {});
    expect(approve.status, approve.body).toBe(200);

    const r = await running;
    expect(r.code, output(r)).toBe(0);
    expect(r.log).toContain("SCEP request pending, polling every 1 seconds up to 40 seconds");
    const { cert, verify, ok } = await verifyCert(e, r.stdout, "sw-pend");
    expect(ok, verify).toBe(true);
    expect(cert.subject).toContain("CN=sw-pend.example.com");
    const rec = (await e.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec.profile).toBe("scep-approval");
    expect(rec.protocol).toBe("scep");
    expect((await e.t.gw.store.getRequest(id))!.status).toBe("issued");

    const seen = (await scepAudit(e, mark)).map((ev) => `${ev.data.messageType}:${ev.data.decision}`);
    expect(seen[0]).toBe("PKCSReq:PENDING");
    expect(seen).toContain("CertPoll:PENDING");
    expect(seen.at(-1)).toBe("CertPoll:SUCCESS");
  }, TIMEOUT);
});
