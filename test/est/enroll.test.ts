import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeSerial } from "../../src/ca/serial.js";
import { genKey, opensslAsync } from "../helpers/openssl.js";
import { basicUser, curl, EST_USER, estEnv, makeCsr, pkcs10, pkcs7Certs, type EstEnv } from "./setup.js";

let env: EstEnv;
beforeAll(async () => {
  env = await estEnv();
});
afterAll(async () => {
  await env?.close();
});


async function enroll(path: string, csrBody: string, auth: string[]): Promise<Awaited<ReturnType<typeof curl>>> {
  return curl(env, [...auth, ...pkcs10, "--data-binary", `@${csrBody}`, `${env.base}${path}`]);
}

/** The issued certificate of a 200 answer, after `openssl verify` accepted it against the dev root. */
async function issuedCert(name: string, body: Buffer): Promise<{ path: string; cert: X509Certificate }> {
  const { path, pem } = await pkcs7Certs(env.dir, name, body);
  const v = await opensslAsync(["verify", "-CAfile", env.rootPem, "-untrusted", env.issuingPem, path]);
  expect(v.out).toContain(": OK");
  return { path, cert: new X509Certificate(pem) };
}

describe("EST distribution", () => {
  it("cacerts is the issuing chain as base64 certs-only CMS", async () => {
    const r = await curl(env, [`${env.base}/cacerts`]);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/pkcs7-mime");
    expect(r.headers["content-transfer-encoding"]).toBe("base64");
    // A fixed length, not chunked: strongSwan's EST client refuses an answer without Content-Length.
    expect(r.headers["content-length"]).toBe(String(r.body.length));
    const { text } = await pkcs7Certs(env.dir, "cacerts", r.body);
    expect(text).toContain("Enrollment Gateway Dev Issuing CA");
    expect(text).toContain("Enrollment Gateway Dev Root CA");
    const labelled = await curl(env, [`${env.base}/approve/cacerts`]);
    expect(labelled.status).toBe(200);
  });

  it("csrattrs lists the profile's key algorithm, and challengePassword where PoP linking is on", async () => {
    const plain = await curl(env, [`${env.base}/csrattrs`]);
    expect(plain.status).toBe(200);
    expect(plain.headers["content-type"]).toBe("application/csrattrs");
    const der = join(env.dir, "attrs.der");
    writeFileSync(der, Buffer.from(plain.body.toString().replace(/\s+/g, ""), "base64"));
    const parsed = await opensslAsync(["asn1parse", "-inform", "DER", "-in", der]);
    expect(parsed.code).toBe(0);
    expect(parsed.out).toContain("id-ecPublicKey");
    expect(parsed.out).toContain("prime256v1");
    expect(parsed.out).not.toContain("challengePassword");
    const pop = await curl(env, [`${env.base}/pop/csrattrs`]);
    writeFileSync(der, Buffer.from(pop.body.toString().replace(/\s+/g, ""), "base64"));
    expect((await opensslAsync(["asn1parse", "-inform", "DER", "-in", der])).out).toContain("challengePassword");
  });

  it("unknown labels and operations are 404, wrong methods 405, fullcmc 501", async () => {
    expect((await curl(env, [`${env.base}/nolabel/cacerts`])).status).toBe(404);
    expect((await curl(env, [`${env.base}/frobnicate`])).status).toBe(404);
    const get = await curl(env, [`${env.base}/simpleenroll`]);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
    const full = await curl(env, [...basicUser, "-H", "Content-Type: application/pkcs7-mime", "--data-binary", "AAAA", `${env.base}/fullcmc`]);
    expect(full.status).toBe(501);
  });
});

describe("EST simpleenroll", () => {
  it("Basic user: a certificate that verifies, with the profile's subject and the CSR's names", async () => {
    const csr = makeCsr(env.dir, "basic1", { subject: "/CN=router1.example.com", sans: "DNS:router1.example.com,IP:10.1.2.3" });
    const r = await enroll("/simpleenroll", csr.body, basicUser);
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.headers["content-type"]).toBe("application/pkcs7-mime; smime-type=certs-only");
    const { cert } = await issuedCert("basic1", r.body);
    expect(cert.subject).toContain("CN=router1.example.com");
    expect(cert.subject).toContain("OU=Devices");
    expect(cert.subjectAltName).toContain("DNS:router1.example.com");
    expect(cert.subjectAltName).toContain("IP Address:10.1.2.3");
    const rec = (await env.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec.protocol).toBe("est");
    expect(rec.requesterId).toBe(EST_USER.name);
  });

  it("wrong or missing credentials get 401 with WWW-Authenticate, and are audited", async () => {
    const csr = makeCsr(env.dir, "nocreds", { subject: "/CN=x.example.com" });
    const none = await enroll("/simpleenroll", csr.body, []);
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Basic realm="EST default"/);
    const wrong = await enroll("/simpleenroll", csr.body, ["-u", `${EST_USER.name}:not-the-password`]);
    expect(wrong.status).toBe(401);
    const events = await env.t.gw.store.queryAudit({ type: "est.auth.failed", limit: 50 });
    expect(events.some((e) => String(e.data.reason).includes("wrong password"))).toBe(true);
    expect(JSON.stringify(events)).not.toContain("not-the-password");
  });

  it("a client certificate from the bootstrap (IDevID) CA enrolls; a foreign one does not", async () => {
    const csr = makeCsr(env.dir, "boot1", { subject: "/CN=boot-device-42.example.com" });
    const ok = await enroll("/certonly/simpleenroll", csr.body, ["--cert", env.boot.deviceCert, "--key", env.boot.deviceKey]);
    expect(ok.status, ok.body.toString()).toBe(200);
    const { cert } = await issuedCert("boot1", ok.body);
    const rec = (await env.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec.requesterKind).toBe("tls-client");
    expect(rec.requesterId).toContain("CN=boot-device-42");

    const selfKey = genKey(env.dir, "self");
    const selfCert = join(env.dir, "self.pem");
    await opensslAsync(["req", "-x509", "-new", "-key", selfKey, "-subj", "/CN=boot-device-42", "-days", "2", "-out", selfCert]);
    const foreign = await enroll("/certonly/simpleenroll", csr.body, ["--cert", selfCert, "--key", selfKey]);
    expect(foreign.status).toBe(401);
    expect(foreign.body.toString()).toContain("trust anchor");
  });

  it("one-time secrets: accepted once, refused the second time; bound subjects enforced", async () => {
    const s = env.t.gw.store;
    const { EnrollmentSecrets } = await import("../../src/enrollment/secrets.js");
    const secrets = new EnrollmentSecrets(s, env.t.gw.profiles, env.t.gw.audit);
    const minted = await secrets.mint({ profile: "device", protocols: ["est"] }, "test");
    const csr = makeCsr(env.dir, "otp1", { subject: "/CN=otp1.example.com" });
    const first = await enroll("/simpleenroll", csr.body, ["-u", `${minted.id}:${minted.secret}`]);
    expect(first.status, first.body.toString()).toBe(200);
    const other = makeCsr(env.dir, "otp2", { subject: "/CN=otp2.example.com" });
    const again = await enroll("/simpleenroll", other.body, ["-u", `${minted.id}:${minted.secret}`]);
    expect(again.status).toBe(401);

    const bound = await secrets.mint({ profile: "device", protocols: ["est"], subject: "bound.example.com" }, "test");
    const wrongSubject = await enroll("/simpleenroll", other.body, ["-u", `${bound.id}:${bound.secret}`]);
    expect(wrongSubject.status).toBe(403);
    expect(wrongSubject.body.toString()).toContain("bound to subject bound.example.com");
    const right = makeCsr(env.dir, "otp3", { subject: "/CN=bound.example.com" });
    expect((await enroll("/simpleenroll", right.body, ["-u", `${bound.id}:${bound.secret}`])).status).toBe(200);

    const forOtherProfile = await secrets.mint({ profile: "tls-client", protocols: ["est"] }, "test");
    expect((await enroll("/simpleenroll", right.body, ["-u", `${forOtherProfile.id}:${forOtherProfile.secret}`])).status).toBe(401);
  });

  it("bad input is a clear 4xx: not base64, not a CSR, wrong media type, bad signature, too large", async () => {
    const bad = join(env.dir, "bad.txt");
    writeFileSync(bad, "this is *not* base64!");
    const notB64 = await enroll("/simpleenroll", bad, basicUser);
    expect(notB64.status).toBe(400);
    expect(notB64.body.toString()).toContain("not base64");

    writeFileSync(bad, Buffer.from("hello world, not DER at all").toString("base64"));
    expect((await enroll("/simpleenroll", bad, basicUser)).status).toBe(400);

    const csr = makeCsr(env.dir, "media", { subject: "/CN=media.example.com" });
    const media = await curl(env, [...basicUser, "-H", "Content-Type: text/plain", "--data-binary", `@${csr.body}`, `${env.base}/simpleenroll`]);
    expect(media.status).toBe(415);

    const der = Buffer.from(readFileSync(csr.body, "utf8").replace(/\s+/g, ""), "base64");
    der[der.length - 3] ^= 0x01; // inside the signature
    writeFileSync(bad, der.toString("base64"));
    const sig = await enroll("/simpleenroll", bad, basicUser);
    expect(sig.status).toBe(400);
    expect(sig.headers["x-error-code"]).toBe("RA_ERR_BAD_CSR_SIGNATURE");

    writeFileSync(bad, "A".repeat(64 * 1024));
    expect((await enroll("/simpleenroll", bad, basicUser)).status).toBe(413);
    // The server is still fine.
    expect((await curl(env, [`${env.base}/cacerts`])).status).toBe(200);
  });

  it("policy rejections are a 403 with the reason in plain text", async () => {
    const csr = makeCsr(env.dir, "outside", { subject: "/CN=host.not-allowed.org", sans: "DNS:host.not-allowed.org" });
    const r = await enroll("/simpleenroll", csr.body, basicUser);
    expect(r.status).toBe(403);
    expect(r.headers["content-type"]).toContain("text/plain");
    expect(r.body.toString()).toContain("RA_ERR_NAME_NOT_ALLOWED");
  });
});

describe("EST pending approvals", () => {
  it("202 with Retry-After, the same request later gets the certificate once approved", async () => {
    const csr = makeCsr(env.dir, "pend1", { subject: "/CN=pend1.example.com" });
    const first = await enroll("/approve/simpleenroll", csr.body, basicUser);
    expect(first.status).toBe(202);
    expect(first.headers["retry-after"]).toBe("7");
    const requestId = /request (\S+) is pending/.exec(first.body.toString())![1];
    expect((await enroll("/approve/simpleenroll", csr.body, basicUser)).status).toBe(202);
    const approve = await curl(env, ["-H", `Authorization: Bearer ${env.t.token}`, "-H", "Content-Type: application/json", "--data", "{}", `${env.adminBase}/approvals/${requestId}/approve`]);
    expect(approve.status, approve.body.toString()).toBe(200);
    const later = await enroll("/approve/simpleenroll", csr.body, basicUser);
    expect(later.status).toBe(200);
    await issuedCert("pend1", later.body);
  });

  it("a rejected request is answered with the rejection", async () => {
    const csr = makeCsr(env.dir, "pend2", { subject: "/CN=pend2.example.com" });
    const first = await enroll("/approve/simpleenroll", csr.body, basicUser);
    const requestId = /request (\S+) is pending/.exec(first.body.toString())![1];
    await curl(env, ["-H", `Authorization: Bearer ${env.t.token}`, "-H", "Content-Type: application/json", "--data", '{"reason":"unknown device"}', `${env.adminBase}/approvals/${requestId}/reject`]);
    const later = await enroll("/approve/simpleenroll", csr.body, basicUser);
    expect(later.status).toBe(403);
    expect(later.body.toString()).toContain("unknown device");
  });
});
