/** Returns [start, end) of the TLVs directly inside the constructed value at `offset`. Input must have passed checkDer. */
export function childSpans(der: Uint8Array, offset = 0): Array<[number, number]> {
  const { contentStart, end } = header(der, offset);
  const out: Array<[number, number]> = [];
  let pos = contentStart;
  while (pos < end) {
    const h = header(der, pos);
    out.push([pos, h.end]);
    pos = h.end;
  }
  return out;
}

export function header(der: Uint8Array, offset: number): { contentStart: number; end: number } {
  let pos = offset + 1;
  if ((der[offset] & 0x1f) === 0x1f) while (der[pos++] & 0x80);
  const first = der[pos++];
  let len = first;
  if (first & 0x80) {
    len = 0;
    for (let i = 0; i < (first & 0x7f); i++) len = len * 256 + der[pos++];
  }
  return { contentStart: pos, end: pos + len };
}
