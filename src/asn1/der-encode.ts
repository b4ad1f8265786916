/** Minimal DER writers for assembling signed objects from already-encoded parts. */
export function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function derTlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((a, p) => a + p.length, 0);
  return Buffer.concat([Uint8Array.of(tag), derLength(len), ...parts]);
}

export const derSequence = (...parts: Uint8Array[]) => derTlv(0x30, ...parts);
/** BIT STRING with no unused bits (signatures). */
export const derBitString = (bytes: Uint8Array) => derTlv(0x03, Uint8Array.of(0), bytes);
