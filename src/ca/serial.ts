import { randomBytes } from "node:crypto";
import { GatewayError } from "../errors.js";

/** 2020-01-01T00:00:00Z in Unix seconds: the origin of the serial's time prefix. */
const SERIAL_EPOCH = 1_577_836_800;

/**
 * A positive, minimally encoded DER INTEGER of 20 octets (RFC 5280's maximum): 4 octets of whole seconds
 * since 2020, kept in 0x01000000–0x7fffffff so the first octet is never 0x00 (minimal) nor ≥ 0x80 (positive),
 * then 128 random bits from the CSPRNG, which keep serials unpredictable and non-sequential. The time
 * prefix makes the store's serial keys (certificates, audit targets) land at the end of their B-trees, so
 * concurrent issuances share index pages instead of each dirtying a random one, which is most of what a
 * commit writes. The prefix increases for 67 years, then wraps (uniqueness comes from the random part).
 */
export function newSerial(): Uint8Array {
  const out = Buffer.alloc(20);
  const seconds = Math.floor(Date.now() / 1000) - SERIAL_EPOCH;
  out.writeUInt32BE((((seconds % 0x7f000000) + 0x7f000000) % 0x7f000000) + 0x01000000, 0);
  random17().copy(out, 4, 0, 16);
  return out;
}

/**
 * A UUIDv7 (RFC 9562): millisecond timestamp, version, 74 random bits. Time-ordered for the same reason
 * as serials: request rows and their audit events append to their indexes.
 */
export function timeOrderedUuid(): string {
  const b = random17();
  b.writeUIntBE(Date.now(), 0, 6);
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

// CSPRNG output fetched in blocks (one RNG call per 240 draws, as node does for randomUUID); each
// draw still gets 17 fresh bytes, never reused.
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
