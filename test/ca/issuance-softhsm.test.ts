import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { derToPem } from "../../src/ca/authority.js";
import { validateConfig } from "../../src/config/load.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { openGateway, type Gateway } from "../../src/gateway.js";
import { initSoftHsmToken } from "../../src/signers/softhsm-dev.js";
import { ROOT } from "../helpers/gateway.js";
import { makeCsr, openssl, tempDir } from "../helpers/openssl.js";

const PIN = "test-user-pin";
let dir: string;
let env: NodeJS.ProcessEnv;
let modulePath: string;
const opened: Gateway[] = [];

beforeAll(() => {
  // Must fail, not skip, when SoftHSM2 is missing: CI installs it.
  expect(existsSync("/usr/lib/softhsm/libsofthsm2.so")).toBe(true);
  dir = tempDir("gw-hsm-");
  const token = initSoftHsmToken({ label: "gateway-ca", soPin: "test-so-pin", userPin: PIN, tokensDir: join(dir, "tokens") });
  modulePath = token.modulePath;
  process.env.SOFTHSM2_CONF = token.confPath;
  process.env.GW_TEST_HSM_PIN = PIN;
  writeFileSync(join(dir, "pin"), `${PIN}\n`, { mode: 0o600 });
  env = { ...process.env };
});
afterAll(async () => {
  for (const g of opened) await g.close();
});

function caInit(dataDir: string, key: string, extra: string[] = []): string {
  return execFileSync(join(ROOT, "node_modules/.bin/tsx"), [
    join(ROOT, "src/cli/main.ts"), "ca", "init", "--data-dir", dataDir, "--key", key, "--pkcs11", "--module", modulePath,
    "--token", "gateway-ca", ...extra, "--root-name", "hsm-root", "--issuing-name", "hsm-issuing",
  ], { env, cwd: ROOT }).toString();
}

async function issueWith(dataDir: string, name: string) {
  const config = validateConfig({ dataDir, profilesDir: join(ROOT, "profiles"), devPki: { enabled: false }, externalUrl: { http: "http://127.0.0.1:8080" }, log: { level: "silent" } });
  const gw = await openGateway(config, pino({ level: "silent" }));
  opened.push(gw);
  const { der } = makeCsr(dir, name, { sans: [`DNS:${name}.example.com`] });
  const out = await gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "t" }, profile: "tls-server", csr: der });
  if (out.status !== "issued") throw new Error("not issued");
  const ca = gw.cas.get("hsm-issuing");
  const files = { root: join(dir, `${name}-root.pem`), issuing: join(dir, `${name}-issuing.pem`), leaf: join(dir, `${name}.pem`) };
  writeFileSync(files.root, derToPem(gw.cas.get("hsm-root").certDer));
  writeFileSync(files.issuing, derToPem(ca.certDer));
  writeFileSync(files.leaf, derToPem(out.certificate.der));
  return { gw, files, ca };
}

describe("issuing CA inside SoftHSM2 (PKCS#11), created by `gateway ca init --pkcs11`", () => {
  it("ECDSA P-256: keys generated in the token, the PIN referenced by file, certificates verify", async () => {
    const dataDir = join(dir, "p256");
    expect(caInit(dataDir, "ec-p256", ["--pin-file", join(dir, "pin")])).toContain("not extractable");
    const desc = readFileSync(join(dataDir, "cas/hsm-issuing/ca.json"), "utf8");
    expect(desc).toMatch(/"uri": "pkcs11:/);
    expect(desc).not.toContain(PIN);
    expect(existsSync(join(dataDir, "cas/hsm-issuing/issuing-key.pem"))).toBe(false);

    const { gw, files, ca } = await issueWith(dataDir, "hsm-p256");
    expect(ca.signer.id).toMatch(/^pkcs11:/);
    expect(ca.signer.id).not.toContain(PIN);
    expect(openssl(["verify", "-CAfile", files.root, "-untrusted", files.issuing, files.leaf])).toContain(": OK");
    const text = openssl(["x509", "-in", files.leaf, "-noout", "-text"]);
    expect(text).toContain("ecdsa-with-SHA256");
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(text).toContain("DNS:hsm-p256.example.com");
    expect(await ca.signer.ping()).toBe(true);
    // CRL signed in the token too.
    const crl = await gw.crls.publish(ca);
    writeFileSync(join(dir, "hsm.crl"), Buffer.from(crl.der));
    expect(openssl(["crl", "-inform", "DER", "-in", join(dir, "hsm.crl"), "-CAfile", files.issuing, "-verify", "-noout"])).toMatch(/verify OK/);
  });

  it("the token's private keys are sensitive and not extractable (pkcs11-tool)", () => {
    const out = execFileSync("pkcs11-tool", ["--module", modulePath, "--token-label", "gateway-ca", "--login", "--pin", PIN, "--list-objects", "--type", "privkey"], { env }).toString();
    expect(out).toMatch(/Private Key Object/);
    const access = out.split("\n").filter((l) => l.includes("Access:"));
    expect(access.length).toBeGreaterThanOrEqual(2);
    for (const line of access) {
      expect(line).toMatch(/sensitive/);
      expect(line).toMatch(/never extractable/);
      expect(line.replace("never extractable", "")).not.toMatch(/extractable/);
    }
  });

  it("RSA-3072 with PSS signatures, PIN from an environment variable", async () => {
    const dataDir = join(dir, "rsa");
    caInit(dataDir, "rsa-3072", ["--pss", "--pin-env", "GW_TEST_HSM_PIN"]);
    expect(readFileSync(join(dataDir, "cas/hsm-issuing/ca.json"), "utf8")).toContain('"env": "GW_TEST_HSM_PIN"');
    const { files } = await issueWith(dataDir, "hsm-rsa");
    expect(openssl(["verify", "-CAfile", files.root, "-untrusted", files.issuing, files.leaf])).toContain(": OK");
    expect(openssl(["x509", "-in", files.leaf, "-noout", "-text"])).toContain("rsassaPss");
    expect(openssl(["x509", "-in", files.issuing, "-noout", "-text"])).toContain("Public-Key: (3072 bit)");
  });

  it("a wrong PIN fails at start with an error that does not contain the PIN", async () => {
    const dataDir = join(dir, "p256");
    const saved = process.env.GW_TEST_HSM_PIN;
    writeFileSync(join(dir, "pin"), "wrong-pin-123\n");
    try {
      const config = validateConfig({ dataDir, profilesDir: join(ROOT, "profiles"), devPki: { enabled: false }, log: { level: "silent" } });
      await expect(openGateway(config, pino({ level: "silent" }))).rejects.toThrow();
      await openGateway(config, pino({ level: "silent" })).catch((e: Error) => expect(e.message).not.toContain("wrong-pin-123"));
    } finally {
      writeFileSync(join(dir, "pin"), `${PIN}\n`);
      process.env.GW_TEST_HSM_PIN = saved;
    }
  });
});
