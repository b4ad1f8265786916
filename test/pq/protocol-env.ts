/**
 * A gateway on real ports with three issuing CAs, so each protocol can be driven against all of them:
 * dev-issuing (EC P-256 under the EC dev root, also the TLS and protocol-responder CA), mixed-issuing
 * (ML-DSA-65 under that same EC root) and pq-issuing (ML-DSA-65 under an ML-DSA-87 root). Profiles
 * pq-ec, pq-mixed and pq-full issue ML-DSA end-entity certificates from each of them.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ml_dsa44, ml_dsa65, ml_dsa87 } from "@noble/post-quantum/ml-dsa.js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { childSpans } from "../../src/asn1/der-walk.js";
import { expect } from "vitest";
import { initCaPair } from "../../src/ca/init.js";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { ML_DSA_OID } from "../helpers/ml-dsa.js";
import { tempDir } from "../helpers/openssl.js";

export type CaName = "dev-issuing" | "mixed-issuing" | "pq-issuing";
export const PROFILE_CA: Record<string, CaName> = { "pq-ec": "dev-issuing", "pq-mixed": "mixed-issuing", "pq-full": "pq-issuing" };

/** An ML-DSA end-entity profile issued by `issuer`; CN-only requests are allowed (CMP, SCEP devices). */
export function pqProfile(name: string, issuer: string, levels = "[44, 65, 87]"): string {
  return `name: ${name}
issuer: ${issuer}
protocols: [acme, est, cmp, scep, admin]
keys:
  - { type: ml-dsa, levels: ${levels} }
subject: { commonName: fromCsr }
names: { dns: { suffixes: [example.com] }, requireSan: false }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [clientAuth, serverAuth]
`;
}

export const PQ_PROFILES: Record<string, string> = Object.fromEntries(Object.entries(PROFILE_CA).map(([p, ca]) => [p, pqProfile(p, ca)]));

export interface PqEnv {
  t: TestGateway;
  servers: RunningServers;
  dir: string;
  /** The EC dev root (TLS trust anchor; top of the dev-issuing and mixed-issuing chains). */
  rootPem: string;
  /** PEM path of a CA's certificate (`<name>/cert.pem`). */
  caPem(name: string): string;
  caCert(name: string): X509Certificate;
  close(): Promise<void>;
}

/** Makes the CAs in a fresh data dir, then opens the gateway on it (the dev PKI is then not created). */
export async function pqEnv(overrides: Record<string, unknown> = {}, extraProfiles: Record<string, string> = {}): Promise<PqEnv> {
  const dir = tempDir("pq-");
  const dataDir = join(dir, "data");
  const casDir = join(dataDir, "cas");
  const common = { casDir, httpBase: "http://127.0.0.1:8080", rootSubject: "CN=PQ Test EC Root,O=Enrollment Gateway" };
  await initCaPair({ ...common, rootName: "dev-root", issuingName: "dev-issuing", issuingSubject: "CN=PQ Test EC Issuing,O=Enrollment Gateway", keyAlgorithm: "ec-p256" });
  await initCaPair({ ...common, rootName: "unused", under: "dev-root", issuingName: "mixed-issuing", issuingSubject: "CN=PQ Test ML-DSA-65 under EC,O=Enrollment Gateway", keyAlgorithm: "ml-dsa-65" });
  await initCaPair({
    ...common, rootName: "pq-root", rootSubject: "CN=PQ Test ML-DSA-87 Root,O=Enrollment Gateway", issuingName: "pq-issuing",
    issuingSubject: "CN=PQ Test ML-DSA-65 Issuing,O=Enrollment Gateway", keyAlgorithm: "ml-dsa-65", rootKeyAlgorithm: "ml-dsa-87",
  });
  const t = await testGateway({ dataDir, externalUrl: {}, ...overrides }, { ...PQ_PROFILES, ...extraProfiles });
  const servers = await startServers(t.gw);
  const caPem = (name: string) => join(casDir, name, "cert.pem");
  return {
    t, servers, dir, rootPem: caPem("dev-root"), caPem,
    caCert: (name) => new X509Certificate(readFileSync(caPem(name))),
    async close() {
      await servers.close();
      await t.gw.close();
    },
  };
}

const NOBLE = { [ML_DSA_OID[44]]: ml_dsa44, [ML_DSA_OID[65]]: ml_dsa65, [ML_DSA_OID[87]]: ml_dsa87 };

/**
 * Checks `cert` was signed by `issuer`: node:crypto, and for an ML-DSA issuer also @noble/post-quantum (an
 * implementation independent of the OpenSSL that signed it) over the TBSCertificate as received.
 */
export function expectSignedBy(cert: X509Certificate, issuer: X509Certificate): void {
  expect(cert.checkIssued(issuer), `${cert.subject} is not issued by ${issuer.subject}`).toBe(true);
  expect(cert.verify(issuer.publicKey)).toBe(true);
  const asn = AsnConvert.parse(cert.raw, Certificate);
  const issuerType = issuer.publicKey.asymmetricKeyType ?? "";
  if (!issuerType.startsWith("ml-dsa")) return;
  const alg = asn.signatureAlgorithm.algorithm;
  expect(alg).toBe(ML_DSA_OID[Number(issuerType.slice(7)) as 44 | 65 | 87]);
  expect(asn.signatureAlgorithm.parameters, "ML-DSA AlgorithmIdentifier without parameters").toBeUndefined();
  const issuerKey = AsnConvert.parse(issuer.publicKey.export({ type: "spki", format: "der" }), SubjectPublicKeyInfo).subjectPublicKey;
  const raw = new Uint8Array(cert.raw);
  const [tbs] = childSpans(raw, 0);
  expect(NOBLE[alg].verify(new Uint8Array(asn.signatureValue), raw.subarray(tbs[0], tbs[1]), new Uint8Array(issuerKey))).toBe(true);
}
