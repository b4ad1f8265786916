/**
 * A tolerant DER tree for mutating valid messages: parsed once, changed (children duplicated, dropped,
 * swapped, grafted, re-tagged, nested), encoded again with correct lengths, so a mutation lands deep in a
 * structure instead of failing the first length check. OCTET STRINGs and BIT STRINGs whose content is
 * itself one constructed DER value (extnValue, eContent, SPKI keys) are opened too.
 */
export interface DerNode {
  tag: number;
  /** Constructed values and encapsulating strings. */
  children?: DerNode[];
  /** Primitive content. */
  content?: Uint8Array;
  /** A primitive OCTET STRING (0x04) or BIT STRING (0x03, with its unused-bits octet) holding `children`. */
  encapsulated?: boolean;
}

function lengthOctets(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

export function tlvBytes(tag: number, content: Uint8Array): Uint8Array {
  return Buffer.concat([Uint8Array.of(tag, ...lengthOctets(content.length)), content]);
}

interface Read { node: DerNode; end: number }

function readOne(b: Uint8Array, pos: number, limit: number, depth: number): Read | undefined {
  if (pos + 2 > limit || depth > 64) return undefined;
  const tag = b[pos];
  if ((tag & 0x1f) === 0x1f) return undefined;
  let p = pos + 1;
  const first = b[p++];
  let len = first;
  if (first === 0x80) return undefined;
  if (first > 0x80) {
    const n = first & 0x7f;
    if (n > 4 || p + n > limit) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++];
  }
  const end = p + len;
  if (end > limit) return undefined;
  if (tag & 0x20) {
    const children = readAll(b, p, end, depth + 1);
    return children ? { node: { tag, children }, end } : undefined;
  }
  const content = b.subarray(p, end);
  const skip = tag === 0x03 ? 1 : 0;
  if ((tag === 0x04 || (tag === 0x03 && content[0] === 0)) && content.length > skip + 1 && (content[skip] & 0x20)) {
    const inner = readAll(content, skip, content.length, depth + 1);
    if (inner?.length === 1) return { node: { tag, children: inner, encapsulated: true }, end };
  }
  return { node: { tag, content: Uint8Array.from(content) }, end };
}

function readAll(b: Uint8Array, start: number, end: number, depth: number): DerNode[] | undefined {
  const out: DerNode[] = [];
  for (let p = start; p < end; ) {
    const r = readOne(b, p, end, depth);
    if (!r) return undefined;
    out.push(r.node);
    p = r.end;
  }
  return out;
}

/** The tree of one complete DER value; undefined when the bytes are not that. */
export function parseTree(der: Uint8Array): DerNode | undefined {
  const r = readOne(der, 0, der.length, 0);
  return r && r.end === der.length ? r.node : undefined;
}

export function encodeTree(n: DerNode): Uint8Array {
  if (!n.children) return tlvBytes(n.tag, n.content ?? new Uint8Array(0));
  const inner = Buffer.concat(n.children.map(encodeTree));
  return tlvBytes(n.tag, n.encapsulated && n.tag === 0x03 ? Buffer.concat([Uint8Array.of(0), inner]) : inner);
}

export const cloneTree = (n: DerNode): DerNode => ({ ...n, children: n.children?.map(cloneTree), content: n.content && Uint8Array.from(n.content) });

/** Every node with its parent (pre-order; the root has none). */
export function nodesOf(root: DerNode): Array<{ node: DerNode; parent?: DerNode; index: number }> {
  const out: Array<{ node: DerNode; parent?: DerNode; index: number }> = [{ node: root, index: 0 }];
  for (let i = 0; i < out.length; i++) out[i].node.children?.forEach((c, index) => out.push({ node: c, parent: out[i].node, index }));
  return out;
}

/** Offsets of TLV headers in `der` (for raw length-field corruption); stops where the bytes stop being DER. */
export function headerOffsets(der: Uint8Array): number[] {
  const out: number[] = [];
  const walk = (start: number, end: number, depth: number) => {
    for (let p = start; p < end && depth < 64; ) {
      const tag = der[p];
      if ((tag & 0x1f) === 0x1f || p + 2 > end) return;
      out.push(p);
      let q = p + 1;
      const first = der[q++];
      let len = first;
      if (first === 0x80) return;
      if (first > 0x80) {
        const n = first & 0x7f;
        if (n > 4 || q + n > end) return;
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + der[q++];
      }
      if (q + len > end) return;
      if (tag & 0x20) walk(q, q + len, depth + 1);
      p = q + len;
    }
  };
  walk(0, der.length, 0);
  return out;
}
