import { constants, createPrivateKey, privateDecrypt, sign as cryptoSign, X509Certificate, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildName } from "../asn1/name.js";
import { GatewayError } from "../errors.js";
import { hashOf, type Signer } from "../signers/signer.js";
import { generateSoftwareKey } from "../signers/software.js";
import { derToPem, keyIdForSpki, openSigner, pemToDer, type CertificateAuthority } from "./authority.js";
import { authorityKeyId, basicConstraints, keyUsage, subjectKeyId } from "./extensions.js";
import { certify, spkiDer, writeSecretFile } from "./init.js";
import type { SignerRef } from "./signer-ref.js";

/**
 * A registration authority key (SCEP): it signs the RA's answers and unwraps the content keys
 * clients encrypt to its certificate. Always RSA, since SCEP clients use RSA key transport.
 */
export interface RaKey {
  id: string;
  certDer: Uint8Array;
  cert: X509Certificate;
  /** Set when the key signs with one hash only (a token opened for one mechanism): answers use it. */
  fixedHash?: "sha256" | "sha384" | "sha512";
  /** RSA PKCS#1 v1.5 signature with the given hash (`fixedHash` when set). */
  sign(data: Uint8Array, hash: "sha1" | "sha256" | "sha384" | "sha512"): Promise<Uint8Array>;
  /** The raw RSA private operation (no padding removed). */
  rawRsaDecrypt(block: Uint8Array): Promise<Uint8Array>;
  close?(): Promise<void>;
}

function requireRsa(cert: X509Certificate, where: string): void {
  if (cert.publicKey.asymmetricKeyType !== "rsa") throw new GatewayError("RA_ERR_CONFIG", `${where}: the RA key must be RSA (SCEP clients encrypt to it with RSA)`);
}

/** Opens an RA key configured by the operator: a PEM key file or a PKCS#11 object with sign and decrypt rights. */
export async function openRaKey(certFile: string, ref: SignerRef, baseDir: string, where: string): Promise<RaKey> {
  const certDer = pemToDer(readFileSync(resolve(baseDir, certFile), "utf8"));
  const cert = new X509Certificate(certDer);
  requireRsa(cert, where);
  if (ref.type === "software") {
    const key = createPrivateKey(readFileSync(resolve(baseDir, ref.keyFile)));
    return softwareRa(where, certDer, cert, key);
  }
  const signer = await openSigner(ref, baseDir, where);
  const p11 = signer as Signer & { rawRsaDecrypt?: (b: Uint8Array) => Buffer };
  if (!p11.rawRsaDecrypt) throw new GatewayError("RA_ERR_CONFIG", `${where}: this signer cannot decrypt`);
  return {
    id: signer.id, certDer, cert, fixedHash: hashOf(signer.algorithm),
    // The token signs with the algorithm it was opened with; SCEP answers name that hash.
    sign: async (data) => new Uint8Array(await signer.sign(data)),
    rawRsaDecrypt: async (block) => new Uint8Array(p11.rawRsaDecrypt!(block)),
    close: () => signer.close?.() ?? Promise.resolve(),
  };
}

function softwareRa(id: string, certDer: Uint8Array, cert: X509Certificate, key: ReturnType<typeof createPrivateKey>): RaKey {
  return {
    id: `software:${id}`, certDer, cert,
    // The callback form signs on libuv's thread pool: the RSA private operation leaves the event loop.
    sign: (data, hash) => new Promise((resolve, reject) => cryptoSign(hash, data, key, (e, sig) => (e ? reject(e) : resolve(new Uint8Array(sig))))),
    rawRsaDecrypt: async (block) => new Uint8Array(privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, block)),
  };
}

/** The RA certificate for a key (software or token): RSA, digitalSignature + keyEncipherment, under `ca`. */
async function raCertificate(ca: CertificateAuthority, publicKey: KeyObject, subject: string): Promise<Uint8Array> {
  return certify({
    signer: ca.signer, issuer: ca.subjectDer, subject: buildName([["O", "Enrollment Gateway"], ["CN", subject]]), publicKey, days: 825,
    extensions: [basicConstraints(false), keyUsage(["digitalSignature", "keyEncipherment"]), subjectKeyId(keyIdForSpki(spkiDer(publicKey))), authorityKeyId(ca.keyId)],
  });
}

/**
 * An RA key made in a PKCS#11 token (RSA-2048, sign and decrypt, never extractable) with its certificate
 * under `ca`, written to `certPath`. Returns the key's `pkcs11:` URI for the `ra:` configuration.
 */
export async function initPkcs11Ra(o: { ca: CertificateAuthority; modulePath: string; tokenLabel: string; pin: string; label: string; subject: string; certPath: string }): Promise<string> {
  const { generatePkcs11KeyPair, openPkcs11Signer } = await import("../signers/pkcs11.js");
  const uri = await generatePkcs11KeyPair({ modulePath: o.modulePath, tokenLabel: o.tokenLabel, pin: o.pin, label: o.label, spec: { kind: "rsa", bits: 2048 }, decrypt: true });
  const signer = await openPkcs11Signer({ uri, modulePath: o.modulePath, pin: o.pin, algorithm: "rsa-pkcs1-sha256" });
  try {
    writeFileSync(o.certPath, derToPem(await raCertificate(o.ca, signer.publicKey, o.subject)));
  } finally {
    await signer.close?.();
  }
  return uri;
}

/**
 * The RA certificate the gateway makes for itself on first start (RSA-2048 under `ca`, software key in
 * `dir`), or the one made before. Returns whether it was created now, for the audit trail.
 */
export async function ensureSoftwareRa(ca: CertificateAuthority, dir: string, subject: string): Promise<{ ra: RaKey; created: boolean }> {
  const certPath = join(dir, "ra.pem");
  const keyPath = join(dir, "ra-key.pem");
  let created = false;
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = generateSoftwareKey({ kind: "rsa", bits: 2048 });
    const der = await raCertificate(ca, key, subject);
    writeSecretFile(keyPath, key.export({ type: "pkcs8", format: "pem" }).toString());
    writeFileSync(certPath, derToPem(der));
    created = true;
  }
  const certDer = pemToDer(readFileSync(certPath, "utf8"));
  const cert = new X509Certificate(certDer);
  requireRsa(cert, certPath);
  return { ra: softwareRa(certPath, certDer, cert, createPrivateKey(readFileSync(keyPath))), created };
}
