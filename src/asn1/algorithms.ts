import { createPublicKey, verify as cryptoVerify, constants, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { RsaSaPssParams, id_mgf1, sha256, sha384, sha512 } from "@peculiar/asn1-rsa";
import { hashOf, isMlDsa, type MlDsaLevel, type SignatureAlgorithmName } from "../signers/signer.js";

const OID = {
  ecdsaSha256: "1.2.840.10045.4.3.2",
  ecdsaSha384: "1.2.840.10045.4.3.3",
  ecdsaSha512: "1.2.840.10045.4.3.4",
  rsaSha256: "1.2.840.113549.1.1.11",
  rsaSha384: "1.2.840.113549.1.1.12",
  rsaSha512: "1.2.840.113549.1.1.13",
  rsaPss: "1.2.840.113549.1.1.10",
  ed25519: "1.3.101.112",
  ed448: "1.3.101.113",
} as const;

/** id-ml-dsa-44/65/87 (RFC 9881): the same OID names the key (SPKI) and the signature; parameters absent in both. */
export const ML_DSA_OIDS: Readonly<Record<MlDsaLevel, string>> = { 44: "2.16.840.1.101.3.4.3.17", 65: "2.16.840.1.101.3.4.3.18", 87: "2.16.840.1.101.3.4.3.19" };
const ML_DSA_BY_OID: Readonly<Record<string, MlDsaLevel>> = { [ML_DSA_OIDS[44]]: 44, [ML_DSA_OIDS[65]]: 65, [ML_DSA_OIDS[87]]: 87 };

/** The ML-DSA level an OID names, if it names one. */
export function mlDsaLevelOf(oid: string): MlDsaLevel | undefined {
  return ML_DSA_BY_OID[oid];
}

/** FIPS 204 sizes: public key and signature octets per level. */
export const ML_DSA_SIZES: Readonly<Record<MlDsaLevel, { publicKey: number; signature: number }>> = {
  44: { publicKey: 1312, signature: 2420 }, 65: { publicKey: 1952, signature: 3309 }, 87: { publicKey: 2592, signature: 4627 },
};

/** OIDs of signature algorithms we refuse to accept on input (MD2/MD4/MD5/SHA-1 based). */
export const WEAK_SIGNATURE_OIDS = new Set([
  "1.2.840.113549.1.1.2", // md2WithRSA
  "1.2.840.113549.1.1.3", // md4WithRSA
  "1.2.840.113549.1.1.4", // md5WithRSA
  "1.2.840.113549.1.1.5", // sha1WithRSA
  "1.3.14.3.2.29", // sha1WithRSA (OIW)
  "1.2.840.10045.4.1", // ecdsa-with-SHA1
  "1.2.840.10040.4.3", // dsa-with-sha1
]);

const NULL_PARAMS = new Uint8Array([0x05, 0x00]).buffer;
const HASH_ALG = { sha256, sha384, sha512 } as const;
const HASH_LEN = { sha256: 32, sha384: 48, sha512: 64 } as const;

export function algorithmIdentifier(alg: SignatureAlgorithmName): AlgorithmIdentifier {
  if (isMlDsa(alg)) return new AlgorithmIdentifier({ algorithm: ML_DSA_OIDS[Number(alg.slice(7)) as MlDsaLevel] });
  const hash = hashOf(alg);
  if (alg.startsWith("ecdsa")) {
    return new AlgorithmIdentifier({ algorithm: hash === "sha512" ? OID.ecdsaSha512 : hash === "sha384" ? OID.ecdsaSha384 : OID.ecdsaSha256 });
  }
  if (alg.startsWith("rsa-pkcs1")) {
    const oid = hash === "sha512" ? OID.rsaSha512 : hash === "sha384" ? OID.rsaSha384 : OID.rsaSha256;
    return new AlgorithmIdentifier({ algorithm: oid, parameters: NULL_PARAMS });
  }
  const params = new RsaSaPssParams({
    hashAlgorithm: HASH_ALG[hash],
    maskGenAlgorithm: new AlgorithmIdentifier({ algorithm: id_mgf1, parameters: AsnConvert.serialize(HASH_ALG[hash]) }),
    saltLength: HASH_LEN[hash],
  });
  return new AlgorithmIdentifier({ algorithm: OID.rsaPss, parameters: AsnConvert.serialize(params) });
}

/**
 * `hash: null` is for EdDSA and ML-DSA, which hash internally; `keyType` is the one node:crypto key type that may
 * verify (the OID names the key as well as the signature: an ML-DSA-44 key never verifies an ML-DSA-65 signature).
 */
export type VerifyParams = { hash: "sha256" | "sha384" | "sha512" | null; pss?: { saltLength: number }; keyType?: string };

/**
 * Maps a signature AlgorithmIdentifier from untrusted input to verification parameters.
 * Returns undefined for anything not on the allow-list (including all MD5/SHA-1 algorithms).
 */
export function verifyParamsFor(alg: AlgorithmIdentifier): VerifyParams | undefined {
  switch (alg.algorithm) {
    case OID.ecdsaSha256: case OID.rsaSha256: return { hash: "sha256" };
    case OID.ecdsaSha384: case OID.rsaSha384: return { hash: "sha384" };
    case OID.ecdsaSha512: case OID.rsaSha512: return { hash: "sha512" };
    case OID.rsaPss: {
      if (!alg.parameters) return undefined;
      const p = AsnConvert.parse(alg.parameters, RsaSaPssParams);
      const name = Object.entries(HASH_ALG).find(([, v]) => v.algorithm === p.hashAlgorithm.algorithm)?.[0] as "sha256" | "sha384" | "sha512" | undefined;
      if (!name || p.saltLength > 512) return undefined;
      return { hash: name, pss: { saltLength: p.saltLength } };
    }
    case OID.ed25519: return { hash: null, keyType: "ed25519" };
    case OID.ed448: return { hash: null, keyType: "ed448" };
    default: {
      const level = ML_DSA_BY_OID[alg.algorithm];
      // RFC 9881: the parameters field MUST be absent, not even NULL (which the ASN.1 parser gives as null, absent as undefined).
      if (!level || alg.parameters !== undefined) return undefined;
      return { hash: null, keyType: `ml-dsa-${level}` };
    }
  }
}

/** Verifies a signature with node:crypto (OpenSSL). */
export function verifySignature(key: KeyObject | ArrayBuffer | Uint8Array, params: VerifyParams, data: Uint8Array, signature: Uint8Array): boolean {
  const pub = isKeyObject(key) ? key : createPublicKey({ key: Buffer.from(key as ArrayBuffer), format: "der", type: "spki" });
  if (params.keyType && pub.asymmetricKeyType !== params.keyType) return false;
  try {
    if (params.pss) {
      return cryptoVerify(params.hash, data, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.pss.saltLength }, signature);
    }
    return cryptoVerify(params.hash, data, pub, signature);
  } catch {
    return false;
  }
}

function isKeyObject(k: unknown): k is KeyObject {
  return typeof k === "object" && k !== null && "asymmetricKeyType" in k && "export" in k;
}
