/** Minimal DER writers for assembling signed objects from already-encoded parts. */
export function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One allocation per TLV (the issuance path builds dozens per certificate). */
export function derTlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const lenOctets = len < 0x80 ? 0 : len < 0x100 ? 1 : len < 0x10000 ? 2 : len < 0x1000000 ? 3 : 4;
  const out = Buffer.allocUnsafe(2 + lenOctets + len);
  out[0] = tag;
  out[1] = lenOctets ? 0x80 | lenOctets : len;
  for (let i = lenOctets, v = len; i >= 1; i--, v = Math.floor(v / 256)) out[1 + i] = v & 0xff;
  let o = 2 + lenOctets;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const derSequence = (...parts: Uint8Array[]) => derTlv(0x30, ...parts);
/** BIT STRING with no unused bits (signatures). */
export const derBitString = (bytes: Uint8Array) => derTlv(0x03, Uint8Array.of(0), bytes);
