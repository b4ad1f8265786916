// Mixed chains: ML-DSA issuing CAs under ECDSA roots (made together, or under an existing root next to the classical
// issuing CA) and an ECDSA issuing CA under an ML-DSA root. Each link verifies on its own, and every place the gateway
// hands out a chain (CA downloads, the enroll answer, the CRL of the root) gives the right certificates.
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ML_DSA_OIDS } from "../../src/asn1/algorithms.js";
import { caDirsUnder, derToPem } from "../../src/ca/authority.js";
import { verifyPath } from "../../src/ca/chain.js";
import { initCaPair, type KeyAlgorithmName } from "../../src/ca/init.js";
import type { RunningServers } from "../../src/server/listen.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { mlDsaCsr, pqProfile } from "../helpers/ml-dsa.js";
import { makeCsr, openssl, opensslStatus, tempDir } from "../helpers/openssl.js";
import { ocspRequest, parseResponse } from "../revocation/ocsp-helpers.js";
import { flipBit, signedParts, spkiOfCertificate, verifyWithNoble, type MlDsaLevel } from "./verify-independent.js";

type CaKey = Extract<KeyAlgorithmName, "ec-p256" | "ec-p384" | "ml-dsa-44" | "ml-dsa-65" | "ml-dsa-87">;
interface Case { issuing: string; root: string; issuingKey: CaKey; rootKey: CaKey; leaf: "ec" | MlDsaLevel; how: string }

const CASES: Case[] = [
  { issuing: "ec-issuing", root: "ec-root", issuingKey: "ec-p256", rootKey: "ec-p256", leaf: 65, how: "classical pair" },
  { issuing: "pq-under-ec", root: "ec-root", issuingKey: "ml-dsa-65", rootKey: "ec-p256", leaf: "ec", how: "ML-DSA issuing CA added under the existing ECDSA root" },
  { issuing: "pq44-mixed", root: "p384-root", issuingKey: "ml-dsa-44", rootKey: "ec-p384", leaf: 87, how: "ML-DSA issuing CA made with an ECDSA P-384 root" },
  { issuing: "ec-under-pq", root: "pq87-root", issuingKey: "ec-p256", rootKey: "ml-dsa-87", leaf: 44, how: "ECDSA issuing CA under an ML-DSA-87 root" },
];
const SIGNATURE_OID: Record<CaKey, string> = {
  "ec-p256": "1.2.840.10045.4.3.2", "ec-p384": "1.2.840.10045.4.3.3",
  "ml-dsa-44": ML_DSA_OIDS[44], "ml-dsa-65": ML_DSA_OIDS[65], "ml-dsa-87": ML_DSA_OIDS[87],
};
const HTTP_BASE = "http://127.0.0.1:8080";

let t: TestGateway;
let servers: RunningServers;
let base: string;
let dir: string;
const issued: Record<string, { leaf: Uint8Array; chain: Uint8Array[] }> = {};

const pemDer = (pem: string) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ""), "base64"));
const hex = (d: Uint8Array) => Buffer.from(d).toString("hex");
const certOf = (name: string) => t.gw.cas.get(name).certDer;

beforeAll(async () => {
  dir = tempDir();
  const casDir = join(dir, "cas");
  const subjects = (root: string, issuing: string) => ({ rootName: root, issuingName: issuing, rootSubject: `CN=${root}`, issuingSubject: `CN=${issuing}` });
  await initCaPair({ casDir, ...subjects("ec-root", "ec-issuing"), keyAlgorithm: "ec-p256", httpBase: HTTP_BASE });
  await initCaPair({ casDir, ...subjects("ec-root", "pq-under-ec"), under: "ec-root", keyAlgorithm: "ml-dsa-65", httpBase: HTTP_BASE });
  await initCaPair({ casDir, ...subjects("p384-root", "pq44-mixed"), keyAlgorithm: "ml-dsa-44", rootKeyAlgorithm: "ec-p384", httpBase: HTTP_BASE });
  await initCaPair({ casDir, ...subjects("pq87-root", "ec-under-pq"), keyAlgorithm: "ec-p256", rootKeyAlgorithm: "ml-dsa-87", httpBase: HTTP_BASE });
  const profiles = Object.fromEntries(CASES.map((c) => [`to-${c.issuing}`,
    pqProfile({ name: `to-${c.issuing}`, issuer: c.issuing, keys: ["{ type: ec, curves: [P-256] }", "{ type: ml-dsa, levels: [44, 65, 87] }"] })]));
  t = await testGateway({ cas: caDirsUnder(casDir).map((d) => ({ dir: d })), crl: { rebuildDelaySeconds: 0 } }, profiles);
  const app = (await appsFor(t.gw)).https;
  for (const c of CASES) {
    const cn = `${c.issuing}.example.com`;
    const csr = c.leaf === "ec" ? makeCsr(dir, c.issuing, { sans: [`DNS:${cn}`] }).pem : mlDsaCsr({ level: c.leaf, cn, dns: [cn] }).pem;
    const res = await request(app).post("/admin/api/v1/enroll").set({ authorization: `Bearer ${t.token}` }).send({ profile: `to-${c.issuing}`, csr });
    if (res.status !== 201) throw new Error(`enroll from ${c.issuing}: ${res.status} ${JSON.stringify(res.body)}`);
    issued[c.issuing] = { leaf: pemDer(res.body.certificate), chain: (res.body.chain as string[]).map(pemDer) };
  }
  const { startServers } = await import("../../src/server/listen.js");
  servers = await startServers(t.gw);
  base = `http://127.0.0.1:${servers.httpPort}`;
});

afterAll(async () => {
  await servers?.close();
  await t?.gw.close();
});

function nodeVerifies(child: Uint8Array, parent: Uint8Array): boolean {
  try {
    return new X509Certificate(child).verify(new X509Certificate(parent).publicKey);
  } catch {
    return false;
  }
}

/**
 * One link: the child names the parent's algorithm and verifies with node:crypto; ML-DSA signatures also with noble,
 * ECDSA ones with the system OpenSSL 3.0 over the raw signed bytes (it cannot load a certificate holding an ML-DSA key).
 */
function checkLink(child: Uint8Array, parent: Uint8Array, parentKey: CaKey, stranger: Uint8Array): void {
  expect(new X509Certificate(child).checkIssued(new X509Certificate(parent))).toBe(true);
  expect(nodeVerifies(child, parent)).toBe(true);
  expect(nodeVerifies(child, stranger)).toBe(false);
  const parts = signedParts(child, "certificate");
  expect(parts.algorithm).toEqual({ oid: SIGNATURE_OID[parentKey], hasParameters: false });
  const corrupt = flipBit(child, parts.tbsAt + parts.tbs.length - 1);
  if (parentKey.startsWith("ml-dsa")) {
    expect(verifyWithNoble(child, "certificate", spkiOfCertificate(parent))).toBe(true);
    expect(verifyWithNoble(corrupt, "certificate", spkiOfCertificate(parent))).toBe(false);
    return;
  }
  const pub = join(dir, "parent-pub.pem");
  writeFileSync(pub, new X509Certificate(parent).publicKey.export({ type: "spki", format: "pem" }));
  writeFileSync(join(dir, "sig.der"), parts.signature);
  const digest = parentKey === "ec-p384" ? "-sha384" : "-sha256";
  const check = (tbs: Uint8Array) => {
    writeFileSync(join(dir, "tbs.der"), tbs);
    return opensslStatus(["dgst", digest, "-verify", pub, "-signature", join(dir, "sig.der"), join(dir, "tbs.der")]);
  };
  expect(check(parts.tbs).out).toContain("Verified OK");
  expect(check(signedParts(corrupt, "certificate").tbs).out).toContain("Verification failure");
}

for (const c of CASES) describe(`${c.how}: ${c.issuing} under ${c.root}`, () => {
  it("each link verifies: leaf to issuing CA, issuing CA to root, root to itself", () => {
    const { leaf } = issued[c.issuing];
    const [issuing, root] = [certOf(c.issuing), certOf(c.root)];
    const stranger = certOf(CASES.find((o) => o.root !== c.root)!.root);
    checkLink(leaf, issuing, c.issuingKey, root);
    checkLink(issuing, root, c.rootKey, stranger);
    checkLink(root, root, c.rootKey, stranger);
    const leafKey = new X509Certificate(leaf).publicKey.asymmetricKeyType;
    expect(leafKey).toBe(c.leaf === "ec" ? "ec" : `ml-dsa-${c.leaf}`);
    expect(new X509Certificate(issuing).publicKey.asymmetricKeyType).toBe(c.issuingKey.startsWith("ml-dsa") ? c.issuingKey : "ec");
  });

  it("path validation (src/ca/chain.ts) ends at the right root and at no other", () => {
    const { leaf } = issued[c.issuing];
    const presented = [leaf, certOf(c.issuing)].map((d) => new X509Certificate(d));
    const found = verifyPath(presented, [new X509Certificate(certOf(c.root))]);
    expect(found && hex(found.anchor.raw)).toBe(hex(certOf(c.root)));
    const others = CASES.filter((o) => o.root !== c.root).map((o) => new X509Certificate(certOf(o.root)));
    expect(verifyPath(presented, others)).toBeUndefined();
    expect(verifyPath([presented[0]], [new X509Certificate(certOf(c.root))])).toBeUndefined(); // the issuing CA is needed
  });

  it("the enroll answer and the CA downloads carry the issuing CA, then its root", async () => {
    const want = [certOf(c.issuing), certOf(c.root)].map(hex);
    expect(issued[c.issuing].chain.map(hex)).toEqual(want);
    const crt = await fetch(`${base}/ca/${c.issuing}.crt`);
    expect(crt.headers.get("content-type")).toContain("application/pkix-cert");
    expect(hex(new Uint8Array(await crt.arrayBuffer()))).toBe(want[0]);
    const pem = await (await fetch(`${base}/ca/${c.issuing}.pem`)).text();
    expect(pem).toBe([certOf(c.issuing), certOf(c.root)].map((d) => derToPem(d)).join(""));
    expect(hex(new Uint8Array(await (await fetch(`${base}/ca/${c.root}.crt`)).arrayBuffer()))).toBe(want[1]);
  });

  it("the root's CRL, where the issuing CA certificate points, is signed with the root's algorithm", async () => {
    expect(Buffer.from(certOf(c.issuing)).includes(`${HTTP_BASE}/crl/${c.root}.crl`)).toBe(true);
    const res = await fetch(`${base}/crl/${c.root}.crl`);
    expect(res.status).toBe(200);
    const crl = new Uint8Array(await res.arrayBuffer());
    expect(signedParts(crl, "crl").algorithm.oid).toBe(SIGNATURE_OID[c.rootKey]);
    if (c.rootKey.startsWith("ml-dsa")) {
      expect(verifyWithNoble(crl, "crl", spkiOfCertificate(certOf(c.root)))).toBe(true);
    } else {
      writeFileSync(join(dir, "root.crl"), crl);
      writeFileSync(join(dir, "root.pem"), derToPem(certOf(c.root)));
      expect(openssl(["crl", "-inform", "DER", "-in", join(dir, "root.crl"), "-CAfile", join(dir, "root.pem"), "-noout"])).toContain("verify OK");
    }
  });

  it("the issuing CA's OCSP answers are signed in the issuing CA's algorithm family", async () => {
    const serial = new X509Certificate(issued[c.issuing].leaf).serialNumber.toLowerCase();
    const res = await fetch(`${base}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: Buffer.from(ocspRequest(certOf(c.issuing), [serial])) });
    const der = new Uint8Array(await res.arrayBuffer());
    expect(parseResponse(der).certs).toMatchObject([{ status: "good" }]);
    const parts = signedParts(der, "ocsp");
    expect(parts.algorithm.oid).toBe(SIGNATURE_OID[c.issuingKey]);
    expect(nodeVerifies(parts.certs[0], certOf(c.issuing))).toBe(true);
    if (c.issuingKey.startsWith("ml-dsa")) expect(verifyWithNoble(der, "ocsp", spkiOfCertificate(parts.certs[0]))).toBe(true);
  });
});

describe("an issuing CA added under an existing root", () => {
  it("shares that root, byte for byte, with the classical issuing CA: no second root is made", () => {
    expect(hex(issued["pq-under-ec"].chain[1])).toBe(hex(issued["ec-issuing"].chain[1]));
    expect(t.gw.cas.all.filter((a) => a.role === "root").map((a) => a.name).sort()).toEqual(["ec-root", "p384-root", "pq87-root"]);
    expect(t.gw.cas.issuing.map((a) => a.name)).toEqual(["ec-issuing", "ec-under-pq", "pq-under-ec", "pq44-mixed"]);
  });
});
