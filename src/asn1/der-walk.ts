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

/**
 * One TLV at `pos` of bytes nobody has checked yet: a one-octet tag and a minimal definite length that stays
 * within `limit`. Undefined for anything else, so a fast reader can hand unusual input to a full parser.
 */
export function readTlv(b: Uint8Array, pos: number, limit: number): { tag: number; contentStart: number; end: number } | undefined {
  if (pos + 2 > limit || (b[pos] & 0x1f) === 0x1f) return undefined;
  const first = b[pos + 1];
  let len = first;
  let contentStart = pos + 2;
  if (first >= 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 3 || contentStart + n > limit || b[contentStart] === 0) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[contentStart + i];
    if (len < 0x80) return undefined;
    contentStart += n;
  }
  const end = contentStart + len;
  return end <= limit ? { tag: b[pos], contentStart, end } : undefined;
}
