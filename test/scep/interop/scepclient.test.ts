import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { normalizeSerial } from "../../../src/ca/serial.js";
import { fixture } from "../../helpers/fixture.js";
import { tempDir } from "../../helpers/openssl.js";
import { scepEnv } from "../setup.js";
import { auditMark, output, raCertOf, scepAudit, scepclient, sha256Fingerprint, verifyCert } from "./clients.js";

// micromdm's scepclient (Debian package scep 2.1.0) as a SCEP client of the gateway.
//
// What this client does, fixed in the binary (no flag changes it):
//  - -server-url is used as is, with `?operation=GetCACert|GetCACaps|PKIOperation` appended; it
//    POSTs PKIOperation when GetCACaps lists POSTPKIOperation.
//  - It encrypts the request to *every* certificate of GetCACert unless -ca-fingerprint (SHA-256 of
//    the DER) selects one; for an EC certificate (our CAs) Go's pkcs7.Encrypt panics. So the RA
//    certificate's fingerprint is always given.
//  - It signs with SHA-1 (sha1WithRSAEncryption) and encrypts with single DES-CBC (go.mozilla.org/pkcs7
//    defaults), whatever GetCACaps says. It can enroll only where allowSingleDes is on (the `des` endpoint,
//    one-time challenges only); SHA-1 alone (`legacy`) is not enough.
//  - It makes an RSA-2048 key at -private-key and keeps `csr.pem` (with the challenge in it) and
//    `self.pem` next to it, reusing them on the next run: every run here gets its own directory.
//  - If -certificate exists it sends a RenewalReq; otherwise a PKCSReq, and writes the issued
//    certificate (PEM) there. On PENDING it sleeps 30 s and resends the PKCSReq.
//  - Exit 1 on every error, printing it on stdout (`PKCSReq (19) request failed, failInfo: ...`).

const env = fixture(() => scepEnv());

const TIMEOUT = 60_000;

/** One scepclient run in a fresh directory (fresh key, CSR and self-signed certificate, so a new transaction). */
async function enroll(url: string, name: string, o: { challenge?: string; cn: string }) {
  const dir = tempDir(`scepclient-${name}-`);
  const ra = await raCertOf(url, dir);
  const certPath = join(dir, "cert.pem");
  const r = await scepclient([
    "-server-url", url, "-private-key", join(dir, "key.pem"), "-certificate", certPath, "-cn", o.cn, "-ou", "MDM", "-organization", "scep-client",
    "-ca-fingerprint", sha256Fingerprint(ra), "-debug", ...(o.challenge ? ["-challenge", o.challenge] : []),
  ]);
  return { r, certPath, dir };
}

describe("micromdm scepclient", () => {
  it("enrolls with a one-time challenge where allowSingleDes is on: SHA-1 and single DES, a DES reply it reads, the use audited", async () => {
    const e = await env();
    const challenge = await e.challenge();
    const mark = await auditMark(e);
    const { r, certPath } = await enroll(`${e.http}/scep/des`, "des-ok", { challenge, cn: "mdm2.example.com" });
    expect(r.code, output(r)).toBe(0);
    const { cert, verify, ok } = await verifyCert(e, readFileSync(certPath), "mdm2");
    expect(ok, verify).toBe(true);
    expect(cert.subject).toContain("CN=mdm2.example.com");
    const rec = (await e.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec).toMatchObject({ protocol: "scep", profile: "device" });

    const events = await scepAudit(e, mark);
    expect(events.length, JSON.stringify(events)).toBe(1);
    expect(events[0].data).toMatchObject({
      endpoint: "des", messageType: "PKCSReq", decision: "SUCCESS", challengeKind: "one-time", digest: "sha1", contentEncryption: "des-cbc", singleDes: true,
    });
    for (const ev of await e.t.gw.store.queryAudit({ afterSeq: mark, limit: 1000 })) expect(JSON.stringify(ev)).not.toContain(challenge);
    // The challenge was used up by this enrollment.
    expect((await e.secrets.findBySecret(challenge, "scep"))?.usedAt).toBeDefined();
    const again = await enroll(`${e.http}/scep/des`, "des-again", { challenge, cn: "mdm2b.example.com" });
    expect(again.r.code, output(again.r)).not.toBe(0);
    expect(again.r.stdout.toString()).toMatch(/PKCSReq \(19\) request failed, failInfo: badRequest \(2\)/);
  }, TIMEOUT);

  it("is refused with badAlg where only legacyAlgorithms is on (single DES), and the unused challenge then enrolls on the allowSingleDes endpoint", async () => {
    const e = await env();
    const challenge = await e.challenge();
    const mark = await auditMark(e);
    const { r, certPath } = await enroll(`${e.http}/scep/legacy`, "des", { challenge, cn: "mdm1.example.com" });
    expect(r.code, output(r)).not.toBe(0);
    expect(r.stdout.toString()).toMatch(/PKCSReq \(19\) request failed, failInfo: badAlg \(0\)/);
    expect(existsSync(certPath)).toBe(false);
    const events = await scepAudit(e, mark);
    expect(events.length, JSON.stringify(events)).toBe(1);
    expect(events[0].data).toMatchObject({ endpoint: "legacy", decision: "FAILURE", failInfo: "badAlg", contentEncryption: "des-cbc" });
    expect(String(events[0].data.reason)).toContain("single DES");
    for (const ev of await e.t.gw.store.queryAudit({ afterSeq: mark, limit: 1000 })) expect(JSON.stringify(ev)).not.toContain(challenge);
    expect((await e.secrets.findBySecret(challenge, "scep"))?.usedAt).toBeUndefined();

    // Not consumed: the same challenge still enrolls the device where single DES is allowed.
    const ok = await enroll(`${e.http}/scep/des`, "des-after", { challenge, cn: "mdm1.example.com" });
    expect(ok.r.code, output(ok.r)).toBe(0);
    const { verify, ok: verified } = await verifyCert(e, readFileSync(ok.certPath), "mdm1");
    expect(verified, verify).toBe(true);
  }, TIMEOUT);

  it("is refused with badAlg on the default endpoint (SHA-1), audited, and the one-time challenge stays unused", async () => {
    const e = await env();
    const challenge = await e.challenge();
    const mark = await auditMark(e);
    const { r, certPath } = await enroll(`${e.http}/scep`, "sha1", { challenge, cn: "mdm3.example.com" });
    expect(r.code, output(r)).not.toBe(0);
    expect(r.stdout.toString()).toMatch(/PKCSReq \(19\) request failed, failInfo: badAlg \(0\)/);
    expect(existsSync(certPath)).toBe(false);

    const events = await scepAudit(e, mark);
    expect(events.length, JSON.stringify(events)).toBe(1);
    expect(events[0].data).toMatchObject({ endpoint: "default", decision: "FAILURE", failInfo: "badAlg" });
    expect(String(events[0].data.reason)).toContain("sha1");
    for (const ev of await e.t.gw.store.queryAudit({ afterSeq: mark, limit: 1000 })) expect(JSON.stringify(ev)).not.toContain(challenge);
    // The message was refused before its challenge was looked at.
    expect((await e.secrets.findBySecret(challenge, "scep"))?.usedAt).toBeUndefined();
    expect(await e.t.gw.store.queryAudit({ type: "secret.redeemed", afterSeq: mark, limit: 1000 })).toEqual([]);
  }, TIMEOUT);
});
