// EST over real HTTPS with ML-DSA: simpleenroll and simplereenroll (TLS client authentication with the ML-DSA
// certificate itself), /cacerts of an ML-DSA CA, /csrattrs naming the ML-DSA OID, serverkeygen of an ML-DSA key;
// and what strongSwan's pki makes of an ML-DSA CA.
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { request } from "node:https";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ml_dsa44 } from "@noble/post-quantum/ml-dsa.js";
import { ContentInfo, SignedData } from "@peculiar/asn1-cms";
import { AsnConvert } from "@peculiar/asn1-schema";
import { SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeSerial } from "../../src/ca/serial.js";
import { pki } from "../est/interop/pki.js";
import { makeBootstrapPki, pkcs7Certs, type Bootstrap } from "../est/setup.js";
import { tempDir } from "../helpers/openssl.js";
import { mlDsaCsr, type Level } from "../helpers/ml-dsa.js";
import { expectSignedBy, pqEnv, pqProfile, type PqEnv } from "./protocol-env.js";

const USER = { name: "pq-device", password: "pq-Device-secret-1" };
let env: PqEnv;
let boot: Bootstrap;
beforeAll(async () => {
  boot = makeBootstrapPki(tempDir("est-pq-boot-"));
  const auth = { users: [USER], trustAnchors: [boot.caCert] };
  env = await pqEnv({
    est: {
      labels: [
        { name: "pq-ec", profile: "pq-ec", auth },
        { name: "pq-mixed", profile: "pq-mixed", auth },
        { name: "pq-full", profile: "pq-full", auth },
        { name: "pq-87", profile: "pq-87", auth },
      ],
      defaultLabel: "pq-mixed", // what strongSwan's pki reaches (it names no label)
    },
  }, { "pq-87": pqProfile("pq-87", "mixed-issuing", "[87, 65]") });
}, 120_000);
afterAll(async () => env?.close());

interface Answer { status: number; type: string; body: Buffer }

/** One EST request over HTTPS (the EC dev root is the TLS anchor); Basic auth unless a client certificate is given. */
function est(label: string, op: string, o: { body?: string; cert?: string | Buffer; key?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = o.cert ? {} : { authorization: `Basic ${Buffer.from(`${USER.name}:${USER.password}`).toString("base64")}` };
    if (o.body) headers["content-type"] = "application/pkcs10";
    const req = request(`https://localhost:${env.servers.httpsPort}/.well-known/est/${label}/${op}`, {
      method: o.body ? "POST" : "GET", headers, ca: readFileSync(env.rootPem), cert: o.cert, key: o.key,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

/** The certificates of a base64 certs-only PKCS#7 (RFC 7030 §4.1.3), decoded with @peculiar/asn1-cms. */
function certsOnly(a: Answer): X509Certificate[] {
  expect(a.status, a.body.toString()).toBe(200);
  const ci = AsnConvert.parse(Buffer.from(a.body.toString("latin1").replace(/\s+/g, ""), "base64"), ContentInfo);
  expect(ci.contentType).toBe("1.2.840.113549.1.7.2");
  const sd = AsnConvert.parse(ci.content, SignedData);
  expect(sd.signerInfos).toHaveLength(0);
  return (sd.certificates ?? []).map((c) => new X509Certificate(Buffer.from(AsnConvert.serialize(c.certificate!))));
}

const b64 = (der: Uint8Array) => Buffer.from(der).toString("base64");
const spki = (c: X509Certificate) => c.publicKey.export({ type: "spki", format: "der" });

async function enroll(label: string, level: Level, name: string) {
  const csr = mlDsaCsr({ level, cn: name, dns: [name] });
  const a = await est(label, "simpleenroll", { body: b64(csr.der) });
  expect(a.type).toBe("application/pkcs7-mime; smime-type=certs-only");
  const certs = certsOnly(a);
  expect(certs).toHaveLength(1);
  expect(spki(certs[0]).equals(csr.keys.publicKey.export({ type: "spki", format: "der" }))).toBe(true);
  return { csr, cert: certs[0], answer: a };
}

describe("EST simpleenroll with an ML-DSA CSR", () => {
  it("ML-DSA-44 under the EC issuing CA; the system OpenSSL reads the PKCS#7", async () => {
    const { cert, answer } = await enroll("pq-ec", 44, "est-ec.example.com");
    expectSignedBy(cert, env.caCert("dev-issuing"));
    const p7 = await pkcs7Certs(env.dir, "est-ec", answer.body);
    expect(p7.text).toContain("subject=CN = est-ec.example.com");
    expect((await env.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))).toMatchObject({ protocol: "est", profile: "pq-ec" });
  });

  it("ML-DSA-65 under the ML-DSA issuing CA of the EC root, and ML-DSA-87 under the all-ML-DSA CA", async () => {
    const mixed = await enroll("pq-mixed", 65, "est-mixed.example.com");
    expectSignedBy(mixed.cert, env.caCert("mixed-issuing"));
    const full = await enroll("pq-full", 87, "est-full.example.com");
    expectSignedBy(full.cert, env.caCert("pq-issuing"));
  });

  it("a level the profile does not allow and a bad self-signature: 4xx with the reason, nothing issued", async () => {
    const wrongLevel = await est("pq-87", "simpleenroll", { body: b64(mlDsaCsr({ level: 44, cn: "est-44.example.com" }).der) });
    expect(wrongLevel.status).toBe(403);
    expect(wrongLevel.body.toString()).toMatch(/ML-DSA-44/);
    const badSig = await est("pq-mixed", "simpleenroll", { body: b64(mlDsaCsr({ level: 65, cn: "est-bad.example.com", broken: "signature" }).der) });
    expect(badSig.status).toBe(400);
    expect(badSig.body.toString()).toMatch(/RA_ERR_BAD_CSR_SIGNATURE/);
  });
});

describe("EST simplereenroll with the ML-DSA certificate as TLS client certificate", () => {
  it("renews an ML-DSA-65 certificate of the mixed CA to a new ML-DSA key, same subject", async () => {
    const first = await enroll("pq-mixed", 65, "est-renew.example.com");
    const chain = first.cert.toString() + readFileSync(env.caPem("mixed-issuing"), "utf8");
    const key = first.csr.keys.privateKey.export({ type: "pkcs8", format: "pem" });
    const next = mlDsaCsr({ level: 65, cn: "est-renew.example.com", dns: ["est-renew.example.com"] });
    const a = await est("pq-mixed", "simplereenroll", { body: b64(next.der), cert: chain, key });
    const [renewed] = certsOnly(a);
    expect(renewed.subject).toBe(first.cert.subject);
    expect(renewed.serialNumber).not.toBe(first.cert.serialNumber);
    expect(spki(renewed).equals(next.keys.publicKey.export({ type: "spki", format: "der" }))).toBe(true);
    expectSignedBy(renewed, env.caCert("mixed-issuing"));
    const rec = await env.t.gw.store.getCertificate(normalizeSerial(renewed.serialNumber));
    expect(rec?.renewalOf).toBe(normalizeSerial(first.cert.serialNumber));
  });
});

describe("EST /cacerts and /csrattrs for ML-DSA", () => {
  it("/cacerts of the mixed label: the ML-DSA issuing CA then its EC root", async () => {
    const certs = certsOnly(await est("pq-mixed", "cacerts"));
    expect(certs.map((c) => c.raw.toString("hex"))).toEqual([env.caCert("mixed-issuing").raw.toString("hex"), env.caCert("dev-root").raw.toString("hex")]);
    expectSignedBy(certs[0], certs[1]);
  });

  it("/cacerts of the all-ML-DSA label: ML-DSA-65 issuing and ML-DSA-87 root", async () => {
    const certs = certsOnly(await est("pq-full", "cacerts"));
    expect(certs.map((c) => c.publicKey.asymmetricKeyType)).toEqual(["ml-dsa-65", "ml-dsa-87"]);
    expectSignedBy(certs[0], certs[1]);
  });

  it("/csrattrs names the first allowed ML-DSA level's OID, alone (one OID is key and signature algorithm)", async () => {
    for (const [label, level] of [["pq-mixed", 44], ["pq-87", 87]] as const) {
      const a = await est(label, "csrattrs");
      expect(a.status).toBe(200);
      expect(a.type).toBe("application/csrattrs");
      const der = Buffer.from(a.body.toString("latin1").replace(/\s+/g, ""), "base64");
      // SEQUENCE { OBJECT IDENTIFIER 2.16.840.1.101.3.4.3.17 / .19 }
      expect(der.toString("hex")).toBe(`300b0609608648016503040${level === 44 ? "311" : "313"}`);
    }
  });
});

describe("EST serverkeygen with an ML-DSA profile", () => {
  it("returns an ML-DSA-44 key in PKCS#8 seed form whose public key is the certificate's", async () => {
    const csr = mlDsaCsr({ level: 65, cn: "est-skg.example.com", dns: ["est-skg.example.com"] });
    const a = await est("pq-mixed", "serverkeygen", { body: b64(csr.der), cert: readFileSync(boot.deviceCert), key: readFileSync(boot.deviceKey) });
    expect(a.status, a.body.toString()).toBe(200);
    const boundary = /boundary="?([^";]+)"?/.exec(a.type)?.[1];
    expect(boundary, a.type).toBeDefined();
    const parts = a.body.toString("latin1").split(`--${boundary}`).slice(1, -1).map((chunk) => {
      const [head, ...rest] = chunk.replace(/^\r\n/, "").split("\r\n\r\n");
      return { head, der: Buffer.from(rest.join("").replace(/\s+/g, ""), "base64") };
    });
    expect(parts[0].head).toMatch(/content-type: application\/pkcs8/i);
    const pkcs8 = parts[0].der;
    // OneAsymmetricKey { 0, { id-ml-dsa-44 }, OCTET STRING { seed [0] IMPLICIT OCTET STRING (32) } } (RFC 9881 §6)
    expect(pkcs8.subarray(0, 22).toString("hex")).toBe("3034020100300b060960864801650304031104228020");
    expect(pkcs8).toHaveLength(54);
    const seed = pkcs8.subarray(22);
    const [cert] = certsOnly({ status: 200, type: "", body: Buffer.from(parts[1].der.toString("base64")) });
    expectSignedBy(cert, env.caCert("mixed-issuing"));
    // The key node:crypto reads from the PKCS#8 and the one noble derives from the seed are both the certificate's.
    expect(spki(cert).equals(createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).export({ type: "spki", format: "der" }))).toBe(true);
    const certKey = AsnConvert.parse(spki(cert), SubjectPublicKeyInfo).subjectPublicKey;
    expect(Buffer.from(ml_dsa44.keygen(new Uint8Array(seed)).publicKey).equals(Buffer.from(certKey))).toBe(true);
  });
});

// strongSwan's X.509 parser knows no ML-DSA (and `pki --gen` makes no ML-DSA keys): recorded so a strongSwan that
// learns it shows up as a failing test.
describe("strongSwan pki 5.9.8 and an ML-DSA CA", () => {
  it("--estca keeps the EC root and drops the ML-DSA issuing CA it cannot parse", async () => {
    const d = tempDir("est-sw-pq-");
    const r = await pki(["--estca", "--url", `https://127.0.0.1:${env.servers.httpsPort}`, "--cacert", env.rootPem, "--caout", join(d, "ca.der")]);
    expect(r.log).toContain("unsupported public key algorithm");
    expect(r.log).toContain("Root CA equals trusted TLS Root CA");
    expect(r.log).not.toMatch(/Sub CA cert/);
    expect(readFileSync(join(d, "ca.der")).equals(env.caCert("dev-root").raw)).toBe(true);
    expect(existsSync(join(d, "ca-1.der"))).toBe(false);
  }, 60_000);
});
