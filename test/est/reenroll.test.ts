import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeSerial } from "../../src/ca/serial.js";
import { opensslAsync } from "../helpers/openssl.js";
import { basicUser, curl, estEnv, makeCsr, pkcs10, pkcs7Certs, type EstEnv } from "./setup.js";

let env: EstEnv;
beforeAll(async () => {
  env = await estEnv();
});
afterAll(async () => {
  await env?.close();
});


/** Enrolls over Basic on `label`; returns the certificate and key files. */
async function firstCert(label: string, name: string, subject: string, sans?: string): Promise<{ cert: string; key: string; x: X509Certificate }> {
  const csr = makeCsr(env.dir, name, { subject, sans });
  const r = await curl(env, [...basicUser, ...pkcs10, "--data-binary", `@${csr.body}`, `${env.base}/${label}/simpleenroll`]);
  expect(r.status, r.body.toString()).toBe(200);
  const { path, pem } = await pkcs7Certs(env.dir, name, r.body);
  return { cert: path, key: csr.key, x: new X509Certificate(pem) };
}

function reenroll(label: string, csrBody: string, clientCert?: { cert: string; key: string }) {
  const tls = clientCert ? ["--cert", clientCert.cert, "--key", clientCert.key] : [];
  return curl(env, [...tls, ...pkcs10, "--data-binary", `@${csrBody}`, `${env.base}/${label}/simplereenroll`]);
}

describe("EST simplereenroll", () => {
  it("renews over the TLS client certificate, keeps subject and names, records the replacement", async () => {
    const old = await firstCert("default", "re1", "/CN=re1.example.com", "DNS:re1.example.com");
    const csr = makeCsr(env.dir, "re1-new", { subject: "/CN=re1.example.com", sans: "DNS:re1.example.com" });
    const r = await reenroll("default", csr.body, old);
    expect(r.status, r.body.toString()).toBe(200);
    const { path, pem } = await pkcs7Certs(env.dir, "re1-new", r.body);
    expect((await opensslAsync(["verify", "-CAfile", env.rootPem, "-untrusted", env.issuingPem, path])).out).toContain(": OK");
    const renewed = new X509Certificate(pem);
    expect(renewed.subject).toBe(old.x.subject);
    expect(renewed.subjectAltName).toBe(old.x.subjectAltName);
    const oldRec = (await env.t.gw.store.getCertificate(normalizeSerial(old.x.serialNumber)))!;
    expect(oldRec.replacedBy).toBe(normalizeSerial(renewed.serialNumber));
    expect(oldRec.revokedAt).toBeUndefined(); // the device profile keeps replaced certificates valid
    const newRec = (await env.t.gw.store.getCertificate(normalizeSerial(renewed.serialNumber)))!;
    expect(newRec.renewalOf).toBe(oldRec.serial);
  });

  it("a profile with revokeReplaced revokes the old certificate (superseded) at once", async () => {
    const old = await firstCert("rotate", "rot1", "/CN=rot1.example.com");
    const csr = makeCsr(env.dir, "rot1-new", { subject: "/CN=rot1.example.com" });
    const r = await reenroll("rotate", csr.body, old);
    expect(r.status, r.body.toString()).toBe(200);
    const oldRec = (await env.t.gw.store.getCertificate(normalizeSerial(old.x.serialNumber)))!;
    expect(oldRec.revokedAt).toBeDefined();
    expect(oldRec.revocationReason).toBe(4);
    // and a revoked certificate can no longer re-enroll
    const again = makeCsr(env.dir, "rot1-again", { subject: "/CN=rot1.example.com" });
    const refused = await reenroll("rotate", again.body, old);
    expect(refused.status).toBe(401);
    expect(refused.body.toString()).toContain("revoked");
  });

  it("refuses: no client certificate, a changed subject or names, a foreign certificate", async () => {
    const old = await firstCert("default", "re2", "/CN=re2.example.com", "DNS:re2.example.com");
    const same = makeCsr(env.dir, "re2-same", { subject: "/CN=re2.example.com", sans: "DNS:re2.example.com" });
    const none = await reenroll("default", same.body);
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBeDefined();
    // Basic alone is not enough to re-enroll.
    const basicOnly = await curl(env, [...basicUser, ...pkcs10, "--data-binary", `@${same.body}`, `${env.base}/simplereenroll`]);
    expect(basicOnly.status).toBe(401);

    const changedCn = makeCsr(env.dir, "re2-cn", { subject: "/CN=other.example.com", sans: "DNS:re2.example.com" });
    const r1 = await reenroll("default", changedCn.body, old);
    expect(r1.status).toBe(400);
    expect(r1.headers["x-error-code"]).toBe("RA_ERR_BAD_CSR");
    const changedSan = makeCsr(env.dir, "re2-san", { subject: "/CN=re2.example.com", sans: "DNS:re2.example.com,DNS:extra.example.com" });
    expect((await reenroll("default", changedSan.body, old)).status).toBe(400);

    const foreign = await reenroll("default", same.body, { cert: env.boot.deviceCert, key: env.boot.deviceKey });
    expect(foreign.status).toBe(401);
    expect(foreign.body.toString()).toContain("not a valid certificate of this gateway");
    // The refusals are audited with the identity that was authenticated.
    const rejected = await env.t.gw.store.queryAudit({ type: "request.rejected", limit: 100 });
    expect(rejected.some((e) => e.actor.startsWith("tls-client:") && e.actor.includes("re2.example.com") && e.data.code === "RA_ERR_BAD_CSR")).toBe(true);
  });

  it("a certificate of ours that was revoked cannot re-enroll", async () => {
    const old = await firstCert("default", "re3", "/CN=re3.example.com");
    await env.t.gw.revocation.revoke(old.x.serialNumber, "keyCompromise", "test");
    const csr = makeCsr(env.dir, "re3-new", { subject: "/CN=re3.example.com" });
    const r = await reenroll("default", csr.body, old);
    expect(r.status).toBe(401);
  });

  it("a key pair that does not match the certificate fails the TLS handshake, not the gateway", async () => {
    const old = await firstCert("default", "re4", "/CN=re4.example.com");
    const other = makeCsr(env.dir, "re4-other", { subject: "/CN=re4.example.com" });
    await expect(reenroll("default", other.body, { cert: old.cert, key: other.key })).rejects.toThrow();
    expect((await curl(env, [`${env.base}/cacerts`])).status).toBe(200);
  });
});
