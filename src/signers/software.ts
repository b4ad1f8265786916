import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, constants, type KeyObject } from "node:crypto";
import { hashOf, isMlDsa, type KeySpec, type Signer, type SignatureAlgorithmName } from "./signer.js";

/** Signer backed by a node:crypto KeyObject (dev default and delegated OCSP/TLS keys). */
export class SoftwareSigner implements Signer {
  readonly publicKey: KeyObject;
  /** See Signer.verifyAfterSign: the key is in this process, a check after signing guards nothing. */
  readonly verifyAfterSign = false;
  constructor(
    readonly id: string,
    private readonly privateKey: KeyObject,
    readonly algorithm: SignatureAlgorithmName,
  ) {
    this.publicKey = createPublicKey(privateKey);
  }

  static fromPem(id: string, pem: string, algorithm: SignatureAlgorithmName): SoftwareSigner {
    return new SoftwareSigner(id, createPrivateKey(pem), algorithm);
  }

  async sign(data: Uint8Array): Promise<Buffer> {
    return this.signSync(data);
  }

  signSync(data: Uint8Array): Buffer {
    // ML-DSA: pure mode, empty context (RFC 9881); OpenSSL hashes inside the algorithm.
    if (isMlDsa(this.algorithm)) return cryptoSign(null, data, this.privateKey);
    const hash = hashOf(this.algorithm);
    if (this.algorithm.startsWith("rsa-pss")) {
      return cryptoSign(hash, data, {
        key: this.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: hashLength(hash),
      });
    }
    // ECDSA: node returns DER Ecdsa-Sig-Value by default, which is what X.509 wants.
    return cryptoSign(hash, data, this.privateKey);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  /** PKCS#8 PEM (ML-DSA in the 32-byte seed form), for writing a key file with mode 0600. Never logged. */
  exportPkcs8Pem(): string {
    return this.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  }
}

export function hashLength(hash: "sha256" | "sha384" | "sha512"): number {
  return hash === "sha512" ? 64 : hash === "sha384" ? 48 : 32;
}

/** A new private key; an ML-DSA key exports as PKCS#8 in the seed form (RFC 9881 `seed [0]`), 54 bytes. */
export function generateSoftwareKey(spec: KeySpec): KeyObject {
  if (spec.kind === "ml-dsa") return generateKeyPairSync(`ml-dsa-${spec.level}`).privateKey;
  if (spec.kind === "ec") {
    return generateKeyPairSync("ec", { namedCurve: spec.curve === "P-384" ? "secp384r1" : "prime256v1" }).privateKey;
  }
  return generateKeyPairSync("rsa", { modulusLength: spec.bits, publicExponent: 65537 }).privateKey;
}
