import { X509Certificate } from "node:crypto";
import { decode } from "cborg";
import { GatewayError } from "../../../src/errors.js";

/** Size limits: real attestation objects are 2–6 KiB (Apple's chain is the largest). */
const MAX_ATT_OBJ_BYTES = 32 * 1024;
const MAX_CERTS = 5;
const MAX_CERT_BYTES = 8 * 1024;

/** A failed check, named so the audit trail and the client see which one. */
export function attestationFailure(format: string, check: string, message: string): GatewayError {
  return new GatewayError("RA_ERR_BAD_ATTESTATION", message, { format, check });
}

/** The decoded WebAuthn-style attestation object {fmt, attStmt, authData}. */
export interface AttestationObject {
  fmt: string;
  attStmt: Statement;
}

/**
 * Decodes base64url CBOR under a size cap. cborg is strict by default: no tags, no duplicate map keys
 * (asked for), no undefined; maps keep non-string keys apart (useMaps) so nothing lands on a prototype.
 */
export function decodeAttestationObject(attObj: unknown): AttestationObject {
  if (typeof attObj !== "string" || !/^[A-Za-z0-9_-]+$/.test(attObj)) throw attestationFailure("none", "encoding", "attObj must be a base64url string");
  const bytes = Buffer.from(attObj, "base64url");
  if (bytes.length > MAX_ATT_OBJ_BYTES) throw attestationFailure("none", "size", `attObj is larger than ${MAX_ATT_OBJ_BYTES} bytes`);
  let top: unknown;
  try {
    top = decode(bytes, { useMaps: true, rejectDuplicateMapKeys: true, allowUndefined: false, allowBigInt: false });
  } catch (e) {
    throw attestationFailure("none", "cbor", `attObj is not well-formed CBOR (${e instanceof RangeError ? "nested too deeply" : (e as Error).message})`);
  }
  if (!(top instanceof Map)) throw attestationFailure("none", "structure", "attObj is not a CBOR map");
  const fmt = top.get("fmt");
  const attStmt = top.get("attStmt");
  if (typeof fmt !== "string") throw attestationFailure("none", "structure", "attObj has no fmt");
  if (!(attStmt instanceof Map)) throw attestationFailure(fmt, "structure", "attObj has no attStmt map");
  return { fmt, attStmt: new Statement(fmt, attStmt) };
}

/** Typed reads of attStmt fields; a missing or mistyped field fails the attestation. */
export class Statement {
  constructor(readonly format: string, private readonly map: Map<unknown, unknown>) {}

  bytes(name: string): Uint8Array {
    const v = this.map.get(name);
    if (!(v instanceof Uint8Array) || v.length === 0) throw attestationFailure(this.format, "structure", `attStmt.${name} must be a non-empty byte string`);
    return v;
  }

  int(name: string): number {
    const v = this.map.get(name);
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw attestationFailure(this.format, "structure", `attStmt.${name} must be an integer`);
    return v;
  }

  text(name: string): string {
    const v = this.map.get(name);
    if (typeof v !== "string") throw attestationFailure(this.format, "structure", `attStmt.${name} must be a text string`);
    return v;
  }

  /** x5c: leaf first, DER certificates as byte strings. */
  certificates(): X509Certificate[] {
    const v = this.map.get("x5c");
    if (!Array.isArray(v) || v.length === 0 || v.length > MAX_CERTS) throw attestationFailure(this.format, "structure", `attStmt.x5c must hold 1 to ${MAX_CERTS} certificates`);
    return v.map((c, i) => {
      if (!(c instanceof Uint8Array) || c.length > MAX_CERT_BYTES) throw attestationFailure(this.format, "structure", `attStmt.x5c[${i}] is not a certificate`);
      try {
        return new X509Certificate(c);
      } catch {
        throw attestationFailure(this.format, "structure", `attStmt.x5c[${i}] is not a DER certificate`);
      }
    });
  }
}
