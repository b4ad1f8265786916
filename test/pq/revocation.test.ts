// Certificates, CRLs and OCSP responses of ML-DSA-44/65/87 CAs, fetched over HTTP from one gateway that also runs a
// classical (ECDSA) CA, and verified with @noble/post-quantum: code other than the OpenSSL that signed them.
import { createHash, X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificateList } from "@peculiar/asn1-x509";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ML_DSA_OIDS, ML_DSA_SIZES } from "../../src/asn1/algorithms.js";
import { caDirsUnder, derToPem } from "../../src/ca/authority.js";
import { initCaPair, type KeyAlgorithmName } from "../../src/ca/init.js";
import { OcspResponder } from "../../src/revocation/ocsp.js";
import type { RunningServers } from "../../src/server/listen.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { mlDsaCsr, pqProfile } from "../helpers/ml-dsa.js";
import { makeCsr, openssl, opensslStatus, tempDir } from "../helpers/openssl.js";
import { newSerial, ocspRequest, parseResponse } from "../revocation/ocsp-helpers.js";
import { flipBit, mlDsaPublicKey, signedParts, spkiOfCertificate, verifyWithNoble, type MlDsaLevel } from "./verify-independent.js";

const LEVELS: MlDsaLevel[] = [44, 65, 87];
const ECDSA_SHA256 = "1.2.840.10045.4.3.2";
const OCSP_SIGNING = "1.3.6.1.5.5.7.3.9";

const profile = (level: MlDsaLevel) => pqProfile({ name: `pq-${level}`, issuer: `pq${level}-issuing` });

interface Issued { serial: string; der: Uint8Array; chain: Uint8Array[]; path: string }
interface CaUnderTest { name: string; good: Issued; revoked: Issued; issuingDer: Uint8Array; rootDer: Uint8Array }

let t: TestGateway;
let servers: RunningServers;
let base: string;
let dir: string;
const cas: Record<string, CaUnderTest> = {};

const pemDer = (pem: string) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ""), "base64"));

beforeAll(async () => {
  dir = tempDir();
  const casDir = join(dir, "cas");
  const httpBase = "http://127.0.0.1:8080";
  const pair = (prefix: string, keyAlgorithm: KeyAlgorithmName) => initCaPair({
    casDir, rootName: `${prefix}-root`, issuingName: `${prefix}-issuing`, rootSubject: `CN=${prefix} Root`, issuingSubject: `CN=${prefix} Issuing`, keyAlgorithm, httpBase,
  });
  await pair("ec", "ec-p256");
  for (const l of LEVELS) await pair(`pq${l}`, `ml-dsa-${l}`);
  // ec-issuing sorts first: it is the "default" issuer of the shipped tls-server profile.
  t = await testGateway({ cas: caDirsUnder(casDir).map((d) => ({ dir: d })), crl: { rebuildDelaySeconds: 0 } },
    Object.fromEntries(LEVELS.map((l) => [`pq-${l}`, profile(l)])));
  const app = (await appsFor(t.gw)).https;
  const auth = { authorization: `Bearer ${t.token}` };
  const enroll = async (profileName: string, csr: string, name: string): Promise<Issued> => {
    const res = await request(app).post("/admin/api/v1/enroll").set(auth).send({ profile: profileName, csr });
    if (res.status !== 201) throw new Error(`enroll ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    const path = join(dir, `${name}.pem`);
    writeFileSync(path, res.body.certificate);
    return { serial: res.body.serial, der: pemDer(res.body.certificate), chain: (res.body.chain as string[]).map(pemDer), path };
  };
  const revoke = async (serial: string) => {
    const res = await request(app).post(`/admin/api/v1/certificates/${serial}/revoke`).set(auth).send({ reason: "keyCompromise" });
    if (res.status !== 200) throw new Error(`revoke: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const track = async (name: string, good: Issued, revoked: Issued) => {
    await revoke(revoked.serial);
    const ca = t.gw.cas.get(`${name}-issuing`);
    cas[name] = { name, good, revoked, issuingDer: ca.certDer, rootDer: t.gw.cas.get(`${name}-root`).certDer };
    writeFileSync(join(dir, `${name}-issuing.pem`), derToPem(ca.certDer));
    writeFileSync(join(dir, `${name}-chain.pem`), derToPem(ca.certDer) + derToPem(ca.chain[0]));
  };
  for (const l of LEVELS) {
    const csr = (n: string) => mlDsaCsr({ level: l, cn: `${n}.example.com`, dns: [`${n}.example.com`] }).pem;
    await track(`pq${l}`, await enroll(`pq-${l}`, csr(`good${l}`), `pq${l}-good`), await enroll(`pq-${l}`, csr(`revoked${l}`), `pq${l}-revoked`));
  }
  const ecCsr = (n: string) => makeCsr(dir, n, { sans: [`DNS:${n}.example.com`] }).pem;
  await track("ec", await enroll("tls-server", ecCsr("ec-good"), "ec-good"), await enroll("tls-server", ecCsr("ec-revoked"), "ec-revoked"));
  await t.gw.crls.settled();
  const { startServers } = await import("../../src/server/listen.js");
  servers = await startServers(t.gw);
  base = `http://127.0.0.1:${servers.httpPort}`;
});

afterAll(async () => {
  await servers?.close();
  await t?.gw.close();
});

async function getCrl(name: string): Promise<Uint8Array> {
  const res = await fetch(`${base}/crl/${name}-issuing.crl`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/pkix-crl");
  return new Uint8Array(await res.arrayBuffer());
}

async function postOcsp(ca: CaUnderTest, serial: string): Promise<Uint8Array> {
  const res = await fetch(`${base}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: Buffer.from(ocspRequest(ca.issuingDer, [serial])) });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/ocsp-response");
  return new Uint8Array(await res.arrayBuffer());
}

function save(name: string, der: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, der);
  return p;
}

describe.each(LEVELS)("ML-DSA-%i CA", (level) => {
  const oid = ML_DSA_OIDS[level];
  const sigBytes = ML_DSA_SIZES[level].signature;

  it("certificates: the leaf and the CA certificate verify with noble; a flipped bit or another key does not", () => {
    const ca = cas[`pq${level}`];
    const caSpki = spkiOfCertificate(ca.issuingDer);
    expect(mlDsaPublicKey(caSpki)).toMatchObject({ level, hasParameters: false });
    expect(mlDsaPublicKey(caSpki).key.length).toBe(ML_DSA_SIZES[level].publicKey);
    const leaf = signedParts(ca.good.der, "certificate");
    expect(leaf.algorithm).toEqual({ oid, hasParameters: false });
    expect(leaf.signature.length).toBe(sigBytes);
    expect(verifyWithNoble(ca.good.der, "certificate", caSpki)).toBe(true);
    expect(verifyWithNoble(ca.issuingDer, "certificate", spkiOfCertificate(ca.rootDer))).toBe(true);
    expect(verifyWithNoble(ca.rootDer, "certificate", spkiOfCertificate(ca.rootDer))).toBe(true);
    // The answer's chain is the issuing CA then the root, exactly as loaded.
    expect(ca.good.chain.map((d) => Buffer.from(d).toString("hex"))).toEqual([ca.issuingDer, ca.rootDer].map((d) => Buffer.from(d).toString("hex")));

    expect(verifyWithNoble(flipBit(ca.good.der, leaf.signatureAt + 100), "certificate", caSpki)).toBe(false);
    expect(verifyWithNoble(flipBit(ca.good.der, leaf.tbsAt + leaf.tbs.length - 1), "certificate", caSpki)).toBe(false);
    expect(verifyWithNoble(ca.good.der, "certificate", spkiOfCertificate(ca.rootDer))).toBe(false); // the root's key
    // OpenSSL 3.0 prints the certificate, naming the algorithm by OID, but cannot decode the key (exit status 0).
    const x509 = opensslStatus(["x509", "-inform", "DER", "-in", save(`${ca.name}-issuing.der`, ca.issuingDer), "-noout", "-text"]);
    expect(x509.code).toBe(0);
    expect(x509.out).toContain(`Signature Algorithm: ${oid}`);
    expect(x509.out).toContain(`Public Key Algorithm: ${oid}`);
    expect(x509.out).toContain("Unable to load Public Key");
    expect(x509.out).toContain("CA:TRUE, pathlen:0");
    // ...so it cannot verify the chain: the root's key does not load, and the issuing CA's issuer is never found.
    const verify = opensslStatus(["verify", "-CAfile", save(`${ca.name}-root.pem`, Buffer.from(derToPem(ca.rootDer))), join(dir, `${ca.name}-issuing.pem`)]);
    expect(verify.code).toBe(2);
    expect(verify.out).toContain("unable to get local issuer certificate");
    // The leaf's own key: the same level, so the level check alone cannot be what refuses it.
    expect(verifyWithNoble(ca.good.der, "certificate", spkiOfCertificate(cas[`pq${level}`].good.der))).toBe(false);
  });

  it("CRL over HTTP: ML-DSA-signed, lists the revoked certificate with its reason, verifies with noble", async () => {
    const ca = cas[`pq${level}`];
    const der = await getCrl(ca.name);
    const parts = signedParts(der, "crl");
    expect(parts.algorithm).toEqual({ oid, hasParameters: false });
    expect(parts.signature.length).toBe(sigBytes);
    expect(verifyWithNoble(der, "crl", spkiOfCertificate(ca.issuingDer))).toBe(true);
    expect(verifyWithNoble(flipBit(der, parts.signatureAt + 100), "crl", spkiOfCertificate(ca.issuingDer))).toBe(false);
    expect(verifyWithNoble(flipBit(der, parts.tbsAt + parts.tbs.length - 1), "crl", spkiOfCertificate(ca.issuingDer))).toBe(false);
    expect(verifyWithNoble(der, "crl", spkiOfCertificate(ca.rootDer))).toBe(false);

    const list = AsnConvert.parse(der, CertificateList).tbsCertList;
    const serials = (list.revokedCertificates ?? []).map((r) => Buffer.from(r.userCertificate).toString("hex").replace(/^00/, ""));
    expect(serials).toEqual([ca.revoked.serial]);
    expect(serials).not.toContain(ca.good.serial);

    // OpenSSL 3.0 knows no ML-DSA: it prints the CRL with the algorithm as a bare OID (it never needs the key here).
    const out = openssl(["crl", "-inform", "DER", "-in", save(`${ca.name}.crl`, der), "-noout", "-text"]);
    expect(out).toContain(`Signature Algorithm: ${oid}`);
    expect(out).toContain(`Issuer: CN = pq${level} Issuing`);
    expect(out.replace(/:/g, "").toLowerCase()).toContain(ca.revoked.serial);
    expect(out).toContain("Key Compromise");
    expect(out).toMatch(/X509v3 CRL Number:\s+\d+/);
    const check = opensslStatus(["crl", "-inform", "DER", "-in", join(dir, `${ca.name}.crl`), "-CAfile", join(dir, `${ca.name}-chain.pem`), "-noout"]);
    expect(check.code).toBe(1);
    expect(check.out).toContain("Error getting CRL issuer public key");
  });

  it("OCSP over HTTP: good and revoked answers from the ML-DSA delegated responder verify with noble", async () => {
    const ca = cas[`pq${level}`];
    for (const [which, want] of [["good", "good"], ["revoked", "revoked"]] as const) {
      const der = await postOcsp(ca, ca[which].serial);
      const parsed = parseResponse(der);
      expect(parsed.certs).toMatchObject([{ status: want, ...(want === "revoked" ? { reason: 1 } : {}) }]);
      const parts = signedParts(der, "ocsp");
      expect(parts.algorithm).toEqual({ oid, hasParameters: false });
      expect(parts.signature.length).toBe(sigBytes);
      // The responder: ML-DSA at the CA's level, issued by the CA for OCSP signing, named by its key hash.
      expect(parts.certs).toHaveLength(1);
      const responder = new X509Certificate(parts.certs[0]);
      expect(responder.publicKey.asymmetricKeyType).toBe(`ml-dsa-${level}`);
      expect(responder.keyUsage).toEqual([OCSP_SIGNING]);
      expect(verifyWithNoble(parts.certs[0], "certificate", spkiOfCertificate(ca.issuingDer))).toBe(true);
      const responderSpki = spkiOfCertificate(parts.certs[0]);
      const keyHash = createHash("sha1").update(mlDsaPublicKey(responderSpki).key).digest();
      expect(Buffer.from(parsed.basic!.tbsResponseData.responderID.byKey!.buffer).equals(keyHash)).toBe(true);

      expect(verifyWithNoble(der, "ocsp", responderSpki)).toBe(true);
      expect(verifyWithNoble(flipBit(der, parts.signatureAt + 100), "ocsp", responderSpki)).toBe(false);
      expect(verifyWithNoble(flipBit(der, parts.tbsAt + parts.tbs.length - 1), "ocsp", responderSpki)).toBe(false);
      expect(verifyWithNoble(der, "ocsp", spkiOfCertificate(ca.issuingDer))).toBe(false); // the CA did not sign it

      // OpenSSL 3.0 prints the response and its status; the algorithm shows as the bare OID.
      const out = openssl(["ocsp", "-respin", save(`${ca.name}-${which}.ocsp`, der), "-resp_text", "-noverify"]);
      expect(out).toContain("OCSP Response Status: successful (0x0)");
      expect(out).toContain(`Signature Algorithm: ${oid}`);
      expect(out).toContain(`Cert Status: ${want}`);
      expect(out.toUpperCase()).toContain(ca[which].serial.toUpperCase());
      expect(out).toContain(`Subject: CN=pq${level}-issuing OCSP Responder`);
      expect(out).toContain("Unable to load Public Key"); // the responder certificate's key
    }
  });
});

describe("one gateway with a classical and ML-DSA CAs", () => {
  it("each CA's CRL and OCSP answers are signed with its own algorithm", async () => {
    for (const l of LEVELS) {
      const ca = cas[`pq${l}`];
      expect(signedParts(await getCrl(ca.name), "crl").algorithm.oid).toBe(ML_DSA_OIDS[l]);
      expect(signedParts(await postOcsp(ca, ca.revoked.serial), "ocsp").algorithm.oid).toBe(ML_DSA_OIDS[l]);
    }
    const ec = cas.ec;
    const crl = await getCrl("ec");
    expect(signedParts(crl, "crl").algorithm).toEqual({ oid: ECDSA_SHA256, hasParameters: false });
    const crlOut = opensslStatus(["crl", "-inform", "DER", "-in", save("ec.crl", crl), "-CAfile", join(dir, "ec-chain.pem"), "-noout", "-text"]);
    expect(crlOut.code, crlOut.out).toBe(0);
    expect(crlOut.out).toContain("verify OK");
    expect(crlOut.out.replace(/:/g, "").toLowerCase()).toContain(ec.revoked.serial);

    const ocsp = await postOcsp(ec, ec.revoked.serial);
    expect(signedParts(ocsp, "ocsp").algorithm.oid).toBe(ECDSA_SHA256);
    const r = opensslStatus(["ocsp", "-respin", save("ec.ocsp", ocsp), "-issuer", join(dir, "ec-issuing.pem"), "-cert", ec.revoked.path,
      "-CAfile", join(dir, "ec-chain.pem"), "-no_nonce"]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toMatch(/: revoked/);
  });

  it("a CertID of one CA is never answered for by another CA's responder", async () => {
    // The EC CA's name and key hashes with a serial the ML-DSA-65 CA issued: unknown to the EC CA's responder.
    const der = await postOcsp(cas.ec, cas.pq65.good.serial);
    const parts = signedParts(der, "ocsp");
    expect(parts.algorithm.oid).toBe(ECDSA_SHA256);
    expect(parseResponse(der).certs[0].status).toBe("unknown");
  });
});

describe("pre-signed OCSP responses", () => {
  it("are bounded in bytes as well as in number (an ML-DSA response is many times an ECDSA one)", async () => {
    const fill = async (name: string) => {
      const ca = t.gw.cas.get(`${name}-issuing`);
      const r = new OcspResponder(() => [ca], () => ({ status: "good" }), { validityMinutes: 60, cacheEntries: 20 });
      const serials = Array.from({ length: 20 }, () => newSerial());
      let size = 0;
      for (const s of serials) size = (await r.respond(ocspRequest(ca.certDer, [s]))).der.length;
      const cached = async (s: string) => (await r.respond(ocspRequest(ca.certDer, [s]))).cached;
      return { size, count: r.cachedCount, bytes: r.cachedBytes, serials, cached };
    };
    const ec = await fill("ec");
    expect(ec.size).toBeLessThan(2048);
    expect(ec.count).toBe(20); // the entry count binds
    expect(await ec.cached(ec.serials[0])).toBe(true);
    for (const l of LEVELS) {
      const pq = await fill(`pq${l}`);
      expect(pq.size).toBeGreaterThan(4 * ec.size);
      // 20 × 2 KiB: the most recent responses that fit are kept, and the bytes held never exceed it.
      expect(pq.count).toBe(Math.floor((20 * 2048) / pq.size));
      expect(pq.bytes).toBe(pq.count * pq.size);
      for (const s of pq.serials.slice(-pq.count).reverse()) expect(await pq.cached(s)).toBe(true);
      expect(await pq.cached(pq.serials[0])).toBe(false);
      expect(pq.bytes).toBeLessThanOrEqual(20 * 2048);
    }
  });
});
