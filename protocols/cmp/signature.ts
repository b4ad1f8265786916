import type { KeyObject } from "node:crypto";
import type { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { verifyParamsFor, verifySignature } from "../../src/asn1/algorithms.js";
import { importSpki } from "../../src/asn1/spki-import.js";

/** Key types each allowed signature algorithm needs: node:crypto would otherwise try e.g. an RSA OID with an EC key. */
const KEY_TYPES: Record<string, readonly string[]> = {
  "1.2.840.10045.4.3.2": ["ec"],
  "1.2.840.10045.4.3.3": ["ec"],
  "1.2.840.10045.4.3.4": ["ec"],
  "1.2.840.113549.1.1.11": ["rsa"],
  "1.2.840.113549.1.1.12": ["rsa"],
  "1.2.840.113549.1.1.13": ["rsa"],
  "1.2.840.113549.1.1.10": ["rsa", "rsa-pss"],
  "1.3.101.112": ["ed25519"],
  "1.3.101.113": ["ed448"],
  // ML-DSA (RFC 9881): the level is part of the key type, so an ML-DSA-44 key cannot pass for an ML-DSA-65 signature.
  "2.16.840.1.101.3.4.3.17": ["ml-dsa-44"],
  "2.16.840.1.101.3.4.3.18": ["ml-dsa-65"],
  "2.16.840.1.101.3.4.3.19": ["ml-dsa-87"],
};

/**
 * Verifies `signature` over `data` with the algorithm named by `alg` (allow-list of src/asn1/algorithms.ts:
 * ECDSA, RSA PKCS#1 v1.5 and PSS with SHA-2, Ed25519, Ed448, ML-DSA; nothing with MD5 or SHA-1).
 */
/** `key` as SPKI DER must have passed checkDer (it comes from a decoded message). */
export function verifyAlgSignature(key: KeyObject | Uint8Array, alg: AlgorithmIdentifier, data: Uint8Array, signature: Uint8Array): { ok: boolean; reason?: string } {
  const keyTypes = KEY_TYPES[alg.algorithm];
  let params;
  try {
    params = keyTypes ? verifyParamsFor(alg) : undefined;
  } catch {
    params = undefined;
  }
  if (!keyTypes || !params) return { ok: false, reason: `signature algorithm ${alg.algorithm} is not allowed` };
  let pub: KeyObject;
  try {
    pub = key instanceof Uint8Array ? importSpki(key) : key;
  } catch {
    return { ok: false, reason: "public key is not usable" };
  }
  if (!keyTypes.includes(pub.asymmetricKeyType ?? "")) return { ok: false, reason: `a ${pub.asymmetricKeyType} key cannot verify ${alg.algorithm}` };
  return verifySignature(pub, params, data, signature) ? { ok: true } : { ok: false, reason: "signature does not verify" };
}
