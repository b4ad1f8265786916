import { randomBytes } from "node:crypto";
import { GatewayError } from "../errors.js";

/**
 * 136 random bits from the CSPRNG as a positive, minimally encoded DER INTEGER of
 * 17 or 18 octets (≤ 20). A zero first octet is re-drawn so the encoding stays minimal.
 */
export function newSerial(): Uint8Array {
  let b = random17();
  while (b[0] === 0) b = random17();
  return b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
}

// CSPRNG output fetched in blocks (one RNG call per 240 serials, as node does for randomUUID); each
// serial still gets 17 fresh bytes, never reused.
let pool = Buffer.alloc(0);
let used = 0;
function random17(): Buffer {
  if (used + 17 > pool.length) {
    pool = randomBytes(17 * 240);
    used = 0;
  }
  const out = Buffer.from(pool.subarray(used, used + 17)); // a copy: callers keep it, the pool moves on
  used += 17;
  return out;
}

/** Lowercase hex without the sign octet: the form used in the store, CRL lookups and the API. */
export function serialHex(serial: Uint8Array | ArrayBuffer): string {
  const b = Buffer.from(serial instanceof Uint8Array ? serial : new Uint8Array(serial));
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i).toString("hex");
}

/** Hex serial → DER INTEGER content octets (positive, minimal). */
export function serialBytes(hex: string): Uint8Array {
  const clean = hex.toLowerCase().replace(/^0x/, "").replace(/:/g, "");
  const b = Buffer.from(clean.length % 2 ? `0${clean}` : clean, "hex");
  return b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
}

/**
 * Any operator spelling of a serial (colons, 0x, upper case, leading zeros) → the stored form.
 * Throws on anything that is not hex so a typo is reported instead of silently not matching.
 */
export function normalizeSerial(text: string): string {
  const clean = text.trim().toLowerCase().replace(/^0x/, "").replace(/:/g, "");
  if (!/^[0-9a-f]{1,64}$/.test(clean)) throw new GatewayError("RA_ERR_MALFORMED", "a serial number is 1–64 hex digits (colons allowed)");
  return serialHex(serialBytes(clean));
}
