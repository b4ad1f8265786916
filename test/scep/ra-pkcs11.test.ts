import { execFile } from "node:child_process";
import { createHash, createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { initSoftHsmToken } from "../../src/signers/softhsm-dev.js";
import { makeCsr } from "../helpers/csr.js";
import { ROOT, testGateway, type TestGateway } from "../helpers/gateway.js";
import { openssl, tempDir } from "../helpers/openssl.js";
import { buildPkiMessage, openCertRep } from "../helpers/scep-client.js";

const PIN = "ra-user-pin";
let dir: string;
let first: TestGateway;
let t: TestGateway;
let servers: RunningServers;
let raPem: string;

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "src/cli/main.ts"), ...args], { cwd: ROOT, env: process.env },
    (e, out, err) => (e ? reject(new Error(`${e.message}\n${out}${err}`)) : resolve(out))));
}

beforeAll(async () => {
  // Must fail, not skip, when SoftHSM2 is missing: CI installs it.
  expect(existsSync("/usr/lib/softhsm/libsofthsm2.so")).toBe(true);
  dir = tempDir("scep-hsm-");
  const token = initSoftHsmToken({ label: "scep-ra", soPin: "so-pin-1", userPin: PIN, tokensDir: join(dir, "tokens") });
  process.env.SOFTHSM2_CONF = token.confPath;
  writeFileSync(join(dir, "pin"), `${PIN}\n`, { mode: 0o600 });
  // A gateway that made its dev CAs, then the operator's CLI puts the RA key into the token.
  first = await testGateway();
  const dataDir = first.gw.paths.data;
  await first.gw.close();
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, stringify({ dataDir, profilesDir: join(first.dir, "profiles"), scep: { endpoints: [{ name: "hsm", profile: "device", challenge: { static: "hsm-challenge-1" } }], defaultEndpoint: "hsm" } }));
  const out = await cli(["scep", "ra-init", "--config", configPath, "--endpoint", "hsm", "--token", "scep-ra", "--pin-file", join(dir, "pin")]);
  const uri = /uri: "(pkcs11:[^"]+)"/.exec(out)![1];
  raPem = join(dataDir, "scep", "hsm", "ra-pkcs11.pem");
  t = await testGateway({
    dataDir, profilesDir: join(first.dir, "profiles"),
    scep: { defaultEndpoint: "hsm", endpoints: [{ name: "hsm", profile: "device", challenge: { static: "hsm-challenge-1" },
      ra: { certFile: raPem, key: { type: "pkcs11", uri, module: token.modulePath, pin: { file: join(dir, "pin") }, algorithm: "rsa-pkcs1-sha256" } } }] },
  });
  servers = await startServers(t.gw);
});
afterAll(async () => {
  await servers?.close();
  await t?.gw.close();
});

describe("SCEP RA key in a PKCS#11 token", () => {
  it("GetCACert serves the token's RA certificate, and a request encrypted to it is decrypted and answered", async () => {
    const http = `http://127.0.0.1:${servers.httpPort}`;
    const raCert = new Uint8Array(new X509Certificate(readFileSync(raPem)).raw);
    const p7 = join(dir, "ca.p7");
    writeFileSync(p7, Buffer.from(await (await fetch(`${http}/scep?operation=GetCACert`)).arrayBuffer()));
    expect(openssl(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs"])).toContain(new X509Certificate(raCert).toString().trim());

    const csr = makeCsr(dir, "hsm1", { subject: "/CN=hsm1.example.com", keyKind: "rsa-2048", challengePassword: "hsm-challenge-1" });
    const self = join(dir, "hsm1-self.pem");
    openssl(["req", "-x509", "-new", "-key", csr.key, "-subj", "/CN=hsm1-signer", "-days", "1", "-out", self]);
    const key = createPrivateKey(readFileSync(csr.key));
    const transactionId = createHash("sha256").update(randomBytes(8)).digest("hex");
    const der = buildPkiMessage({
      messageType: 19, transactionId, senderNonce: new Uint8Array(randomBytes(16)),
      content: new Uint8Array(Buffer.from(readFileSync(csr.body, "utf8").replace(/\s+/g, ""), "base64")),
      signerCert: new Uint8Array(new X509Certificate(readFileSync(self)).raw), signerKey: key, recipientCert: raCert, digest: "sha256", contentEncryption: "aes-128-cbc",
    });
    const res = await fetch(`${http}/scep?operation=PKIOperation`, { method: "POST", body: Buffer.from(der) });
    const rep = openCertRep(new Uint8Array(await res.arrayBuffer()), { recipientKey: key, raCert });
    expect(rep.status).toBe("SUCCESS");
    expect(new X509Certificate(rep.certs[0]).subject).toContain("CN=hsm1.example.com");
  });
});
