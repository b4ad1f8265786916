/** Minimal DER helpers to turn PKCS#11 key material and signatures into the forms node:crypto and X.509 use. */
import { unsignedIntegerDer } from "../asn1/der-values.js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { ML_DSA_SIZES, algorithmIdentifier } from "../asn1/algorithms.js";
import { ML_DSA_LEVELS, type MlDsaLevel } from "./signer.js";
import { createPublicKey, type KeyObject } from "node:crypto";

export type Pkcs11Curve = "P-256" | "P-384";

/** DER OIDs as stored in CKA_EC_PARAMS (namedCurve choice of ECParameters). */
export const EC_PARAMS: Record<Pkcs11Curve, Buffer> = {
  "P-256": Buffer.from("06082a8648ce3d030107", "hex"),
  "P-384": Buffer.from("06052b81040022", "hex"),
};
const FIELD_BYTES: Record<Pkcs11Curve, number> = { "P-256": 32, "P-384": 48 };
const ID_EC_PUBLIC_KEY = Buffer.from("06072a8648ce3d0201", "hex");

export function curveFromEcParams(params: Buffer): Pkcs11Curve {
  for (const [curve, der] of Object.entries(EC_PARAMS) as Array<[Pkcs11Curve, Buffer]>) {
    if (der.equals(params)) return curve;
  }
  throw new Error("PKCS#11 key uses an unsupported EC curve (only P-256 and P-384 are supported)");
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function derTlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(value.length), value]);
}

/** Reads one TLV at the start of `buf`, returning its tag and value; throws if it does not fill `buf` exactly. */
function readWholeTlv(buf: Buffer): { tag: number; value: Buffer } {
  if (buf.length < 2) throw new Error("DER: truncated");
  let len = buf[1];
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || buf.length < 2 + n) throw new Error("DER: bad length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[2 + i];
    off += n;
  }
  if (off + len !== buf.length) throw new Error("DER: length mismatch");
  return { tag: buf[0], value: buf.subarray(off) };
}

/** PKCS#11 CKM_ECDSA returns r||s (each the order length); X.509 wants DER Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }. */
export function ecdsaRawToDer(raw: Uint8Array): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new Error(`ECDSA signature from token has odd length ${raw.length}`);
  const buf = Buffer.from(raw);
  const half = buf.length / 2;
  return derTlv(0x30, Buffer.concat([unsignedIntegerDer(buf.subarray(0, half)), unsignedIntegerDer(buf.subarray(half))]));
}

/**
 * CKA_EC_POINT should be a DER OCTET STRING around the uncompressed point, but some tokens return the bare point;
 * the curve's field size tells the two apart unambiguously.
 */
export function ecPointFromPkcs11(ecPoint: Buffer, curve: Pkcs11Curve): Buffer {
  const rawLen = 1 + 2 * FIELD_BYTES[curve];
  if (ecPoint.length === rawLen && ecPoint[0] === 0x04) return ecPoint;
  const { tag, value } = readWholeTlv(ecPoint);
  if (tag !== 0x04 || value.length !== rawLen || value[0] !== 0x04) throw new Error("CKA_EC_POINT is not an uncompressed point");
  return value;
}

export function ecPublicKeyFromPkcs11(ecParams: Buffer, ecPoint: Buffer): KeyObject {
  const curve = curveFromEcParams(ecParams);
  const point = ecPointFromPkcs11(ecPoint, curve);
  const spki = derTlv(0x30, Buffer.concat([
    derTlv(0x30, Buffer.concat([ID_EC_PUBLIC_KEY, EC_PARAMS[curve]])),
    derTlv(0x03, Buffer.concat([Buffer.from([0]), point])),
  ]));
  return createPublicKey({ key: spki, format: "der", type: "spki" });
}

function b64url(bytes: Buffer): string {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i).toString("base64url");
}

export function rsaPublicKeyFromPkcs11(modulus: Buffer, publicExponent: Buffer): KeyObject {
  return createPublicKey({ key: { kty: "RSA", n: b64url(modulus), e: b64url(publicExponent) }, format: "jwk" });
}

/** The ML-DSA level whose public key is `length` bytes (1312, 1952, 2592: FIPS 204 table 2). */
export function mlDsaLevelOfPublicKeyLength(length: number): MlDsaLevel | undefined {
  return ML_DSA_LEVELS.find((l) => ML_DSA_SIZES[l].publicKey === length);
}

/**
 * An ML-DSA CKA_VALUE (the raw public key octets, PKCS#11 3.2) as the RFC 9881 SubjectPublicKeyInfo: the
 * algorithm identifier without parameters and the octets as the BIT STRING, nothing wrapped around them.
 */
export function mlDsaSpkiFromPkcs11(level: MlDsaLevel, value: Buffer): Buffer {
  if (value.length !== ML_DSA_SIZES[level].publicKey) {
    throw new Error(`ML-DSA-${level} public key from token is ${value.length} bytes, expected ${ML_DSA_SIZES[level].publicKey}`);
  }
  return derTlv(0x30, Buffer.concat([
    Buffer.from(AsnConvert.serialize(algorithmIdentifier(`ml-dsa-${level}`))),
    derTlv(0x03, Buffer.concat([Buffer.from([0]), value])),
  ]));
}

export function mlDsaPublicKeyFromPkcs11(level: MlDsaLevel, value: Buffer): KeyObject {
  return createPublicKey({ key: mlDsaSpkiFromPkcs11(level, value), format: "der", type: "spki" });
}

/** A CK_ULONG attribute read by number (graphene then returns the raw bytes, host order: little-endian here). */
export function ulongFromPkcs11(value: Buffer): number | undefined {
  if (value.length !== 4 && value.length !== 8) return undefined;
  return value.length === 8 && value.readUInt32LE(4) !== 0 ? undefined : value.readUInt32LE(0);
}
