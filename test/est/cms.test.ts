import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import { serverKeyEnveloped } from "../../protocols/est/cms.js";
import { certsOnly } from "../../src/cms/signed-data.js";
import { contentInfo } from "../../src/cms/der.js";
import { opensslAsync, tempDir } from "../helpers/openssl.js";

let dir: string;
type Kind = "rsa-2048" | "ec-p256" | "ec-p384" | "ed25519";
interface Made { cert: string; key: string; der: Uint8Array; privateKey: KeyObject }

async function ok(args: string[]): Promise<string> {
  const r = await opensslAsync(args);
  expect(r.code, `openssl ${args.join(" ")}\n${r.out}`).toBe(0);
  return r.out;
}

/** A self-signed certificate made by `openssl req -x509`. */
async function selfSigned(name: string, kind: Kind): Promise<Made> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  const alg = kind === "rsa-2048" ? ["-newkey", "rsa:2048"]
    : kind === "ed25519" ? ["-newkey", "ed25519"]
    : ["-newkey", "ec", "-pkeyopt", `ec_paramgen_curve:${kind === "ec-p256" ? "P-256" : "P-384"}`];
  await ok(["req", "-x509", ...alg, "-nodes", "-keyout", key, "-subj", `/O=EST Test/CN=${name}`, "-days", "2", "-out", cert]);
  return { cert, key, der: new Uint8Array(new X509Certificate(readFileSync(cert)).raw), privateKey: createPrivateKey(readFileSync(key)) };
}

const certs: Record<string, Made> = {};
beforeAll(async () => {
  dir = tempDir("est-cms-");
  const wanted: Array<[string, Kind]> = [
    ["rsa-recipient", "rsa-2048"], ["ec-recipient", "ec-p256"], ["p384-recipient", "ec-p384"], ["ed-recipient", "ed25519"],
    ["ec-signer", "ec-p256"], ["rsa-signer", "rsa-2048"], ["other-rsa", "rsa-2048"],
  ];
  const made = await Promise.all(wanted.map(([n, k]) => selfSigned(n, k)));
  wanted.forEach(([n], i) => (certs[n] = made[i]));
});

describe("certsOnly (RFC 7030 §4.1.3, RFC 5751 §3.8)", () => {
  it("OpenSSL reads both certificates, in the order given", async () => {
    const p7 = join(dir, "two.p7");
    writeFileSync(p7, certsOnly([certs["ec-signer"].der, certs["rsa-signer"].der]));
    const out = await ok(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs", "-noout"]);
    const subjects = [...out.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]);
    expect(subjects).toEqual(["O = EST Test, CN = ec-signer", "O = EST Test, CN = rsa-signer"]);
    const printed = await ok(["pkcs7", "-inform", "DER", "-in", p7, "-print", "-noout"]);
    expect(printed).toMatch(/version: 1/);
    expect(printed).toMatch(/md_algs:\s*<EMPTY>/);
    expect(printed).toMatch(/signer_info:\s*<EMPTY>/);
  });

  it("refuses an empty list", () => {
    expect(() => certsOnly([])).toThrow(/at least one/);
  });
});

/** The key package that OpenSSL finds: decrypt with the recipient key, then verify the signer against its certificate. */
async function openWithOpenssl(name: string, der: Uint8Array, recipient: Made, signer: Made): Promise<{ pkcs8: Buffer; enveloped: string; signed: string }> {
  const p7m = join(dir, `${name}.p7m`);
  writeFileSync(p7m, der);
  const enveloped = await ok(["cms", "-cmsout", "-print", "-inform", "DER", "-in", p7m]);
  const sdFile = join(dir, `${name}.signed-data.der`);
  await ok(["cms", "-decrypt", "-inform", "DER", "-in", p7m, "-recip", recipient.cert, "-inkey", recipient.key, "-binary", "-out", sdFile]);
  // The decrypted content is the bare SignedData (RFC 5652 nests content types without ContentInfo);
  // `openssl cms` reads ContentInfo, so wrap it for the verify step.
  const ci = join(dir, `${name}.signed.der`);
  writeFileSync(ci, contentInfo("1.2.840.113549.1.7.2", readFileSync(sdFile)));
  const signed = await ok(["cms", "-cmsout", "-print", "-inform", "DER", "-in", ci]);
  const akp = join(dir, `${name}.akp.der`);
  const verify = await ok(["cms", "-verify", "-inform", "DER", "-in", ci, "-CAfile", signer.cert, "-purpose", "any", "-binary", "-out", akp]);
  expect(verify).toContain("Verification successful");
  // AsymmetricKeyPackage ::= SEQUENCE OF OneAsymmetricKey: exactly one element, our PKCS#8 key.
  const parsed = await ok(["asn1parse", "-inform", "DER", "-in", akp]);
  const level1 = [...parsed.matchAll(/^\s*(\d+):d=1\s+hl=(\d+)\s+l=\s*(\d+)/gm)];
  expect(level1).toHaveLength(1);
  const [off, hl, len] = [1, 2, 3].map((i) => Number(level1[0][i]));
  return { pkcs8: readFileSync(akp).subarray(off, off + hl + len), enveloped, signed };
}

const spki = (k: KeyObject) => (k.type === "private" ? createPublicKey(k) : k).export({ type: "spki", format: "der" });

describe("serverKeyEnveloped (RFC 7030 §4.4.2)", () => {
  const cases: Array<{ recipient: string; signer: string; generated: "ec" | "rsa"; ri: RegExp; kea: RegExp; sig: RegExp }> = [
    { recipient: "rsa-recipient", signer: "ec-signer", generated: "ec", ri: /d\.ktri:/, kea: /rsaesOaep/, sig: /ecdsa-with-SHA256/ },
    { recipient: "ec-recipient", signer: "ec-signer", generated: "ec", ri: /d\.kari:/, kea: /dhSinglePass-stdDH-sha256kdf-scheme/, sig: /ecdsa-with-SHA256/ },
    { recipient: "p384-recipient", signer: "rsa-signer", generated: "rsa", ri: /d\.kari:/, kea: /dhSinglePass-stdDH-sha384kdf-scheme/, sig: /sha256WithRSAEncryption/ },
  ];
  for (const c of cases) {
    it(`${c.recipient}, signed by ${c.signer}: OpenSSL decrypts, verifies the signature, and finds the very key`, async () => {
      const generated = c.generated === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("rsa", { modulusLength: 2048 });
      const pkcs8 = new Uint8Array(generated.privateKey.export({ type: "pkcs8", format: "der" }));
      const recipient = certs[c.recipient];
      const signer = certs[c.signer];
      const der = await serverKeyEnveloped({ pkcs8, recipientCert: recipient.der, signerCert: signer.der, signerKey: signer.privateKey, extraCerts: [certs["other-rsa"].der] });
      const opened = await openWithOpenssl(c.recipient, der, recipient, signer);

      // Outer layer: EnvelopedData around a SignedData, AES-256-CBC, the expected key management.
      expect(opened.enveloped).toMatch(/contentType: pkcs7-envelopedData/);
      expect(opened.enveloped).toMatch(c.ri);
      expect(opened.enveloped).toMatch(c.kea);
      expect(opened.enveloped).toMatch(/encryptedContentInfo:\s*\n\s*contentType: pkcs7-signedData/);
      expect(opened.enveloped).toMatch(/aes-256-cbc/);
      if (c.ri.source.includes("kari")) expect(opened.enveloped).toMatch(/id-aes256-wrap/);
      // Inner layer: SignedData v3 over an id-ct-KP-aKeyPackage, signer and extra certificate included.
      expect(opened.signed).toMatch(/version: 3/);
      expect(opened.signed).toMatch(/eContentType: .*\(2\.16\.840\.1\.101\.2\.1\.2\.78\.5\)/);
      expect(opened.signed).toMatch(c.sig);
      expect(opened.signed).toContain(`CN=${c.signer}`);
      expect(opened.signed).toContain("CN=other-rsa");

      expect(opened.pkcs8.equals(Buffer.from(pkcs8))).toBe(true);
      expect(spki(createPrivateKey({ key: opened.pkcs8, format: "der", type: "pkcs8" })).equals(spki(generated.publicKey))).toBe(true);
    });
  }

  it("another RSA key cannot decrypt it", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const der = await serverKeyEnveloped({
      pkcs8: new Uint8Array(privateKey.export({ type: "pkcs8", format: "der" })),
      recipientCert: certs["rsa-recipient"].der, signerCert: certs["ec-signer"].der, signerKey: certs["ec-signer"].privateKey,
    });
    const p7m = join(dir, "wrong.p7m");
    writeFileSync(p7m, der);
    const r = await opensslAsync(["cms", "-decrypt", "-inform", "DER", "-in", p7m, "-inkey", certs["other-rsa"].key, "-binary", "-out", join(dir, "wrong.out")]);
    expect(r.code).not.toBe(0);
  });

  it("an Ed25519 recipient is refused as not supported; a signer key that is not the certificate's is refused", async () => {
    const pkcs8 = new Uint8Array(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "der" }));
    const ed = serverKeyEnveloped({ pkcs8, recipientCert: certs["ed-recipient"].der, signerCert: certs["ec-signer"].der, signerKey: certs["ec-signer"].privateKey });
    await expect(ed).rejects.toBeInstanceOf(GatewayError);
    await expect(ed).rejects.toMatchObject({ code: "RA_ERR_NOT_SUPPORTED" });
    await expect(serverKeyEnveloped({ pkcs8, recipientCert: certs["ec-recipient"].der, signerCert: certs["ec-signer"].der, signerKey: certs["rsa-signer"].privateKey }))
      .rejects.toThrow(/does not belong to the signer certificate/);
    await expect(serverKeyEnveloped({ pkcs8, recipientCert: Uint8Array.of(0x30, 0x00), signerCert: certs["ec-signer"].der, signerKey: certs["ec-signer"].privateKey }))
      .rejects.toThrow(/recipient certificate is not a usable X\.509 certificate/);
  });
});
