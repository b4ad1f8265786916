import { BoundedMap } from "../bounded-map.js";
import { derTlv } from "./der-encode.js";

/**
 * OBJECT IDENTIFIER TLVs by dotted text, memoized: certificate templates, names, CMS and CMP messages encode the
 * same few dozen OIDs on every request, and the BigInt encoder showed in their profiles. Bounded, since OIDs from
 * peers' data pass here too. Callers never write to the bytes (derTlv and friends copy their parts).
 */
const oidTlvs = new BoundedMap<string, Uint8Array>(512);

/** OBJECT IDENTIFIER TLV for a dotted OID. */
export function oidDer(oid: string): Uint8Array {
  let der = oidTlvs.get(oid);
  if (!der) oidTlvs.set(oid, (der = encodeOid(oid)));
  return der;
}

function encodeOid(oid: string): Uint8Array {
  const arcs = oid.split(".").map((a) => BigInt(a));
  const out: number[] = [];
  const push = (v: bigint) => {
    const bytes = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) bytes.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...bytes);
  };
  push(arcs[0] * 40n + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return derTlv(0x06, Uint8Array.from(out));
}

/** UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5), whole seconds, Z. */
export function timeDer(d: Date): Uint8Array {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "");
  return d.getUTCFullYear() < 2050 ? derTlv(0x17, Buffer.from(`${digits.slice(2)}Z`, "ascii")) : derTlv(0x18, Buffer.from(`${digits}Z`, "ascii"));
}

/** INTEGER from content octets that are already minimal and positive (serials). */
export const integerDer = (content: Uint8Array) => derTlv(0x02, content);
export const octetStringDer = (content: Uint8Array) => derTlv(0x04, content);
export const utf8Der = (s: string) => derTlv(0x0c, Buffer.from(s, "utf8"));
export const printableDer = (s: string) => derTlv(0x13, Buffer.from(s, "ascii"));
export const ia5Der = (s: string) => derTlv(0x16, Buffer.from(s, "ascii"));

/** Minimal-length positive DER INTEGER from unsigned big-endian bytes (ECDSA r and s). */
export function unsignedIntegerDer(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let v = Buffer.from(bytes.subarray(i));
  if (v.length === 0) v = Buffer.from([0]);
  if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return derTlv(0x02, v);
}

/** Dotted text of OBJECT IDENTIFIER content octets; undefined when empty, truncated or not minimally encoded. */
export function oidText(c: Uint8Array): string | undefined {
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < c.length; i++) {
    if (v === 0 && c[i] === 0x80) return undefined; // leading 0x80: not minimal
    v = v * 128 + (c[i] & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 256) return undefined;
    if (!(c[i] & 0x80)) {
      if (!arcs.length) arcs.push(v < 40 ? 0 : v < 80 ? 1 : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.length && !(c[c.length - 1] & 0x80) ? arcs.join(".") : undefined;
}
