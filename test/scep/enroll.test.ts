import { execFile } from "node:child_process";
import { createHash, createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { normalizeSerial, serialBytes } from "../../src/ca/serial.js";
import { makeCsr } from "../helpers/csr.js";
import { openssl, opensslAsync } from "../helpers/openssl.js";
import { buildPkiMessage, openCertRep } from "../helpers/scep-client.js";
import { scepEnv, STATIC_CHALLENGE, type ScepEnv } from "./setup.js";

let env: ScepEnv;
/** Each endpoint has its own RA: path → RA certificate. */
const raCerts = new Map<string, Uint8Array>();
beforeAll(async () => {
  env = await scepEnv();
  for (const p of ["/scep", "/scep/legacy", "/scep/approve", "/scep/mdm", "/scep/des"]) raCerts.set(p, (await raOf(p))[0]);
});
afterAll(async () => {
  await env?.close();
});

/** GetCACert: the certificates in order (RA first), read by OpenSSL. */
async function raOf(path: string): Promise<Uint8Array[]> {
  const res = await fetch(`${env.http}${path}?operation=GetCACert`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/x-x509-ca-ra-cert");
  const p7 = join(env.dir, `cacert-${Math.random().toString(36).slice(2)}.p7`);
  writeFileSync(p7, Buffer.from(await res.arrayBuffer()));
  const pem = openssl(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs"]);
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new Uint8Array(new X509Certificate(b).raw));
}

interface Client {
  key: string;
  csrDer: Uint8Array;
  signerCert: Uint8Array;
}

/** An RSA key, a CSR with a challenge (signed with SHA-256, or SHA-1 when asked), and the self-signed certificate that signs the SCEP message. */
function client(name: string, o: { subject?: string; challenge?: string; sans?: string; key?: string; csrSha1?: boolean } = {}): Client {
  const csr = makeCsr(env.dir, name, { subject: o.subject ?? `/CN=${name}.example.com`, sans: o.sans, key: o.key, keyKind: "rsa-2048", challengePassword: o.challenge });
  const self = join(env.dir, `${name}-self.pem`);
  openssl(["req", "-x509", "-new", "-key", csr.key, "-subj", `/CN=${name}-scep-signer`, "-days", "1", "-out", self]);
  let csrDer = new Uint8Array(Buffer.from(readFileSync(csr.body, "utf8").replace(/\s+/g, ""), "base64"));
  if (o.csrSha1) {
    // The same request (makeCsr's config) signed with SHA-1, as old devices and `pki --digest sha1` send it.
    const out = join(env.dir, `${name}-sha1.csr.der`);
    openssl(["req", "-new", "-sha1", "-config", join(env.dir, `${name}.cnf`), "-key", csr.key, "-outform", "DER", "-out", out]);
    csrDer = new Uint8Array(readFileSync(out));
  }
  return { key: csr.key, csrDer, signerCert: new Uint8Array(new X509Certificate(readFileSync(self)).raw) };
}

interface Sent {
  transactionId: string;
  senderNonce: Uint8Array;
  rep: ReturnType<typeof openCertRep>;
  status: number;
}

async function send(c: Client, o: { messageType?: number; content?: Uint8Array; transactionId?: string; path?: string; get?: boolean; contentEncryption?: string; digest?: "sha1" | "sha256" | "sha512"; signer?: { cert: Uint8Array; key: string } } = {}): Promise<Sent> {
  const transactionId = o.transactionId ?? createHash("sha256").update(randomBytes(16)).digest("hex");
  const senderNonce = new Uint8Array(randomBytes(16));
  const signer = o.signer ?? { cert: c.signerCert, key: c.key };
  const path = o.path ?? "/scep";
  const raCert = raCerts.get(path)!;
  const der = buildPkiMessage({
    messageType: o.messageType ?? 19, transactionId, senderNonce, content: o.content ?? c.csrDer, signerCert: signer.cert,
    signerKey: createPrivateKey(readFileSync(signer.key)), recipientCert: raCert, digest: o.digest ?? "sha256", contentEncryption: o.contentEncryption ?? "aes-256-cbc",
  });
  const res = o.get
    ? await fetch(`${env.http}${path}?operation=PKIOperation&message=${encodeURIComponent(Buffer.from(der).toString("base64"))}`)
    : await fetch(`${env.http}${path}?operation=PKIOperation`, { method: "POST", headers: { "Content-Type": "application/x-pki-message" }, body: Buffer.from(der) });
  const body = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) return { transactionId, senderNonce, status: res.status, rep: undefined as unknown as Sent["rep"] };
  expect(res.headers.get("content-type")).toBe("application/x-pki-message");
  return { transactionId, senderNonce, status: res.status, rep: openCertRep(body, { recipientKey: createPrivateKey(readFileSync(signer.key)), raCert, singleDes: o.contentEncryption === "des-cbc" }) };
}

async function verified(cert: Uint8Array, name: string): Promise<X509Certificate> {
  const pem = join(env.dir, `${name}.pem`);
  writeFileSync(pem, new X509Certificate(cert).toString());
  expect((await opensslAsync(["verify", "-CAfile", env.rootPem, "-untrusted", env.issuingPem, pem])).out).toContain(": OK");
  return new X509Certificate(cert);
}

const scepEvents = () => env.t.gw.store.queryAudit({ type: "scep.request", limit: 1000 });

describe("SCEP distribution", () => {
  it("GetCACaps advertises the modern set; legacy algorithms only where switched on", async () => {
    const caps = await (await fetch(`${env.http}/scep?operation=GetCACaps`)).text();
    for (const c of ["POSTPKIOperation", "SHA-256", "SHA-512", "AES", "SCEPStandard", "Renewal"]) expect(caps).toContain(c);
    expect(caps).not.toMatch(/SHA-1|DES/);
    expect(caps).not.toContain("GetNextCACert");
    const legacy = await (await fetch(`${env.http}/scep/legacy?operation=GetCACaps`)).text();
    expect(legacy).toContain("SHA-1");
    expect(legacy).toContain("DES3");
  });

  it("GetNextCACert: the rollover CA certificate in a SignedData signed by the RA, only where one is configured", async () => {
    expect((await fetch(`${env.http}/scep?operation=GetNextCACert`)).status).toBe(404);
    expect(await (await fetch(`${env.http}/scep/legacy?operation=GetCACaps`)).text()).toContain("GetNextCACert");
    const res = await fetch(`${env.http}/scep/legacy?operation=GetNextCACert`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-x509-next-ca-cert");
    const signed = join(env.dir, "next.p7");
    writeFileSync(signed, Buffer.from(await res.arrayBuffer()));
    const inner = join(env.dir, "next-inner.p7");
    const v = await opensslAsync(["cms", "-verify", "-inform", "DER", "-in", signed, "-CAfile", env.rootPem, "-purpose", "any", "-binary", "-out", inner]);
    expect(v.code, v.out).toBe(0);
    const certs = openssl(["pkcs7", "-inform", "DER", "-in", inner, "-print_certs"]);
    expect(certs).toContain("Next Issuing CA");
    expect(certs).toContain(readFileSync(env.nextCaCert, "utf8").trim().split("\n")[1]);
  });

  it("GetCACert is the RA certificate then the CA chain; legacy paths answer too", async () => {
    const certs = await raOf("/scep");
    expect(certs.length).toBe(3);
    const [ra, ca] = certs.map((d) => new X509Certificate(d));
    expect(ra.subject).toContain("SCEP RA default");
    expect(ra.publicKey.asymmetricKeyType).toBe("rsa");
    expect(ra.checkIssued(ca)).toBe(true);
    expect(ca.subject).toContain("Dev Issuing CA");
    for (const p of ["/cgi-bin/pkiclient.exe", "/certsrv/mscep/mscep.dll"]) expect((await raOf(p))[0]).toEqual(certs[0]);
    expect((await fetch(`${env.http}/scep/nope?operation=GetCACaps`)).status).toBe(404);
    expect((await fetch(`${env.http}/scep?operation=Frobnicate`)).status).toBe(400);
  });
});

describe("SCEP PKCSReq", () => {
  it("static challenge over POST: SUCCESS, the certificate verifies, nonces and transactionID echoed", async () => {
    const c = client("s1", { challenge: STATIC_CHALLENGE, sans: "DNS:s1.example.com" });
    const r = await send(c);
    expect(r.rep.status).toBe("SUCCESS");
    expect(r.rep.transactionId).toBe(r.transactionId);
    expect(Buffer.from(r.rep.recipientNonce).equals(Buffer.from(r.senderNonce))).toBe(true);
    const cert = await verified(r.rep.certs[0], "s1");
    expect(cert.subject).toContain("CN=s1.example.com");
    const rec = (await env.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec.protocol).toBe("scep");
    const ev = (await scepEvents()).find((e) => e.data.transactionId === r.transactionId)!;
    expect(ev.data).toMatchObject({ decision: "SUCCESS", challengeKind: "static", messageType: "PKCSReq" });
    expect(JSON.stringify(await scepEvents())).not.toContain(STATIC_CHALLENGE);
  });

  it("PKIOperation over GET works the same", async () => {
    const r = await send(client("g1", { challenge: STATIC_CHALLENGE }), { get: true });
    expect(r.rep.status).toBe("SUCCESS");
  });

  it("one-time challenge: accepted once, refused the second time; an expired one is refused", async () => {
    const otp = await env.challenge();
    expect((await send(client("o1", { challenge: otp }))).rep.status).toBe("SUCCESS");
    const again = await send(client("o2", { challenge: otp }));
    expect(again.rep).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
    const ev = (await scepEvents()).find((e) => e.data.transactionId === again.transactionId)!;
    expect(String(ev.data.reason)).toContain("already used");
    expect(JSON.stringify(ev)).not.toContain(otp);

    const expired = "expired-Challenge-9999";
    await env.t.gw.store.insertSecret({ id: "exp-1", profile: "device", protocols: ["scep"], secretHash: createHash("sha256").update(expired).digest("hex"), createdAt: "2020-01-01T00:00:00.000Z", expiresAt: "2020-01-01T01:00:00.000Z" });
    expect((await send(client("o3", { challenge: expired }))).rep).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
  });

  it("a retry of the same transaction from the same key returns the same certificate", async () => {
    const c = client("retry1", { challenge: await env.challenge() });
    const first = await send(c);
    expect(first.rep.status).toBe("SUCCESS");
    const second = await send(c, { transactionId: first.transactionId });
    expect(second.rep.status).toBe("SUCCESS");
    expect(Buffer.from(second.rep.certs[0]).equals(Buffer.from(first.rep.certs[0]))).toBe(true);
    expect((await env.t.gw.store.findCertificates({ name: "retry1.example.com" })).length).toBe(1);
  });

  it("wrong challenge, foreign signer key, algorithms and garbage are refused cleanly", async () => {
    expect((await send(client("w1", { challenge: "not-the-challenge" }))).rep).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
    // Signed with another key than the CSR's.
    const c = client("w2", { challenge: STATIC_CHALLENGE });
    const other = client("w2-other");
    expect((await send(c, { signer: { cert: other.signerCert, key: other.key } })).rep).toMatchObject({ status: "FAILURE", failInfo: "badMessageCheck" });
    // DES never; 3DES and SHA-1 only on the legacy endpoint.
    expect((await send(client("w3", { challenge: STATIC_CHALLENGE }), { contentEncryption: "des-cbc" })).rep).toMatchObject({ status: "FAILURE", failInfo: "badAlg" });
    expect((await send(client("w4", { challenge: STATIC_CHALLENGE }), { contentEncryption: "des-ede3-cbc" })).rep).toMatchObject({ status: "FAILURE", failInfo: "badAlg" });
    expect((await send(client("w5", { challenge: STATIC_CHALLENGE }), { digest: "sha1" })).rep).toMatchObject({ status: "FAILURE", failInfo: "badAlg" });
    expect((await send(client("w6", { challenge: STATIC_CHALLENGE }), { contentEncryption: "des-ede3-cbc", digest: "sha1", path: "/scep/legacy" })).rep.status).toBe("SUCCESS");
    // Garbage: no CertRep can name the transaction, so HTTP 400.
    const garbage = await fetch(`${env.http}/scep?operation=PKIOperation`, { method: "POST", body: randomBytes(300) });
    expect(garbage.status).toBe(400);
    expect((await fetch(`${env.http}/scep?operation=PKIOperation&message=%%%not-base64`)).status).toBe(400);
    expect((await fetch(`${env.http}/scep?operation=PKIOperation&message=${Buffer.from("hello").toString("base64")}`)).status).toBe(400);
    expect((await send(client("w7", { challenge: STATIC_CHALLENGE }))).rep.status).toBe("SUCCESS"); // still serving
  });
});

describe("SCEP RenewalReq, GetCert, GetCRL", () => {
  it("renews when signed with the current certificate; refuses a foreign signer", async () => {
    const c = client("r1", { challenge: STATIC_CHALLENGE });
    const first = await send(c);
    const oldCert = first.rep.certs[0];
    const oldPem = join(env.dir, "r1-old.pem");
    writeFileSync(oldPem, new X509Certificate(oldCert).toString());
    const renew = client("r1-new", { subject: "/CN=r1.example.com" });
    const r = await send(renew, { messageType: 17, signer: { cert: oldCert, key: c.key } });
    expect(r.rep.status).toBe("SUCCESS");
    const renewed = await verified(r.rep.certs[0], "r1-new");
    const oldRec = (await env.t.gw.store.getCertificate(normalizeSerial(new X509Certificate(oldCert).serialNumber)))!;
    expect(oldRec.replacedBy).toBe(normalizeSerial(renewed.serialNumber));

    const foreign = client("r2");
    expect((await send(renew, { messageType: 17, signer: { cert: foreign.signerCert, key: foreign.key } })).rep).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
  });

  it("GetCert returns an issued certificate by issuer and serial; GetCRL the current CRL", async () => {
    const c = client("gc1", { challenge: STATIC_CHALLENGE });
    const issued = new X509Certificate((await send(c)).rep.certs[0]);
    const issuer = env.t.gw.cas.issuing[0];
    // IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }
    const issuerAndSerial = (serialHex: string) => derSequence(issuer.subjectDer, derTlv(0x02, serialBytes(serialHex)));
    const got = await send(c, { messageType: 21, content: issuerAndSerial(issued.serialNumber) });
    expect(got.rep.status).toBe("SUCCESS");
    expect(Buffer.from(got.rep.certs[0]).equals(issued.raw)).toBe(true);
    expect((await send(c, { messageType: 21, content: issuerAndSerial("01020304") })).rep).toMatchObject({ status: "FAILURE", failInfo: "badCertId" });
    const crl = await send(c, { messageType: 22, content: issuerAndSerial(issued.serialNumber) });
    expect(crl.rep.status).toBe("SUCCESS");
    const crlFile = join(env.dir, "scep.crl");
    writeFileSync(crlFile, crl.rep.crl!);
    expect((await opensslAsync(["crl", "-inform", "DER", "-in", crlFile, "-noout", "-CAfile", env.issuingPem])).out).toContain("verify OK");
  });
});

describe("SCEP approvals and dynamic challenges", () => {
  it("PENDING, then SUCCESS on CertPoll once an operator approved", async () => {
    const c = client("p1", { challenge: await env.challenge({ profile: "scep-approval" }) });
    const first = await send(c, { path: "/scep/approve" });
    expect(first.rep.status).toBe("PENDING");
    const ias = new Uint8Array([0x30, 0x00]); // IssuerAndSubject content is not used to find the transaction
    expect((await send(c, { path: "/scep/approve", messageType: 20, transactionId: first.transactionId, content: ias })).rep.status).toBe("PENDING");
    const pending = (await env.t.gw.store.listRequests("pending")).find((r) => r.protocol === "scep")!;
    await env.t.gw.enrollment.approve(pending.id, "admin:test");
    const polled = await send(c, { path: "/scep/approve", messageType: 20, transactionId: first.transactionId, content: ias });
    expect(polled.rep.status).toBe("SUCCESS");
    await verified(polled.rep.certs[0], "p1");
  });

  it("webhook challenges: allowed once, with the transaction and names sent to the MDM; denied ones fail", async () => {
    env.webhook.allowed.add("mdm-dynamic-1");
    const c = client("m1", { challenge: "mdm-dynamic-1", sans: "DNS:m1.example.com" });
    const ok = await send(c, { path: "/scep/mdm" });
    expect(ok.rep.status).toBe("SUCCESS");
    const call = env.webhook.calls.find((x) => x.transactionId === ok.transactionId)!;
    expect(call).toMatchObject({ endpoint: "mdm", challenge: "mdm-dynamic-1", commonName: "m1.example.com" });
    expect(String(call.signature)).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect((await send(client("m2", { challenge: "mdm-dynamic-1" }), { path: "/scep/mdm" })).rep).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
    expect((await send(client("m3", { challenge: "unknown-to-mdm" }), { path: "/scep/mdm" })).rep).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
  });

  it("the NDES-style admin page mints a one-time challenge behind the admin token", async () => {
    // curl, as NDES scripts do (Basic with the admin token as password); it trusts the dev root.
    const html = await new Promise<string>((resolve, reject) => execFile("curl", ["-sS", "--cacert", env.rootPem, "-u", `admin:${env.t.token}`, `https://localhost:${env.servers.httpsPort}/certsrv/mscep_admin/`], (e, out) => (e ? reject(e) : resolve(out))));
    const m = /The enrollment challenge password is: <B> (\S+) <\/B>/.exec(html);
    expect(m, html).not.toBeNull();
    expect((await send(client("n1", { challenge: m![1] }))).rep.status).toBe("SUCCESS");
    const denied = await new Promise<string>((resolve) => execFile("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", env.rootPem, `https://localhost:${env.servers.httpsPort}/certsrv/mscep_admin/`], (_e, out) => resolve(out)));
    expect(denied).toBe("401");
  });
});

describe("SCEP legacy algorithms and single DES", () => {
  const used = async (challenge: string) => (await env.secrets.findBySecret(challenge, "scep"))?.usedAt;
  const eventOf = async (r: Sent) => (await scepEvents()).find((e) => e.data.transactionId === r.transactionId)!;

  it("GetCACaps of an allowSingleDes endpoint lists SHA-1 and DES3, never DES", async () => {
    const caps = (await (await fetch(`${env.http}/scep/des?operation=GetCACaps`)).text()).split("\n");
    expect(caps).toContain("SHA-1");
    expect(caps).toContain("DES3");
    expect(caps).not.toContain("DES");
  });

  it("a CSR signed with SHA-1 is badAlg where legacyAlgorithms is off (challenge unused) and issues where it is on", async () => {
    const challenge = await env.challenge();
    const c = client("sha1csr", { challenge, csrSha1: true });
    expect(openssl(["req", "-inform", "DER", "-in", join(env.dir, "sha1csr-sha1.csr.der"), "-noout", "-text"])).toMatch(/Signature Algorithm: sha1WithRSAEncryption/);
    const refused = await send(c);
    expect(refused.rep).toMatchObject({ status: "FAILURE", failInfo: "badAlg" });
    expect(String((await eventOf(refused)).data.reason)).toMatch(/CSR signature algorithm .*SHA-1.* is not accepted/);
    expect(await used(challenge)).toBeUndefined();

    const ok = await send(c, { path: "/scep/legacy" });
    expect(ok.rep.status).toBe("SUCCESS");
    await verified(ok.rep.certs[0], "sha1csr");
    expect(await used(challenge)).toBeDefined();
  });

  it("single DES on the allowSingleDes endpoint with a one-time challenge: SUCCESS, a DES reply signed with SHA-1, audited as single DES", async () => {
    const challenge = await env.challenge();
    const r = await send(client("des1", { challenge }), { path: "/scep/des", contentEncryption: "des-cbc", digest: "sha1" });
    expect(r.rep).toMatchObject({ status: "SUCCESS", digest: "sha1", contentEncryption: "des-cbc" });
    await verified(r.rep.certs[0], "des1");
    expect((await eventOf(r)).data).toMatchObject({ endpoint: "des", decision: "SUCCESS", challengeKind: "one-time", digest: "sha1", contentEncryption: "des-cbc", singleDes: true });
    // AES on the same endpoint is not flagged.
    const aes = await send(client("des2", { challenge: await env.challenge() }), { path: "/scep/des" });
    expect(aes.rep).toMatchObject({ status: "SUCCESS", contentEncryption: "aes-256-cbc" });
    expect((await eventOf(aes)).data.singleDes).toBeUndefined();
  });

  it("single DES without the opt-in is badAlg and leaves the one-time challenge usable, which then enrolls on the allowSingleDes endpoint", async () => {
    const challenge = await env.challenge();
    const c = client("des3", { challenge });
    for (const path of ["/scep", "/scep/legacy"]) {
      const r = await send(c, { path, contentEncryption: "des-cbc", digest: "sha1" });
      expect(r.rep, path).toMatchObject({ status: "FAILURE", failInfo: "badAlg" });
      expect((await eventOf(r)).data).toMatchObject({ decision: "FAILURE", failInfo: "badAlg" });
      expect(await used(challenge), path).toBeUndefined();
    }
    const ok = await send(c, { path: "/scep/des", contentEncryption: "des-cbc", digest: "sha1" });
    expect(ok.rep.status).toBe("SUCCESS");
    expect(await used(challenge)).toBeDefined();
  });
});
