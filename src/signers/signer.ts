import type { KeyObject } from "node:crypto";

/** Signature algorithms the gateway can produce, named by key type and hash. */
export type SignatureAlgorithmName =
  | "ecdsa-sha256"
  | "ecdsa-sha384"
  | "ecdsa-sha512"
  | "rsa-pkcs1-sha256"
  | "rsa-pkcs1-sha384"
  | "rsa-pkcs1-sha512"
  | "rsa-pss-sha256"
  | "rsa-pss-sha384"
  | "rsa-pss-sha512"
  | "ml-dsa-44"
  | "ml-dsa-65"
  | "ml-dsa-87";

/** ML-DSA security levels (FIPS 204 parameter sets). */
export type MlDsaLevel = 44 | 65 | 87;
export const ML_DSA_LEVELS: readonly MlDsaLevel[] = [44, 65, 87];

export type KeySpec =
  | { kind: "ec"; curve: "P-256" | "P-384" }
  | { kind: "rsa"; bits: number; pss?: boolean }
  | { kind: "ml-dsa"; level: MlDsaLevel };

/**
 * The one interface every signing key sits behind (software or PKCS#11).
 * `sign` receives the exact bytes to be signed (e.g. a DER TBSCertificate) and
 * returns the signature in X.509 encoding: DER `Ecdsa-Sig-Value` for ECDSA,
 * the raw big-endian signature for RSA, the raw octets for ML-DSA (RFC 9881).
 */
export interface Signer {
  /** Stable description for logs and /readyz, never secret (e.g. "software:issuing-ca" or a pkcs11: URI without PIN). */
  readonly id: string;
  readonly publicKey: KeyObject;
  readonly algorithm: SignatureAlgorithmName;
  sign(data: Uint8Array): Promise<Buffer>;
  /**
   * Whether every signature is checked against `publicKey` before anyone sees it (signAndVerify). Absent
   * means yes. A PKCS#11 signer says yes: a token fault or a public key object that does not belong to the
   * private key must never reach a certificate, and a faulty RSA-CRT signature would leak the key. A software
   * signer says no: node:crypto just signed with the key `publicKey` was derived from in this process, and
   * OpenSSL already checks its own RSA-CRT results; a second check would cost more than the signature.
   */
  readonly verifyAfterSign?: boolean;
  /** Cheap liveness probe (token present, session open). */
  ping(): Promise<boolean>;
  close?(): Promise<void>;
}

export function defaultAlgorithmFor(spec: KeySpec): SignatureAlgorithmName {
  if (spec.kind === "ml-dsa") return `ml-dsa-${spec.level}`;
  if (spec.kind === "ec") return spec.curve === "P-384" ? "ecdsa-sha384" : "ecdsa-sha256";
  return spec.pss ? "rsa-pss-sha256" : "rsa-pkcs1-sha256";
}

/** ML-DSA signs the message itself (pure mode, empty context): no hash is chosen outside the algorithm. */
export function isMlDsa(alg: SignatureAlgorithmName): alg is "ml-dsa-44" | "ml-dsa-65" | "ml-dsa-87" {
  return alg.startsWith("ml-dsa");
}

/**
 * The hash an algorithm signs with; for ML-DSA, the digest to pair with it where a protocol needs one next to the
 * signature (SHA-512, as RFC 9882 asks for CMS).
 */
export function hashOf(alg: SignatureAlgorithmName): "sha256" | "sha384" | "sha512" {
  if (isMlDsa(alg)) return "sha512";
  return alg.endsWith("sha512") ? "sha512" : alg.endsWith("sha384") ? "sha384" : "sha256";
}
