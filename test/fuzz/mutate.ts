import fc from "fast-check";
import { cloneTree, encodeTree, headerOffsets, nodesOf, parseTree, type DerNode } from "./der-tree.js";

/**
 * Mutations of a valid DER message, as fast-check values (so failures shrink and replay by seed).
 * Raw ones break the encoding (bit flips, truncation, insertion, deletion, corrupted length fields);
 * structural ones keep it well-formed and change the meaning (duplicated, dropped, swapped or grafted
 * parts, other tags, hostile contents, deep nesting), so the parser is reached past its first checks.
 */
export type Mutation =
  | { k: "flip"; at: number; bit: number }
  | { k: "set"; at: number; v: number }
  | { k: "truncate"; at: number }
  | { k: "insert"; at: number; bytes: Uint8Array }
  | { k: "delete"; at: number; n: number }
  | { k: "length"; which: number; form: number; v: number }
  | { k: "splice"; from: number; n: number; to: number }
  | { k: "dup"; which: number; times: number }
  | { k: "drop"; which: number }
  | { k: "swap"; which: number }
  | { k: "graft"; which: number; from: number }
  | { k: "retag"; which: number; tag: number }
  | { k: "content"; which: number; bytes: Uint8Array }
  | { k: "special"; which: number; v: number }
  | { k: "nest"; which: number; depth: number; tag: number };

const at = fc.nat({ max: 1 << 20 });
const TAGS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x1e, 0x30, 0x31, 0x80, 0x81, 0x82, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0x24, 0x1f];
const count = (small: number, large: number) => fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: small }) }, { weight: 1, arbitrary: fc.integer({ min: small, max: large }) });

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant("flip" as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ k: fc.constant("set" as const), at, v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant("truncate" as const), at }),
  fc.record({ k: fc.constant("insert" as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ k: fc.constant("delete" as const), at, n: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ k: fc.constant("length" as const), which: at, form: fc.integer({ min: 0, max: 7 }), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant("splice" as const), from: at, n: fc.integer({ min: 1, max: 64 }), to: at }),
  fc.record({ k: fc.constant("dup" as const), which: at, times: count(3, 1500) }),
  fc.record({ k: fc.constant("drop" as const), which: at }),
  fc.record({ k: fc.constant("swap" as const), which: at }),
  fc.record({ k: fc.constant("graft" as const), which: at, from: at }),
  fc.record({ k: fc.constant("retag" as const), which: at, tag: fc.oneof(fc.constantFrom(...TAGS), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ k: fc.constant("content" as const), which: at, bytes: fc.uint8Array({ maxLength: 48 }) }),
  fc.record({ k: fc.constant("special" as const), which: at, v: fc.nat({ max: 1000 }) }),
  fc.record({ k: fc.constant("nest" as const), which: at, depth: count(8, 1000), tag: fc.constantFrom(0x30, 0x31, 0xa0, 0xa3, 0x04) }),
);

/** One to four mutations, applied in order. */
export const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 4 });

/** Contents that have broken parsers before: extreme integers, bad times, bad text, empty, huge. */
const SPECIAL: Uint8Array[] = [
  new Uint8Array(0),
  Uint8Array.of(0x00), Uint8Array.of(0xff), Uint8Array.of(0x80), Uint8Array.of(0x7f, 0xff, 0xff, 0xff),
  Uint8Array.of(0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0x01, ...new Array(20).fill(0)),
  new Uint8Array(300).fill(0x7f),
  Buffer.from("991231235959Z"), Buffer.from("20500101000000Z"), Buffer.from("000000000000Z"), Buffer.from("99999999999999Z"), Buffer.from("2024022930000Z"),
  Uint8Array.of(0xc3, 0x28), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0x00), Uint8Array.of(0xd8, 0x00),
  Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d), Uint8Array.of(0x80, 0x01), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
  Uint8Array.of(0x08, 0xff), Uint8Array.of(0x07),
  new Uint8Array(70_000).fill(0x41),
];

function raw(b: Uint8Array, m: Mutation): Uint8Array {
  const n = b.length;
  const c = Uint8Array.from(b);
  switch (m.k) {
    case "flip":
      if (n) c[m.at % n] ^= 1 << m.bit;
      return c;
    case "set":
      if (n) c[m.at % n] = m.v;
      return c;
    case "truncate":
      return c.subarray(0, n ? m.at % n : 0);
    case "insert": {
      const i = m.at % (n + 1);
      return Buffer.concat([c.subarray(0, i), m.bytes, c.subarray(i)]);
    }
    case "delete": {
      const i = n ? m.at % n : 0;
      return Buffer.concat([c.subarray(0, i), c.subarray(i + m.n)]);
    }
    case "splice": {
      const i = n ? m.from % n : 0;
      const j = m.to % (n + 1);
      return Buffer.concat([c.subarray(0, j), c.subarray(i, i + m.n), c.subarray(j)]);
    }
    case "length": {
      const heads = headerOffsets(b);
      if (!heads.length) return c;
      const h = heads[m.which % heads.length];
      const lenAt = h + 1;
      const oldLen = c[lenAt] & 0x80 ? 1 + (c[lenAt] & 0x7f) : 1;
      const forms: number[][] = [
        [0x80], // indefinite (BER)
        [0x84, 0xff, 0xff, 0xff, 0xff], // huge
        [0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9], // too many length octets
        [0x82, 0x00, m.v], // non-minimal
        [Math.min(0x7f, m.v)], // another short length
        [0x84, 0x7f, 0xff, 0xff, 0xf0], // past everything
        [0x81], // truncated length octets
        [0x00], // zero
      ];
      return Buffer.concat([c.subarray(0, lenAt), Uint8Array.from(forms[m.form]), c.subarray(lenAt + oldLen)]);
    }
    default:
      return c;
  }
}

function structural(root: DerNode, m: Mutation): DerNode {
  const all = nodesOf(root);
  const pick = (i: number) => all[i % all.length];
  switch (m.k) {
    case "dup": {
      const t = pick(m.which);
      if (t.parent) t.parent.children!.splice(t.index, 0, ...Array.from({ length: m.times }, () => cloneTree(t.node)));
      return root;
    }
    case "drop": {
      const t = pick(m.which);
      if (t.parent) t.parent.children!.splice(t.index, 1);
      return root;
    }
    case "swap": {
      const t = pick(m.which);
      const sib = t.parent?.children;
      if (sib && sib.length > 1) {
        const j = (t.index + 1) % sib.length;
        [sib[t.index], sib[j]] = [sib[j], sib[t.index]];
      }
      return root;
    }
    case "graft": {
      const t = pick(m.which);
      const from = cloneTree(pick(m.from).node);
      if (!t.parent) return from;
      t.parent.children![t.index] = from;
      return root;
    }
    case "retag": {
      const t = pick(m.which).node;
      // A constructed node re-tagged primitive keeps its encoding as content.
      if (t.children && !(m.tag & 0x20) && !t.encapsulated) Object.assign(t, { content: Buffer.concat(t.children.map(encodeTree)), children: undefined });
      else if (!t.children && m.tag & 0x20) Object.assign(t, { children: parseTreeList(t.content), content: undefined });
      t.tag = m.tag;
      return root;
    }
    case "content":
    case "special": {
      const t = pick(m.which).node;
      const bytes = m.k === "content" ? m.bytes : SPECIAL[m.v % SPECIAL.length];
      if (t.tag & 0x20) t.children = parseTreeList(bytes);
      else Object.assign(t, { children: undefined, encapsulated: undefined, content: bytes });
      return root;
    }
    case "nest": {
      const t = pick(m.which);
      let n = t.node;
      for (let i = 0; i < m.depth; i++) n = m.tag === 0x04 ? { tag: 0x04, children: [n], encapsulated: true } : { tag: m.tag, children: [n] };
      if (!t.parent) return n;
      t.parent.children![t.index] = n;
      return root;
    }
    default:
      return root;
  }
}

/** Bytes as children when they parse as DER, else as one opaque primitive (so a constructed node stays constructed). */
function parseTreeList(b: Uint8Array | undefined): DerNode[] {
  const t = b && b.length ? parseTree(b) : undefined;
  return t ? [t] : b && b.length ? [{ tag: 0x04, content: b }] : [];
}

export function applyMutations(seed: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = seed;
  for (const m of ms) {
    if (m.k === "flip" || m.k === "set" || m.k === "truncate" || m.k === "insert" || m.k === "delete" || m.k === "length" || m.k === "splice") {
      b = raw(b, m);
      continue;
    }
    const tree = parseTree(b);
    b = tree ? encodeTree(structural(tree, m)) : raw(b, { k: "flip", at: (m as { which: number }).which, bit: 0 });
  }
  return new Uint8Array(b);
}

/** A mutated copy of one of `seeds` (chosen by the generator too). */
export function mutatedDer(...seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.nat({ max: seeds.length - 1 }), mutationsArb).map(([i, ms]) => applyMutations(seeds[i], ms));
}

/** Generated DER-ish bytes from scratch: random TLV trees (mostly well-formed) and plain random bytes. */
export const generatedDer: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.letrec<{ node: DerNode }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.record({ tag: fc.constantFrom(...TAGS.filter((t) => !(t & 0x20))), content: fc.uint8Array({ maxLength: 24 }) }),
      fc.record({ tag: fc.constantFrom(0x30, 0x31, 0xa0, 0xa1, 0xa3), children: fc.array(tie("node"), { maxLength: 5 }) }),
    ),
  })).node.map(encodeTree).map((b) => new Uint8Array(b)),
);
