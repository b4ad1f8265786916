import "reflect-metadata";
import { createPrivateKey, createPublicKey, KeyObject, webcrypto, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentInfo } from "../../src/cms/der.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import { opensslAsync } from "../helpers/openssl.js";
import { curl, EST_USER, estEnv, makeCsr, pkcs10, type CurlResult, type EstEnv } from "./setup.js";

let env: EstEnv;
beforeAll(async () => {
  env = await estEnv({ extraLabels: [{ name: "nokeygen", profile: "device", serverKeyGen: false, auth: { users: [EST_USER] } }] });
});
afterAll(async () => {
  await env?.close();
});

const mtls = () => ["--cert", env.boot.deviceCert, "--key", env.boot.deviceKey];

interface Part {
  headers: Record<string, string>;
  der: Buffer;
}

/** Splits a multipart/mixed answer on the boundary its Content-Type names. */
function parts(r: CurlResult): Part[] {
  const m = /^multipart\/mixed;\s*boundary="?([^";]+)"?/i.exec(r.headers["content-type"] ?? "");
  expect(m, r.headers["content-type"]).not.toBeNull();
  const text = r.body.toString("latin1");
  return text.split(`--${m![1]}`).slice(1, -1).map((chunk) => {
    const [head, ...rest] = chunk.replace(/^\r\n/, "").split("\r\n\r\n");
    const headers: Record<string, string> = {};
    for (const l of head.split("\r\n")) {
      const i = l.indexOf(":");
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    return { headers, der: Buffer.from(rest.join("\r\n\r\n").replace(/\s+/g, ""), "base64") };
  });
}

/** The certificate in the certs-only part, after `openssl verify` accepted it. */
async function certOf(part: Part, name: string): Promise<X509Certificate> {
  expect(part.headers["content-type"]).toBe("application/pkcs7-mime; smime-type=certs-only");
  const p7 = join(env.dir, `${name}.p7`);
  writeFileSync(p7, part.der);
  const pem = join(env.dir, `${name}.pem`);
  expect((await opensslAsync(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs", "-out", pem])).code).toBe(0);
  expect((await opensslAsync(["verify", "-CAfile", env.rootPem, "-untrusted", env.issuingPem, pem])).out).toContain(": OK");
  return new X509Certificate(readFileSync(pem));
}

const spkiOf = (k: Parameters<typeof createPublicKey>[0]) =>
  (k instanceof KeyObject && k.type === "public" ? k : createPublicKey(k)).export({ type: "spki", format: "der" });

describe("EST serverkeygen", () => {
  it("over mutual TLS: the PKCS#8 key in clear and its certificate, which match; the key is not stored", async () => {
    const csr = makeCsr(env.dir, "skg1", { subject: "/CN=skg1.example.com", sans: "DNS:skg1.example.com" });
    const r = await curl(env, [...mtls(), ...pkcs10, "--data-binary", `@${csr.body}`, `${env.base}/serverkeygen`]);
    expect(r.status, r.body.toString()).toBe(200);
    const [keyPart, certPart] = parts(r);
    expect(keyPart.headers["content-type"]).toBe("application/pkcs8");
    expect(keyPart.headers["content-transfer-encoding"]).toBe("base64");
    const keyFile = join(env.dir, "skg1.key.der");
    writeFileSync(keyFile, keyPart.der);
    expect((await opensslAsync(["pkey", "-inform", "DER", "-in", keyFile, "-noout", "-check"])).out).toContain("valid");
    const cert = await certOf(certPart, "skg1");
    const key = createPrivateKey({ key: keyPart.der, format: "der", type: "pkcs8" });
    expect(spkiOf(key).equals(spkiOf(cert.publicKey))).toBe(true);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe("prime256v1"); // the device profile's first key rule
    // The CSR's own key is not what was certified.
    expect(spkiOf(readFileSync(csr.key)).equals(spkiOf(cert.publicKey))).toBe(false);
    const rec = (await env.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    const row = JSON.stringify(await env.t.gw.store.getRequest(rec.requestId));
    expect(row).not.toContain(keyPart.der.toString("base64").slice(10, 60));
  });

  it("over Basic only and without key encryption: refused, nothing issued", async () => {
    const before = (await env.t.gw.store.findCertificates({ limit: 1000 })).length;
    const csr = makeCsr(env.dir, "skg2", { subject: "/CN=skg2.example.com" });
    const r = await curl(env, ["-u", `${EST_USER.name}:${EST_USER.password}`, ...pkcs10, "--data-binary", `@${csr.body}`, `${env.base}/serverkeygen`]);
    expect(r.status).toBe(403);
    expect(r.body.toString()).toContain("mutually authenticated TLS");
    expect((await env.t.gw.store.findCertificates({ limit: 1000 })).length).toBe(before);
  });

  it("with AsymmetricDecryptKeyIdentifier: the key comes enveloped to the TLS client certificate, and OpenSSL decrypts it", async () => {
    // The SKI of the client certificate, as OpenSSL reads it.
    const skiText = (await opensslAsync(["x509", "-in", env.boot.deviceCert, "-noout", "-ext", "subjectKeyIdentifier"])).out;
    const ski = Buffer.from(/([0-9A-F]{2}(:[0-9A-F]{2})+)/.exec(skiText)![1].replace(/:/g, ""), "hex");
    const body = await csrWithKeyIdAttribute("skg3", ASYMMETRIC_DECRYPT_KEY_ID, ski);
    const r = await curl(env, [...mtls(), ...pkcs10, "--data-binary", `@${body}`, `${env.base}/serverkeygen`]);
    expect(r.status, r.body.toString()).toBe(200);
    const [keyPart, certPart] = parts(r);
    expect(keyPart.headers["content-type"]).toBe("application/pkcs7-mime; smime-type=server-generated-key");
    const cert = await certOf(certPart, "skg3");
    const keyPackage = await decryptKeyPart(keyPart.der);
    expect(spkiOf(createPrivateKey({ key: keyPackage, format: "der", type: "pkcs8" })).equals(spkiOf(cert.publicKey))).toBe(true);
  });

  it("a symmetric DecryptKeyIdentifier is refused as not supported, and a label can turn serverkeygen off", async () => {
    const body = await csrWithKeyIdAttribute("skg5", DECRYPT_KEY_ID, Buffer.from("0102030405060708", "hex"));
    const sym = await curl(env, [...mtls(), ...pkcs10, "--data-binary", `@${body}`, `${env.base}/serverkeygen`]);
    expect(sym.status).toBe(400);
    expect(sym.headers["x-error-code"]).toBe("RA_ERR_NOT_SUPPORTED");
    const csr = makeCsr(env.dir, "skg4", { subject: "/CN=skg4.example.com" });
    const off = await curl(env, ["-u", `${EST_USER.name}:${EST_USER.password}`, ...pkcs10, "--data-binary", `@${csr.body}`, `${env.base}/nokeygen/serverkeygen`]);
    expect(off.status).toBe(501);
  });
});

const ASYMMETRIC_DECRYPT_KEY_ID = "1.2.840.113549.1.9.16.2.54";
const DECRYPT_KEY_ID = "1.2.840.113549.1.9.16.2.37";

/** A CSR (base64 body file) carrying one key-identifier attribute (an OCTET STRING), as RFC 7030 §4.4.1 clients send. */
async function csrWithKeyIdAttribute(name: string, oid: string, keyId: Buffer): Promise<string> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const octet = Buffer.concat([Buffer.from([0x04, keyId.length]), keyId]);
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}.example.com`, keys: keys as CryptoKeyPair, signingAlgorithm: alg,
    attributes: [new x509.Attribute(oid, [octet.buffer.slice(octet.byteOffset, octet.byteOffset + octet.length)])],
  });
  const body = join(env.dir, `${name}.b64`);
  writeFileSync(body, Buffer.from(req.rawData).toString("base64"));
  return body;
}

/**
 * OpenSSL opens the RFC 7030 §4.4.2 structure: decrypt the enveloped layer with the device key,
 * verify the server's signature (its TLS certificate chains to the dev root), and return the PKCS#8
 * private key from the key package.
 */
async function decryptKeyPart(der: Buffer): Promise<Buffer> {
  // Outside: EnvelopedData to the device's key; inside: the server's SignedData over the key package.
  const enveloped = join(env.dir, "skg3.enveloped.der");
  writeFileSync(enveloped, der);
  const inner = join(env.dir, "skg3.signed-content.der");
  const d = await opensslAsync(["cms", "-decrypt", "-inform", "DER", "-in", enveloped, "-recip", env.boot.deviceCert, "-inkey", env.boot.deviceKey, "-binary", "-out", inner]);
  expect(d.code, d.out).toBe(0);
  // The decrypted content is a bare SignedData (RFC 5652 nesting); OpenSSL reads it as a ContentInfo.
  // The signer is the TLS server certificate (serverAuth), hence "-purpose any".
  const signed = join(env.dir, "skg3.signed.der");
  writeFileSync(signed, contentInfo("1.2.840.113549.1.7.2", readFileSync(inner)));
  const pkg = join(env.dir, "skg3.package.der");
  const v = await opensslAsync(["cms", "-verify", "-inform", "DER", "-in", signed, "-CAfile", env.rootPem, "-purpose", "any", "-binary", "-out", pkg]);
  expect(v.code, v.out).toBe(0);
  // AsymmetricKeyPackage ::= SEQUENCE OF OneAsymmetricKey: the first element is our PKCS#8 key.
  const bytes = readFileSync(pkg);
  const parsed = await opensslAsync(["asn1parse", "-inform", "DER", "-in", pkg]);
  expect(parsed.code).toBe(0);
  const m = /^\s*(\d+):d=1\s+hl=(\d+)\s+l=\s*(\d+)/m.exec(parsed.out)!;
  const [off, hl, len] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return bytes.subarray(off, off + hl + len);
}
