import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { derSequence } from "../../../src/asn1/der-encode.js";
import { unsignedIntegerDer } from "../../../src/asn1/der-values.js";

/**
 * The TPM 2.0 structures a `tpm` attestation carries (TPM 2.0 Part 2), read big-endian with every
 * length checked against the buffer: TPMS_ATTEST (certInfo), TPMT_PUBLIC (pubArea) and TPMT_SIGNATURE.
 */
export class TpmParseError extends Error {}

export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_CERTIFY = 0x8017;
const TPM_ALG_NULL = 0x0010;
const TPM_ALG_RSA = 0x0001;
const TPM_ALG_ECC = 0x0023;
const TPM_ALG_RSASSA = 0x0014;
const TPM_ALG_ECDSA = 0x0018;
/** objectAttributes bits: the key cannot leave this TPM, and the TPM generated it. */
export const FIXED_TPM = 1 << 1;
export const SENSITIVE_DATA_ORIGIN = 1 << 5;

const HASHES: Record<number, string> = { 0x0004: "sha1", 0x000b: "sha256", 0x000c: "sha384", 0x000d: "sha512" };
const CURVES: Record<number, { crv: string; size: number }> = { 0x0003: { crv: "P-256", size: 32 }, 0x0004: { crv: "P-384", size: 48 }, 0x0005: { crv: "P-521", size: 66 } };

class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}
  private take(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new TpmParseError("truncated");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u16(): number {
    const b = this.take(2);
    return (b[0] << 8) | b[1];
  }
  u32(): number {
    const b = this.take(4);
    return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  }
  skip(n: number): void {
    this.take(n);
  }
  /** TPM2B_*: a u16 size, then that many bytes. */
  sized(): Uint8Array {
    return this.take(this.u16());
  }
  end(what: string): void {
    if (this.pos !== this.buf.length) throw new TpmParseError(`${what} has trailing bytes`);
  }
}

export interface TpmsAttest {
  magic: number;
  type: number;
  extraData: Uint8Array;
  /** TPMS_CERTIFY_INFO.name: nameAlg ‖ H(pubArea) of the certified key. */
  certifiedName: Uint8Array;
}

export function parseTpmsAttest(bytes: Uint8Array): TpmsAttest {
  const r = new Reader(bytes);
  const magic = r.u32();
  const type = r.u16();
  r.sized(); // qualifiedSigner
  const extraData = r.sized();
  r.skip(8 + 4 + 4 + 1); // clockInfo: clock, resetCount, restartCount, safe
  r.skip(8); // firmwareVersion
  if (type !== TPM_ST_ATTEST_CERTIFY) return { magic, type, extraData, certifiedName: new Uint8Array(0) };
  const certifiedName = r.sized();
  r.sized(); // qualifiedName
  r.end("certInfo");
  return { magic, type, extraData, certifiedName };
}

export interface TpmtPublic {
  nameAlg: number;
  objectAttributes: number;
  publicKey: KeyObject;
}

function skipSymmetric(r: Reader): void {
  if (r.u16() !== TPM_ALG_NULL) r.skip(4); // keyBits, mode
}
function skipScheme(r: Reader): void {
  if (r.u16() !== TPM_ALG_NULL) r.skip(2); // hashAlg
}

export function parseTpmtPublic(bytes: Uint8Array): TpmtPublic {
  const r = new Reader(bytes);
  const type = r.u16();
  const nameAlg = r.u16();
  const objectAttributes = r.u32();
  r.sized(); // authPolicy
  let publicKey: KeyObject;
  if (type === TPM_ALG_RSA) {
    skipSymmetric(r);
    skipScheme(r);
    r.u16(); // keyBits (the modulus says it)
    const exponent = r.u32() || 65537;
    const n = r.sized();
    publicKey = createPublicKey({ key: { kty: "RSA", n: Buffer.from(n).toString("base64url"), e: Buffer.from(uintBytes(exponent)).toString("base64url") }, format: "jwk" });
  } else if (type === TPM_ALG_ECC) {
    skipSymmetric(r);
    skipScheme(r);
    const curve = CURVES[r.u16()];
    skipScheme(r); // kdf
    if (!curve) throw new TpmParseError("unsupported ECC curve");
    const [x, y] = [r.sized(), r.sized()];
    if (x.length !== curve.size || y.length !== curve.size) throw new TpmParseError("ECC point of the wrong size");
    publicKey = createPublicKey({ key: { kty: "EC", crv: curve.crv, x: Buffer.from(x).toString("base64url"), y: Buffer.from(y).toString("base64url") }, format: "jwk" });
  } else {
    throw new TpmParseError(`unsupported key type 0x${type.toString(16)}`);
  }
  r.end("pubArea");
  return { nameAlg, objectAttributes, publicKey };
}

/** The TPM name of a public area: nameAlg ‖ H_nameAlg(pubArea). */
export function tpmName(pubArea: Uint8Array, nameAlg: number): Uint8Array {
  const hash = HASHES[nameAlg];
  if (!hash) throw new TpmParseError(`unsupported nameAlg 0x${nameAlg.toString(16)}`);
  return Buffer.concat([Uint8Array.of(nameAlg >> 8, nameAlg & 0xff), createHash(hash).update(pubArea).digest()]);
}

/**
 * `sig` as a TPMT_SIGNATURE (what go-attestation produces) when it parses as one exactly; otherwise
 * the raw signature (what Windows sends). ECDSA r and s come back as the DER node:crypto verifies.
 */
export function signatureBytes(sig: Uint8Array): Uint8Array {
  try {
    const r = new Reader(sig);
    const alg = r.u16();
    r.u16(); // hash: the COSE alg decides
    if (alg === TPM_ALG_RSASSA) {
      const s = r.sized();
      r.end("sig");
      return s;
    }
    if (alg === TPM_ALG_ECDSA) {
      const [rr, ss] = [r.sized(), r.sized()];
      r.end("sig");
      return derSequence(unsignedIntegerDer(rr), unsignedIntegerDer(ss));
    }
  } catch {
    // not a TPMT_SIGNATURE
  }
  return sig;
}

function uintBytes(n: number): Uint8Array {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Uint8Array.from(out);
}
