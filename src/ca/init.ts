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

export const KEY_ALGORITHMS = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87"] as const;
export type KeyAlgorithmName = (typeof KEY_ALGORITHMS)[number];

export function keySpecFor(name: KeyAlgorithmName, pss = false): KeySpec {
  if (name.startsWith("ml-dsa-")) return { kind: "ml-dsa", level: Number(name.slice(7)) as 44 | 65 | 87 };
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
  /** The issuing CA's key (and the root's unless rootKeyAlgorithm says otherwise). */
  keyAlgorithm: KeyAlgorithmName;
  /** The root's key when it differs from the issuing CA's: a mixed chain (e.g. ML-DSA under ECDSA). */
  rootKeyAlgorithm?: KeyAlgorithmName;
  /** Create only the issuing CA, under this existing root CA of `casDir` (its key signs the new certificate). */
  under?: string;
  pss?: boolean;
  httpBase: string;
  pkcs11?: Pkcs11Target;
  rootDays?: number;
  issuingDays?: number;
}

/** The root that signs a new issuing CA: made now, or an existing one of `casDir` (`under`). */
interface RootPart { name: string; dir: string; signer: Signer; subject: Uint8Array | ReturnType<typeof buildName>; keyId: Uint8Array; der: Uint8Array; chain: Uint8Array[] }

async function newRoot(o: CaInitOptions, spec: KeySpec): Promise<RootPart> {
  const dir = join(o.casDir, o.rootName);
  const root = await newKey(dir, "root", spec, o.pkcs11);
  const subject = parseNameString(o.rootSubject);
  const keyId = keyIdForSpki(spkiDer(root.signer.publicKey));
  const der = await certify({
    signer: root.signer, issuer: subject, subject, publicKey: root.signer.publicKey, days: o.rootDays ?? 7300,
    extensions: [basicConstraints(true, 1), keyUsage(["keyCertSign", "cRLSign"]), subjectKeyId(keyId)],
  });
  writeFileSync(join(dir, "cert.pem"), derToPem(der));
  writeDescriptor(dir, { name: o.rootName, role: "root", certFile: "cert.pem", chainFiles: [], signer: root.ref });
  return { name: o.rootName, dir, signer: root.signer, subject, keyId, der, chain: [] };
}

async function existingRoot(o: CaInitOptions, name: string): Promise<RootPart> {
  const dir = join(o.casDir, name);
  if (!existsSync(join(dir, "ca.json"))) throw new GatewayError("RA_ERR_CONFIG", `no CA named ${name} in ${o.casDir}`);
  const { loadAuthority } = await import("./authority.js");
  const ca = await loadAuthority(dir);
  if (!ca.cert.ca) throw new GatewayError("RA_ERR_CONFIG", `${name} is not a CA certificate`);
  return { name, dir, signer: ca.signer, subject: ca.subjectDer, keyId: ca.keyId, der: ca.certDer, chain: ca.chain };
}

/**
 * Creates a root and an issuing CA (keys in software or inside a PKCS#11 token), or only an issuing CA under an
 * existing root (`under`), the issuing CA's delegated OCSP responder, and their `ca.json` descriptors. The root
 * key signs only the issuing CA certificate here (and root CRLs via `gateway ca root-crl`). Root and issuing CA
 * may use different algorithms (rootKeyAlgorithm, or an existing root): operators migrate one layer at a time.
 */
export async function initCaPair(o: CaInitOptions): Promise<{ rootDir: string; issuingDir: string }> {
  const rootDir = join(o.casDir, o.under ?? o.rootName);
  const issuingDir = join(o.casDir, o.issuingName);
  for (const d of o.under ? [issuingDir] : [rootDir, issuingDir]) {
    if (existsSync(join(d, "ca.json"))) throw new GatewayError("RA_ERR_CONFIG", `a CA already exists in ${d}`);
  }
  const spec = keySpecFor(o.keyAlgorithm, o.pss);
  // Everything is checked before anything is written: a refused name or key leaves no directory behind.
  if (o.pkcs11) {
    const { checkPkcs11KeySpecs } = await import("../signers/pkcs11.js");
    checkPkcs11KeySpecs(o.pkcs11.module, o.pkcs11.tokenLabel, o.under ? [spec] : [spec, keySpecFor(o.rootKeyAlgorithm ?? o.keyAlgorithm, o.pss)]);
  }
  const root = o.under ? await existingRoot(o, o.under) : undefined;
  for (const d of o.under ? [issuingDir] : [rootDir, issuingDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const top = root ?? await newRoot(o, keySpecFor(o.rootKeyAlgorithm ?? o.keyAlgorithm, o.pss));
  try {
    const issuing = await newKey(issuingDir, "issuing", spec, o.pkcs11);
    const issuingSubject = parseNameString(o.issuingSubject);
    const issuingKeyId = keyIdForSpki(spkiDer(issuing.signer.publicKey));
    const issuingDer = await certify({
      signer: top.signer, issuer: top.subject, subject: issuingSubject, publicKey: issuing.signer.publicKey, days: o.issuingDays ?? 3650,
      extensions: [
        basicConstraints(true, 0), keyUsage(["digitalSignature", "keyCertSign", "cRLSign"]), subjectKeyId(issuingKeyId), authorityKeyId(top.keyId),
        crlDistributionPoint(`${o.httpBase}/crl/${top.name}.crl`),
      ],
    });
    writeFileSync(join(issuingDir, "cert.pem"), derToPem(issuingDer));
    writeFileSync(join(issuingDir, "chain.pem"), [top.der, ...top.chain].map((d) => derToPem(d)).join(""));

    // Delegated OCSP responder: its own software key so OCSP load never touches the CA key; the CA's algorithm
    // family, so an ML-DSA CA's OCSP answers are ML-DSA-signed too (RSA CAs get a 2048-bit responder).
    const ocspSpec: KeySpec = spec.kind === "rsa" ? { kind: "rsa", bits: 2048 } : spec;
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
    await issuing.signer.close?.();
  } finally {
    await top.signer.close?.();
  }
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
