import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixture } from "../../helpers/fixture.js";
import { tempDir } from "../../helpers/openssl.js";
import { scepEnv } from "../setup.js";
import { auditMark, output, raCertOf, scepAudit, scepclient, sha256Fingerprint } from "./clients.js";

// micromdm's scepclient (Debian package scep 2.1.0) as a SCEP client of the gateway.
//
// What this client does, fixed in the binary (no flag changes it):
//  - -server-url is used as is, with `?operation=GetCACert|GetCACaps|PKIOperation` appended; it
//    POSTs PKIOperation when GetCACaps lists POSTPKIOperation.
//  - It encrypts the request to *every* certificate of GetCACert unless -ca-fingerprint (SHA-256 of
//    the DER) selects one; for an EC certificate (our CAs) Go's pkcs7.Encrypt panics. So the RA
//    certificate's fingerprint is always given.
//  - It signs with SHA-1 (sha1WithRSAEncryption) and encrypts with single DES-CBC (go.mozilla.org/pkcs7
//    defaults), whatever GetCACaps says. SHA-1 is accepted on the `legacy` endpoint only.
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
  // scepclient 2.1.0 cannot enroll with this gateway: it always encrypts with single DES, which the
  // gateway never accepts (not even on a legacyAlgorithms endpoint, where SHA-1 and 3DES are allowed).
  it("is refused with badAlg even where legacy algorithms are on (single DES), audited, challenge left unused", async () => {
    const e = await env();
    const challenge = e.challenge();
    const mark = auditMark(e);
    const { r, certPath } = await enroll(`${e.http}/scep/legacy`, "des", { challenge, cn: "mdm1.example.com" });
    expect(r.code, output(r)).not.toBe(0);
    expect(r.stdout.toString()).toMatch(/PKCSReq \(19\) request failed, failInfo: badAlg \(0\)/);
    expect(existsSync(certPath)).toBe(false);
    const events = scepAudit(e, mark);
    expect(events.length, JSON.stringify(events)).toBe(1);
    expect(events[0].data).toMatchObject({ endpoint: "legacy", decision: "FAILURE", failInfo: "badAlg" });
    expect(String(events[0].data.reason)).toContain("single DES");
    for (const ev of e.t.gw.store.queryAudit({ afterSeq: mark, limit: 1000 })) expect(JSON.stringify(ev)).not.toContain(challenge);
    expect(e.secrets.findBySecret(challenge, "scep")?.usedAt).toBeUndefined();
  }, TIMEOUT);

  it("is refused with badAlg on the default endpoint (SHA-1), audited, and the one-time challenge stays unused", async () => {
    const e = await env();
    const challenge = e.challenge();
    const mark = auditMark(e);
    const { r, certPath } = await enroll(`${e.http}/scep`, "sha1", { challenge, cn: "mdm3.example.com" });
    expect(r.code, output(r)).not.toBe(0);
    expect(r.stdout.toString()).toMatch(/PKCSReq \(19\) request failed, failInfo: badAlg \(0\)/);
    expect(existsSync(certPath)).toBe(false);

    const events = scepAudit(e, mark);
    expect(events.length, JSON.stringify(events)).toBe(1);
    expect(events[0].data).toMatchObject({ endpoint: "default", decision: "FAILURE", failInfo: "badAlg" });
    expect(String(events[0].data.reason)).toContain("sha1");
    for (const ev of e.t.gw.store.queryAudit({ afterSeq: mark, limit: 1000 })) expect(JSON.stringify(ev)).not.toContain(challenge);
    // The message was refused before its challenge was looked at.
    expect(e.secrets.findBySecret(challenge, "scep")?.usedAt).toBeUndefined();
    expect(e.t.gw.store.queryAudit({ type: "secret.redeemed", afterSeq: mark, limit: 1000 })).toEqual([]);
  }, TIMEOUT);
});
