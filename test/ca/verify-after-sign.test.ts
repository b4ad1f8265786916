import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generateKeyPairSync, verify } from "node:crypto";
import { join } from "node:path";
import { signAndVerify } from "../../src/ca/sign-object.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { decide } from "../../src/policy/decide.js";
import { initSoftHsmToken } from "../../src/signers/softhsm-dev.js";
import { generatePkcs11KeyPair, openPkcs11Signer, type Pkcs11Signer } from "../../src/signers/pkcs11.js";
import type { Signer } from "../../src/signers/signer.js";
import { SoftwareSigner } from "../../src/signers/software.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";

// Every check after signing goes through verifySignature: count its calls.
const counted = vi.hoisted(() => ({ verifies: 0 }));
vi.mock("../../src/asn1/algorithms.js", async (importOriginal) => {
  const mod = await importOriginal<typeof import("../../src/asn1/algorithms.js")>();
  return {
    ...mod,
    verifySignature: (...args: Parameters<typeof mod.verifySignature>) => {
      counted.verifies++;
      return mod.verifySignature(...args);
    },
  };
});

async function verifiesDuring(fn: () => Promise<unknown>): Promise<number> {
  const before = counted.verifies;
  await fn();
  return counted.verifies - before;
}

const TBS = new Uint8Array(Buffer.from("a TBSCertificate stand-in"));

describe("verify-after-sign: PKCS#11 signatures are checked, software ones are not", () => {
  let hsm: Pkcs11Signer;
  let t: TestGateway;

  beforeAll(async () => {
    const dir = tempDir("gw-vas-");
    const token = initSoftHsmToken({ label: "vas", soPin: "vas-so", userPin: "vas-pin", tokensDir: join(dir, "tokens") });
    process.env.SOFTHSM2_CONF = token.confPath;
    const uri = await generatePkcs11KeyPair({ modulePath: token.modulePath, tokenLabel: "vas", pin: "vas-pin", label: "k", spec: { kind: "ec", curve: "P-256" } });
    hsm = await openPkcs11Signer({ uri, modulePath: token.modulePath, pin: "vas-pin" });
    t = await testGateway();
  });
  afterAll(async () => {
    await hsm?.close();
    await t?.gw.close();
  });

  it("a software signer's signature is released without a verification", async () => {
    const signer = new SoftwareSigner("software:t", generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey, "ecdsa-sha256");
    expect(signer.verifyAfterSign).toBe(false);
    let sig: Uint8Array = new Uint8Array(0);
    expect(await verifiesDuring(async () => void (sig = await signAndVerify(signer, TBS)))).toBe(0);
    expect(verify("sha256", TBS, signer.publicKey, sig)).toBe(true);
  });

  it("a PKCS#11 signer's signature is verified once before it is released", async () => {
    expect(hsm.verifyAfterSign).toBe(true);
    let sig: Uint8Array = new Uint8Array(0);
    expect(await verifiesDuring(async () => void (sig = await signAndVerify(hsm, TBS)))).toBe(1);
    expect(verify("sha256", TBS, hsm.publicKey, sig)).toBe(true);
  });

  it("a faulty token signature is refused; a signer that does not say is checked too", async () => {
    const faulty: Signer = { id: "faulty", publicKey: hsm.publicKey, algorithm: "ecdsa-sha256", verifyAfterSign: true, sign: async () => Buffer.from([0x30, 0x00]), ping: async () => true };
    await expect(signAndVerify(faulty, TBS)).rejects.toMatchObject({ code: "RA_ERR_SIGNER_FAILED" });
    const silent: Signer = { id: "silent", publicKey: hsm.publicKey, algorithm: "ecdsa-sha256", sign: (d) => hsm.sign(d), ping: async () => true };
    expect(await verifiesDuring(() => signAndVerify(silent, TBS))).toBe(1);
  });

  it("an engine issuance with the software dev CA signs without a verification after signing", async () => {
    const dir = tempDir("gw-vas-csr-");
    const { der } = makeCsr(dir, "v", { sans: ["DNS:v.example.com"] });
    const req = { requestId: EnrollmentService.newRequestId(), protocol: "admin" as const, requester: { kind: "admin", id: "t" }, profile: "tls-server", csr: der };
    const d = decide(req, { profiles: t.gw.profiles, defaultProfile: "tls-server" }); // the CSR self-signature check counts here
    if (d.decision !== "issue") throw new Error("expected issue");
    let serial = "";
    expect(await verifiesDuring(async () => void ({ serial } = await t.gw.engine.issue(d.plan, req)))).toBe(0);
    expect((await t.gw.store.getCertificate(serial))?.stage).toBe("issued");
  });
});
