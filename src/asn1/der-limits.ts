import { GatewayError } from "../errors.js";

export interface DerLimits {
  maxBytes: number;
  maxDepth: number;
  maxNodes: number;
}

export const DEFAULT_DER_LIMITS: DerLimits = { maxBytes: 64 * 1024, maxDepth: 32, maxNodes: 20_000 };

/**
 * Walks DER TLVs iteratively before any schema parser sees the bytes, so that
 * lying lengths, indefinite lengths (BER), runaway nesting and node floods fail
 * fast with a typed error. Constructed types are descended; primitives skipped.
 */
export function checkDer(input: Uint8Array, limits: DerLimits = DEFAULT_DER_LIMITS): void {
  if (input.length === 0) throw limitError("empty input");
  if (input.length > limits.maxBytes) throw limitError(`input of ${input.length} bytes exceeds ${limits.maxBytes}`);
  // Stack of end offsets of the constructed values we are inside.
  const ends: number[] = [input.length];
  let pos = 0;
  let nodes = 0;
  let topLevel = 0;
  while (pos < input.length) {
    while (ends.length > 1 && pos === ends[ends.length - 1]) ends.pop();
    if (ends.length === 1 && pos === input.length) break;
    if (ends.length === 1 && ++topLevel > 1) throw limitError("trailing data after the top-level value");
    if (++nodes > limits.maxNodes) throw limitError(`more than ${limits.maxNodes} ASN.1 nodes`);
    const tagByte = input[pos++];
    if ((tagByte & 0x1f) === 0x1f) {
      // High tag number: base-128, at most 4 octets.
      let n = 0;
      do {
        if (pos >= input.length || ++n > 4) throw limitError("bad high tag number");
      } while (input[pos++] & 0x80);
    }
    if (pos >= input.length) throw limitError("truncated length");
    const first = input[pos++];
    let len: number;
    if (first < 0x80) len = first;
    else if (first === 0x80) throw limitError("indefinite length is not DER");
    else {
      const octets = first & 0x7f;
      if (octets > 4 || pos + octets > input.length) throw limitError("length field too long or truncated");
      len = 0;
      for (let i = 0; i < octets; i++) len = len * 256 + input[pos++];
      if (len < 0x80 || input[pos - octets] === 0) throw limitError("non-minimal length encoding");
    }
    const end = pos + len;
    if (end > ends[ends.length - 1]) throw limitError("length runs past its container");
    checkPrimitive(input, tagByte, pos, len);
    if (tagByte & 0x20) {
      if (end === pos) continue;
      if (ends.length > limits.maxDepth) throw limitError(`nesting deeper than ${limits.maxDepth}`);
      ends.push(end);
    } else {
      pos = end;
    }
  }
  if (ends.length > 1 && pos !== ends[ends.length - 1]) throw limitError("truncated value");
}

/**
 * DER rules a BER re-encoding would expose, checked on the bytes directly: universal
 * string types never constructed, BOOLEAN is 00/FF, INTEGER and ENUMERATED minimal,
 * BIT STRING unused-bit count in range and zero when empty.
 */
function checkPrimitive(b: Uint8Array, tag: number, start: number, len: number): void {
  if (tag === 0x23 || tag === 0x24 || (tag >= 0x2c && tag <= 0x3e && tag !== 0x30 && tag !== 0x31)) throw limitError("constructed string encoding is not DER");
  if (tag === 0x01 && (len !== 1 || (b[start] !== 0 && b[start] !== 0xff))) throw limitError("BOOLEAN is not DER");
  if (tag === 0x02 || tag === 0x0a) {
    if (len === 0) throw limitError("empty INTEGER");
    if (len > 1 && ((b[start] === 0 && !(b[start + 1] & 0x80)) || (b[start] === 0xff && b[start + 1] & 0x80))) throw limitError("INTEGER is not minimally encoded");
  }
  if (tag === 0x03 && (len === 0 || b[start] > 7 || (len === 1 && b[start] !== 0))) throw limitError("BIT STRING unused-bits octet is not DER");
}

function limitError(why: string): GatewayError {
  return new GatewayError("RA_ERR_DER_LIMIT", `malformed DER: ${why}`);
}
