// ACME with ML-DSA certificate keys: the project's RFC 8555 client, lego and certbot with an ML-DSA CSR, and the
// chain the certificate URL serves for an EC, a mixed (ML-DSA under EC) and an all-ML-DSA CA.
import { X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeClient } from "../helpers/acme-client.js";
import { mlDsaCsr, type Level } from "../helpers/ml-dsa.js";
import { tempDir } from "../helpers/openssl.js";
import { freePort } from "../helpers/ports.js";
import { run } from "../acme/interop/harness.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import { expectSignedBy, PROFILE_CA, pqEnv, type PqEnv } from "./protocol-env.js";

const PROFILE_OF = Object.fromEntries(Object.entries(PROFILE_CA).map(([p, ca]) => [ca, p]));

let env: PqEnv;
let httpPort: number;
beforeAll(async () => {
  httpPort = await freePort();
  env = await pqEnv({
    acme: {
      validation: { httpPort, allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.example.com": "127.0.0.1" }, timeoutMs: 5000 },
      endpoints: [
        { name: "default", defaultProfile: "pq-ec" },
        { name: "mixed", defaultProfile: "pq-mixed" },
        { name: "full", defaultProfile: "pq-full" },
      ],
    },
  });
}, 120_000);
afterAll(async () => env?.close());

const directory = (endpoint: string) => `${env.t.gw.urls.https}/acme${endpoint === "default" ? "" : `/${endpoint}`}/directory`;
const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;
const certsOf = (pem: string) => (pem.match(PEM) ?? []).map((p) => new X509Certificate(p));

/** Serves http-01 answers on the validation port while `fn` runs. */
async function withHttp01<T>(fn: (answers: Map<string, string>) => Promise<T>): Promise<T> {
  const answers = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    const body = answers.get(req.url?.split("/.well-known/acme-challenge/")[1] ?? "");
    res.writeHead(body ? 200 : 404).end(body ?? "");
  });
  await new Promise<void>((r) => server.listen(httpPort, "127.0.0.1", r));
  try {
    return await fn(answers);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

async function issueWithClient(endpoint: string, level: Level, name: string) {
  const csr = mlDsaCsr({ level, cn: name, dns: [name] });
  const client = await AcmeClient.create({ directoryUrl: directory(endpoint), caPem: readFileSync(env.rootPem, "utf8") });
  const acct = await client.newAccount({ termsOfServiceAgreed: true });
  expect(acct.status).toBe(201);
  const r = await withHttp01((answers) => client.issue([{ type: "dns", value: name }], {
    csrKey: csr.keys.privateKey, csr: () => csr.der, publish: (token, keyAuth) => void answers.set(token, keyAuth),
  }));
  return { csr, certs: certsOf(r.certPem), pem: r.certPem };
}

const spkiOf = (k: { export(o: { type: "spki"; format: "der" }): Buffer }) => k.export({ type: "spki", format: "der" });

describe("ACME issues ML-DSA certificates (project client)", () => {
  it("ML-DSA-44 leaf under the EC issuing CA: leaf + EC issuing CA", async () => {
    const { csr, certs } = await issueWithClient("default", 44, "acme-ec.example.com");
    expect(certs.map((c) => c.publicKey.asymmetricKeyType)).toEqual(["ml-dsa-44", "ec"]);
    expect(spkiOf(certs[0].publicKey).equals(spkiOf(csr.keys.publicKey))).toBe(true);
    expect(certs[1].raw.equals(env.caCert("dev-issuing").raw)).toBe(true);
    expectSignedBy(certs[0], certs[1]);
    expectSignedBy(certs[1], env.caCert("dev-root"));
  });

  it("ML-DSA-65 issuing CA under the EC root: the certificate URL serves leaf + ML-DSA issuing CA, nothing else", async () => {
    const { csr, certs } = await issueWithClient("mixed", 65, "acme-mixed.example.com");
    expect(certs).toHaveLength(2);
    expect(certs.map((c) => c.publicKey.asymmetricKeyType)).toEqual(["ml-dsa-65", "ml-dsa-65"]);
    expect(spkiOf(certs[0].publicKey).equals(spkiOf(csr.keys.publicKey))).toBe(true);
    expect(certs[1].raw.equals(env.caCert("mixed-issuing").raw)).toBe(true);
    expectSignedBy(certs[0], certs[1]);
    // The served issuing CA is the one the EC root signed: the path ends at the EC trust anchor.
    expectSignedBy(certs[1], env.caCert("dev-root"));
  });

  it("all-ML-DSA CA: ML-DSA-87 leaf + ML-DSA-65 issuing CA, which the ML-DSA-87 root signed", async () => {
    const { certs } = await issueWithClient("full", 87, "acme-full.example.com");
    expect(certs.map((c) => c.publicKey.asymmetricKeyType)).toEqual(["ml-dsa-87", "ml-dsa-65"]);
    expectSignedBy(certs[0], certs[1]);
    expectSignedBy(certs[1], env.caCert("pq-root"));
  });
});

/** What a client saved is the gateway's ML-DSA certificate for the CSR's key, under `ca`, recorded as an ACME issuance. */
async function expectSaved(certFile: string, chainFile: string, csr: ReturnType<typeof mlDsaCsr>, ca: string): Promise<void> {
  const [leaf] = certsOf(readFileSync(certFile, "utf8"));
  const chain = certsOf(readFileSync(chainFile, "utf8"));
  expect(spkiOf(leaf.publicKey).equals(spkiOf(csr.keys.publicKey))).toBe(true);
  expect(chain.map((c) => c.raw.toString("hex"))).toEqual([env.caCert(ca).raw.toString("hex")]);
  expectSignedBy(leaf, chain[0]);
  const rec = await env.t.gw.store.getCertificate(normalizeSerial(leaf.serialNumber));
  expect(rec, `no record of ${leaf.serialNumber}`).toMatchObject({ protocol: "acme", profile: PROFILE_OF[ca] });
}

// Debian 12's lego 4.9 (Go crypto/x509) and certbot 2.1 (Python cryptography) take the ML-DSA CSR as opaque bytes:
// both leave an unknown public key algorithm unparsed, send the CSR and save the chain they are given.
describe("ACME clients of Debian 12 with an ML-DSA CSR", () => {
  const lego = async (endpoint: string, level: Level, name: string, ca: string) => {
    const dir = tempDir("lego-pq-");
    const csr = mlDsaCsr({ level, cn: name, dns: [name] });
    writeFileSync(join(dir, "req.pem"), csr.pem);
    const r = await run("lego", ["--accept-tos", "--email", "pq@example.com", "--server", directory(endpoint), "--path", dir, "--csr", join(dir, "req.pem"),
      "--http", "--http.port", `127.0.0.1:${httpPort}`, "run"], { env: { LEGO_CA_CERTIFICATES: env.rootPem } });
    expect(r.out).toContain("Server responded with a certificate");
    expect(r.code, r.out).toBe(0);
    await expectSaved(join(dir, "certificates", `${name}.crt`), join(dir, "certificates", `${name}.issuer.crt`), csr, ca);
  };
  const certbot = async (endpoint: string, level: Level, name: string, ca: string) => {
    const dir = tempDir("certbot-pq-");
    const csr = mlDsaCsr({ level, cn: name, dns: [name] });
    writeFileSync(join(dir, "req.der"), csr.der);
    const r = await run("certbot", [
      "certonly", "--standalone", "--http-01-port", String(httpPort), "--http-01-address", "127.0.0.1", "--server", directory(endpoint),
      "--register-unsafely-without-email", "--csr", join(dir, "req.der"),
      "--cert-path", join(dir, "cert.pem"), "--chain-path", join(dir, "chain.pem"), "--fullchain-path", join(dir, "full.pem"),
      "--config-dir", join(dir, "config"), "--work-dir", join(dir, "work"), "--logs-dir", join(dir, "logs"), "--non-interactive", "--agree-tos",
    ], { env: { REQUESTS_CA_BUNDLE: env.rootPem } });
    expect(r.out).toContain("Successfully received certificate");
    expect(r.code, r.out).toBe(0);
    await expectSaved(join(dir, "cert.pem"), join(dir, "chain.pem"), csr, ca);
  };

  it("lego --csr: ML-DSA-65 leaf under the EC issuing CA", () => lego("default", 65, "lego-ec.example.com", "dev-issuing"));
  it("lego --csr: ML-DSA-44 leaf under the ML-DSA issuing CA of the EC root", () => lego("mixed", 44, "lego-mixed.example.com", "mixed-issuing"));
  it("certbot --csr: ML-DSA-65 leaf under the ML-DSA issuing CA of the EC root", () => certbot("mixed", 65, "certbot-mixed.example.com", "mixed-issuing"));
  it("certbot --csr: ML-DSA-87 leaf under the all-ML-DSA CA", () => certbot("full", 87, "certbot-full.example.com", "pq-issuing"));
});
