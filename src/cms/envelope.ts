import { createCipheriv, createHash, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes, constants, type KeyObject } from "node:crypto";
import { derSequence, derTlv, derBitString } from "../asn1/der-encode.js";
import { GatewayError } from "../errors.js";
import { algId, contentInfo, curveHash, DER_NULL, derSetOf, explicit, octetString, OID, oidDer, smallInteger, type CertFacts } from "./der.js";

/** Content-encryption ciphers by node name (RFC 3565 AES-CBC, RFC 3370 §5.1 Triple-DES CBC): OID, key and IV sizes. */
export const CONTENT_CIPHERS = {
  "aes-128-cbc": { oid: OID.aes128Cbc, keyLength: 16, ivLength: 16 },
  "aes-192-cbc": { oid: OID.aes192Cbc, keyLength: 24, ivLength: 16 },
  "aes-256-cbc": { oid: OID.aes256Cbc, keyLength: 32, ivLength: 16 },
  "des-ede3-cbc": { oid: OID.desEde3Cbc, keyLength: 24, ivLength: 8 },
} as const;
export type ContentCipher = keyof typeof CONTENT_CIPHERS;

export interface EnvelopeInput {
  content: Uint8Array;
  /** encryptedContentInfo.contentType: what the decrypted bytes are. */
  contentType: string;
  recipient: CertFacts;
  /** Default AES-256-CBC. */
  cipher?: ContentCipher;
  /**
   * RSA key transport: RSAES-OAEP-SHA256 (default) or PKCS #1 v1.5 `rsaEncryption`, which SCEP clients expect
   * (RFC 8894 §3.2). Encrypting with v1.5 is safe; only decrypting it exposes a padding oracle.
   */
  rsaKeyTransport?: "oaep-sha256" | "pkcs1-v1_5";
}

/**
 * CMS EnvelopedData (RFC 5652 §6) to one recipient certificate, with node:crypto only:
 *  - RSA recipient → KeyTransRecipientInfo, RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017, RFC 4055 §4.1),
 *    or PKCS #1 v1.5 when asked;
 *  - EC recipient → KeyAgreeRecipientInfo, ECDH ephemeral-static with the X9.63 KDF
 *    (dhSinglePass-stdDH-shaNNNkdf-scheme, hash matched to the curve) and AES-256 key wrap (RFC 5753 §3.1).
 * Content is encrypted under a fresh key. Recipients are named by IssuerAndSerialNumber,
 * which every CMS implementation can match against the certificate it holds.
 */
export function envelopedData(o: EnvelopeInput): Uint8Array {
  const spec = CONTENT_CIPHERS[o.cipher ?? "aes-256-cbc"];
  const cek = randomBytes(spec.keyLength);
  const iv = randomBytes(spec.ivLength);
  const cipher = createCipheriv(o.cipher ?? "aes-256-cbc", cek, iv);
  const encrypted = Buffer.concat([cipher.update(o.content), cipher.final()]);

  const key = o.recipient.publicKey;
  let recipientInfo: Uint8Array;
  let version: number;
  if (key.asymmetricKeyType === "rsa") {
    recipientInfo = keyTrans(key, o.recipient.issuerAndSerial, cek, o.rsaKeyTransport ?? "oaep-sha256");
    version = 0; // only v0 RecipientInfos, no originatorInfo or attributes (RFC 5652 §6.1)
  } else if (key.asymmetricKeyType === "ec") {
    recipientInfo = keyAgree(key, o.recipient.issuerAndSerial, cek);
    version = 2; // kari is v3, so the EnvelopedData is v2 (RFC 5652 §6.1)
  } else {
    throw new GatewayError("RA_ERR_NOT_SUPPORTED", `cannot encrypt a key to a ${key.asymmetricKeyType ?? "unknown"} recipient key (RSA and EC are supported)`);
  }

  const encryptedContentInfo = derSequence(
    oidDer(o.contentType),
    algId(spec.oid, octetString(iv)),
    derTlv(0x80, encrypted), // encryptedContent [0] IMPLICIT OCTET STRING
  );
  return contentInfo(OID.envelopedData, derSequence(smallInteger(version), derSetOf([recipientInfo]), encryptedContentInfo));
}

/** RSAES-OAEP-params with SHA-256 for both the hash and MGF1; pSourceAlgorithm left at its default. */
const OAEP_SHA256 = algId(OID.rsaesOaep, derSequence(explicit(0, algId(OID.sha256)), explicit(1, algId(OID.mgf1, algId(OID.sha256)))));

/** KeyTransRecipientInfo ::= SEQUENCE { version 0, rid IssuerAndSerialNumber, keyEncryptionAlgorithm, encryptedKey }. */
function keyTrans(key: KeyObject, issuerAndSerial: Uint8Array, cek: Buffer, transport: "oaep-sha256" | "pkcs1-v1_5"): Uint8Array {
  if (transport === "pkcs1-v1_5") {
    const encryptedKey = publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, cek);
    return derSequence(smallInteger(0), issuerAndSerial, algId(OID.rsaEncryption, DER_NULL), octetString(encryptedKey));
  }
  // Node's oaepHash also sets the MGF1 hash (OpenSSL defaults MGF1 to the OAEP digest), matching OAEP_SHA256.
  const encryptedKey = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, cek);
  return derSequence(smallInteger(0), issuerAndSerial, OAEP_SHA256, octetString(encryptedKey));
}

const KDF_SCHEME = { sha256: OID.stdDhSha256Kdf, sha384: OID.stdDhSha384Kdf, sha512: OID.stdDhSha512Kdf } as const;

/**
 * KeyAgreeRecipientInfo (RFC 5652 §6.2.2, RFC 5753 §3.1.1):
 *   [1] IMPLICIT SEQUENCE { version 3, originator [0] EXPLICIT originatorKey [1] { id-ecPublicKey, ephemeral point },
 *                           keyEncryptionAlgorithm { kdf-scheme, id-aes256-wrap }, recipientEncryptedKeys }
 */
function keyAgree(recipientKey: KeyObject, issuerAndSerial: Uint8Array, cek: Buffer): Uint8Array {
  const hash = curveHash(recipientKey);
  const namedCurve = recipientKey.asymmetricKeyDetails!.namedCurve!;
  const ephemeral = generateKeyPairSync("ec", { namedCurve });
  const z = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipientKey });

  const wrapAlg = algId(OID.aes256Wrap); // RFC 3565 §2.3.2: parameters absent
  // ECC-CMS-SharedInfo ::= SEQUENCE { keyInfo, entityUInfo [0] OPTIONAL (no ukm), suppPubInfo [2] key length in bits }
  const sharedInfo = derSequence(wrapAlg, explicit(2, octetString(Uint8Array.of(0, 0, 1, 0))));
  const kek = x963Kdf(hash, z, sharedInfo, 32);
  const wrap = createCipheriv("id-aes256-wrap", kek, Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
  const wrapped = Buffer.concat([wrap.update(cek), wrap.final()]);

  const jwk = ephemeral.publicKey.export({ format: "jwk" });
  const point = Buffer.concat([Uint8Array.of(0x04), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
  // RFC 5753 §3.1.1: originatorKey algorithm id-ecPublicKey; parameters absent (the recipient's curve applies).
  const originator = explicit(0, derTlv(0xa1, algId(OID.ecPublicKey), derBitString(point)));
  const recipientEncryptedKeys = derSequence(derSequence(issuerAndSerial, octetString(wrapped)));
  return derTlv(0xa1, smallInteger(3), originator, algId(KDF_SCHEME[hash], wrapAlg), recipientEncryptedKeys);
}

/** ANSI X9.63 KDF (SEC 1 §3.6.1): Hash(Z || counter || SharedInfo), counter from 1, big-endian 32-bit. */
function x963Kdf(hash: string, z: Buffer, sharedInfo: Uint8Array, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 1, have = 0; have < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(z).update(c).update(sharedInfo).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}
