import { randomBytes, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isIP } from "node:net";
import type { Extension } from "@peculiar/asn1-x509";
import { buildName, parseNameString } from "../asn1/name.js";
import { GatewayError } from "../errors.js";
import { defaultAlgorithmFor, type KeySpec, type Signer, type SignatureAlgorithmName } from "../signers/signer.js";
import { SoftwareSigner, generateSoftwareKey } from "../signers/software.js";
import type { CaDescriptor, SignerRef } from "./authority.js";
import { derToPem, keyIdForSpki } from "./authority.js";
import { authorityKeyId, basicConstraints, crlDistributionPoint, extendedKeyUsage, keyUsage, ocspNoCheck, subjectAltName, subjectKeyId } from "./extensions.js";
import { newSerial } from "./serial.js";
import { signCertificate } from "./sign-object.js";
import { buildTbs, publicOf } from "./tbs.js";
import { emptySans } from "../policy/request.js";
import type { SecretRef } from "../config/schema.js";

export type KeyAlgorithmName = "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-3072" | "rsa-4096";

export function keySpecFor(name: KeyAlgorithmName, pss = false): KeySpec {
  if (name === "ec-p256") return { kind: "ec", curve: "P-256" };
  if (name === "ec-p384") return { kind: "ec", curve: "P-384" };
  return { kind: "rsa", bits: Number(name.slice(4)), pss };
}

export interface Pkcs11Target {
  module: string;
  tokenLabel: string;
  pin: string;
  /** How the descriptor refers to the PIN at run time (never the PIN itself unless the operator chose so). */
  pinRef?: SecretRef;
}

/** A new key in software (PEM file 0600 in `dir`) or inside the token; returns its signer and descriptor reference. */
async function newKey(dir: string, label: string, spec: KeySpec, pkcs11?: Pkcs11Target): Promise<{ signer: Signer; ref: SignerRef }> {
  const algorithm: SignatureAlgorithmName = defaultAlgorithmFor(spec);
  if (!pkcs11) {
    const key = generateSoftwareKey(spec);
    const keyFile = `${label}-key.pem`;
    writeSecretFile(join(dir, keyFile), key.export({ type: "pkcs8", format: "pem" }).toString());
    return { signer: new SoftwareSigner(`software:${label}`, key, algorithm), ref: { type: "software", keyFile, algorithm } };
  }
  const { generatePkcs11KeyPair, openPkcs11Signer } = await import("../signers/pkcs11.js");
  const id = randomBytes(8).toString("hex");
  const uri = await generatePkcs11KeyPair({ modulePath: pkcs11.module, tokenLabel: pkcs11.tokenLabel, pin: pkcs11.pin, label, id, spec });
  const signer = await openPkcs11Signer({ uri, modulePath: pkcs11.module, pin: pkcs11.pin, algorithm });
  return { signer, ref: { type: "pkcs11", uri, module: pkcs11.module, pin: pkcs11.pinRef, algorithm } };
}

export function writeSecretFile(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export async function certify(opts: {
  signer: Signer; issuer: Uint8Array | ReturnType<typeof buildName>; subject: ReturnType<typeof buildName>; publicKey: KeyObject;
  days: number; extensions: Extension[];
}): Promise<Uint8Array> {
  const now = new Date(Date.now() - 60_000);
  const tbs = buildTbs({
    serial: newSerial(), issuer: opts.issuer, subject: opts.subject, publicKey: opts.publicKey,
    notBefore: now, notAfter: new Date(now.getTime() + opts.days * 86_400_000), algorithm: opts.signer.algorithm, extensions: opts.extensions,
  });
  return (await signCertificate(opts.signer, tbs)).der;
}

export function spkiDer(key: KeyObject): Uint8Array {
  return new Uint8Array(publicOf(key).export({ type: "spki", format: "der" }));
}

export interface CaInitOptions {
  casDir: string;
  rootName: string;
  issuingName: string;
  rootSubject: string;
  issuingSubject: string;
  keyAlgorithm: KeyAlgorithmName;
  pss?: boolean;
  httpBase: string;
  pkcs11?: Pkcs11Target;
  rootDays?: number;
  issuingDays?: number;
}

/**
 * Creates a root and an issuing CA (keys in software or inside a PKCS#11 token), the
 * issuing CA's delegated OCSP responder, and their `ca.json` descriptors. The root key
 * signs only the issuing CA certificate here (and root CRLs via `gateway ca root-crl`).
 */
export async function initCaPair(o: CaInitOptions): Promise<{ rootDir: string; issuingDir: string }> {
  const rootDir = join(o.casDir, o.rootName);
  const issuingDir = join(o.casDir, o.issuingName);
  for (const d of [rootDir, issuingDir]) {
    if (existsSync(join(d, "ca.json"))) throw new GatewayError("RA_ERR_CONFIG", `a CA already exists in ${d}`);
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  const spec = keySpecFor(o.keyAlgorithm, o.pss);

  const root = await newKey(rootDir, "root", spec, o.pkcs11);
  const rootSubject = parseNameString(o.rootSubject);
  const rootKeyId = keyIdForSpki(spkiDer(root.signer.publicKey));
  const rootDer = await certify({
    signer: root.signer, issuer: rootSubject, subject: rootSubject, publicKey: root.signer.publicKey, days: o.rootDays ?? 7300,
    extensions: [basicConstraints(true, 1), keyUsage(["keyCertSign", "cRLSign"]), subjectKeyId(rootKeyId)],
  });
  writeFileSync(join(rootDir, "cert.pem"), derToPem(rootDer));
  writeDescriptor(rootDir, { name: o.rootName, role: "root", certFile: "cert.pem", chainFiles: [], signer: root.ref });

  const issuing = await newKey(issuingDir, "issuing", spec, o.pkcs11);
  const issuingSubject = parseNameString(o.issuingSubject);
  const issuingKeyId = keyIdForSpki(spkiDer(issuing.signer.publicKey));
  const issuingDer = await certify({
    signer: root.signer, issuer: rootSubject, subject: issuingSubject, publicKey: issuing.signer.publicKey, days: o.issuingDays ?? 3650,
    extensions: [
      basicConstraints(true, 0), keyUsage(["digitalSignature", "keyCertSign", "cRLSign"]), subjectKeyId(issuingKeyId), authorityKeyId(rootKeyId),
      crlDistributionPoint(`${o.httpBase}/crl/${o.rootName}.crl`),
    ],
  });
  writeFileSync(join(issuingDir, "cert.pem"), derToPem(issuingDer));
  writeFileSync(join(issuingDir, "chain.pem"), derToPem(rootDer));

  // Delegated OCSP responder: its own software key so OCSP load never touches the CA key.
  const ocspSpec: KeySpec = spec.kind === "ec" ? spec : { kind: "rsa", bits: 2048 };
  const ocsp = await newKey(issuingDir, "ocsp", ocspSpec);
  const ocspDer = await certify({
    signer: issuing.signer, issuer: issuingSubject, subject: buildName([["CN", `${o.issuingName} OCSP Responder`]]), publicKey: ocsp.signer.publicKey, days: 365,
    extensions: [basicConstraints(false), keyUsage(["digitalSignature"]), extendedKeyUsage(["1.3.6.1.5.5.7.3.9"]), ocspNoCheck(),
      subjectKeyId(keyIdForSpki(spkiDer(ocsp.signer.publicKey))), authorityKeyId(issuingKeyId)],
  });
  writeFileSync(join(issuingDir, "ocsp.pem"), derToPem(ocspDer));
  writeDescriptor(issuingDir, {
    name: o.issuingName, role: "issuing", certFile: "cert.pem", chainFiles: ["chain.pem"], signer: issuing.ref,
    ocsp: { certFile: "ocsp.pem", signer: ocsp.ref },
  });
  for (const s of [root.signer, issuing.signer]) await s.close?.();
  return { rootDir, issuingDir };
}

function writeDescriptor(dir: string, d: CaDescriptor): void {
  writeFileSync(join(dir, "ca.json"), `${JSON.stringify(d, null, 2)}\n`);
}

/** TLS server certificate for the HTTPS listener, issued by the issuing CA. */
export async function issueTlsServerCert(issuer: { signer: Signer; subjectDer: Uint8Array; keyId: Uint8Array }, names: string[], outDir: string): Promise<void> {
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const key = generateSoftwareKey({ kind: "ec", curve: "P-256" });
  const sans = emptySans();
  for (const n of names) (isIP(n) ? sans.ip : sans.dns).push(n);
  const der = await certify({
    signer: issuer.signer, issuer: issuer.subjectDer, subject: buildName([["CN", names[0] ?? "localhost"]]), publicKey: key, days: 397,
    extensions: [basicConstraints(false), keyUsage(["digitalSignature"]), extendedKeyUsage(["1.3.6.1.5.5.7.3.1"]), subjectAltName(sans, false),
      subjectKeyId(keyIdForSpki(spkiDer(key))), authorityKeyId(issuer.keyId)],
  });
  writeFileSync(join(outDir, "server.pem"), derToPem(der));
  writeSecretFile(join(outDir, "server-key.pem"), key.export({ type: "pkcs8", format: "pem" }).toString());
}
