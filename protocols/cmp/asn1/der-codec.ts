import {
  AsnArray, AsnIntegerArrayBufferConverter, AsnIntegerBigIntConverter, AsnProp, AsnPropTypes as T, AsnType, AsnTypeTypes, BitString, OctetString,
} from "@peculiar/asn1-schema";
import { header } from "../../../src/asn1/der-walk.js";
import { bytesToIp } from "../../../src/asn1/ip.js";

/*
 * A strict DER codec driven by the same declarations as @peculiar/asn1-schema. `Prop` and `Type` register
 * each field with AsnProp/AsnType (so AsnConvert keeps working on these classes) and here too. Why not
 * AsnConvert itself: it builds an asn1js object per node and re-parses implicitly tagged values (an ir
 * took 0.7–1 ms where this takes under 0.1 ms), and it silently skips what it does not expect. This walks
 * the bytes once and is strict by construction:
 * every byte must belong to a declared field, DEFAULT values must be absent, SET OF sorted, strings valid,
 * times in DER form. So decode(x) re-encodes to exactly x. Input must have passed checkDer.
 */

export class DerShapeError extends Error {
  override readonly name = "DerShapeError";
}

type Ctor = new () => object;
type PropOptions = Parameters<typeof AsnProp>[0];
type TypeOptions = Parameters<typeof AsnType>[0];
type IntForm = "number" | "bigint" | "buffer";

interface Field {
  key: string;
  type: T | Ctor;
  optional: boolean;
  context?: number;
  implicit: boolean;
  repeated?: "sequence" | "set";
  int: IntForm;
  ip: boolean;
  raw: boolean;
  defaultValue?: unknown;
  /** Outer tags, computed on first use. */
  tags?: number[] | "*";
}
interface Schema {
  kind: "sequence" | "set" | "choice";
  itemType?: T | Ctor;
  fields: Field[];
}

const schemas = new WeakMap<object, Schema>();
const schemaOf = (c: object): Schema => {
  let s = schemas.get(c);
  if (!s) schemas.set(c, (s = { kind: "sequence", fields: [] }));
  return s;
};

/** A field for both codecs. `ip: true` marks an iPAddress OCTET STRING read as text (x509 registrations only). */
export function field(key: string, o: PropOptions & { ip?: boolean }): Field {
  const int: IntForm = o.converter === AsnIntegerBigIntConverter ? "bigint" : o.converter === AsnIntegerArrayBufferConverter ? "buffer" : "number";
  if (o.converter && int === "number" && !o.ip) throw new Error(`${key}: custom converters are not supported`);
  return { key, type: o.type as T | Ctor, optional: !!o.optional, context: o.context, implicit: !!o.implicit, repeated: o.repeated, int, ip: !!o.ip, raw: !!o.raw, defaultValue: o.defaultValue };
}

/** Property decorator: AsnProp plus registration here. */
export const Prop = (o: PropOptions) => (target: object, key: string): void => {
  AsnProp(o)(target, key);
  schemaOf(target.constructor).fields.push(field(key, o));
};

/** Class decorator: AsnType plus registration here. */
export const Type = (o: TypeOptions) => (target: Ctor): void => {
  AsnType(o)(target);
  const s = schemaOf(target);
  s.kind = o.type === AsnTypeTypes.Choice ? "choice" : o.type === AsnTypeTypes.Set ? "set" : "sequence";
  s.itemType = o.itemType as T | Ctor | undefined;
};

/** Registers a class declared elsewhere (the @peculiar/asn1-x509 leaf types), mirroring its decorators. */
export function register(c: Ctor, kind: Schema["kind"], fields: Field[], itemType?: T | Ctor): void {
  schemas.set(c, { kind, fields, itemType });
}

const UNIVERSAL: Partial<Record<T, number>> = {
  [T.Boolean]: 0x01, [T.Integer]: 0x02, [T.BitString]: 0x03, [T.OctetString]: 0x04, [T.Null]: 0x05, [T.ObjectIdentifier]: 0x06,
  [T.Utf8String]: 0x0c, [T.PrintableString]: 0x13, [T.TeletexString]: 0x14, [T.IA5String]: 0x16, [T.UTCTime]: 0x17,
  [T.GeneralizedTime]: 0x18, [T.UniversalString]: 0x1c, [T.BmpString]: 0x1e,
};

interface Tlv { tag: number; start: number; body: number; end: number }

function tlv(der: Uint8Array, pos: number, end: number): Tlv {
  if ((der[pos] & 0x1f) === 0x1f) throw new DerShapeError("high tag numbers are not used here");
  const h = header(der, pos);
  if (h.end > end) throw new DerShapeError("value runs past its container");
  return { tag: der[pos], start: pos, body: h.contentStart, end: h.end };
}

function kids(der: Uint8Array, t: Tlv, what: string): Tlv[] {
  if (!(t.tag & 0x20)) throw new DerShapeError(`${what} must be constructed`);
  const out: Tlv[] = [];
  for (let p = t.body; p < t.end; ) p = out[out.push(tlv(der, p, t.end)) - 1].end;
  return out;
}

/** A fresh ArrayBuffer of these bytes. Never `.slice().buffer`: on a Buffer that is a view of the shared pool. */
export function ownBytes(v: Uint8Array): ArrayBuffer {
  const c = new Uint8Array(v.length);
  c.set(v);
  return c.buffer;
}
const copy = (der: Uint8Array, a: number, b: number): ArrayBuffer => ownBytes(der.subarray(a, b));

const typeTagCache = new Map<T | Ctor, number[] | "*">();

/** Tag bytes a value of `type` may start with when untagged; "*" for ANY. Cached: schemas are fixed once loaded. */
function typeTags(type: T | Ctor): number[] | "*" {
  let tags = typeTagCache.get(type);
  if (!tags) typeTagCache.set(type, (tags = computeTypeTags(type)));
  return tags;
}

function computeTypeTags(type: T | Ctor): number[] | "*" {
  if (typeof type === "number") return type === T.Any ? "*" : [universal(type)];
  if (type === BitString) return [0x03];
  if (type === OctetString) return [0x04];
  const s = schemas.get(type);
  if (!s) throw new DerShapeError(`no schema for ${type.name}`);
  if (s.kind !== "choice") return [s.kind === "set" ? 0x31 : 0x30];
  const all: number[] = [];
  for (const f of s.fields) {
    const t = fieldTags(f);
    if (t === "*") return "*";
    all.push(...t);
  }
  return all;
}

function fieldTags(f: Field): number[] | "*" {
  return (f.tags ??= computeFieldTags(f));
}

function computeFieldTags(f: Field): number[] | "*" {
  if (f.context !== undefined) return [(!f.implicit || constructed(f) ? 0xa0 : 0x80) | f.context];
  if (f.repeated) return [f.repeated === "set" ? 0x31 : 0x30];
  return typeTags(f.type);
}

function constructed(f: Field): boolean {
  if (f.repeated) return true;
  if (typeof f.type === "number") {
    if (f.type === T.Any) throw new DerShapeError(`${f.key}: IMPLICIT ANY is not supported`);
    return false;
  }
  if (f.type === BitString || f.type === OctetString) return false;
  const s = schemas.get(f.type);
  if (s?.kind === "choice") throw new DerShapeError(`${f.key}: a tagged CHOICE is explicit`);
  return true;
}

function universal(type: T): number {
  const tag = UNIVERSAL[type];
  if (tag === undefined) throw new DerShapeError(`ASN.1 type ${T[type]} is not supported`);
  return tag;
}

const fits = (f: Field, tag: number) => {
  const tags = fieldTags(f);
  return tags === "*" || tags.includes(tag);
};

/** Decodes the single DER value `der` (already checked by checkDer) as an instance of `type`. */
export function decodeDer<C extends Ctor>(type: C, der: Uint8Array, what = type.name): InstanceType<C> {
  const t = tlv(der, 0, der.length);
  if (t.end !== der.length) throw new DerShapeError(`${what}: trailing data`);
  return decodeType(type, der, t, false, what) as InstanceType<C>;
}

function decodeType(type: T | Ctor, der: Uint8Array, t: Tlv, implicit: boolean, what: string, f?: Field): unknown {
  if (typeof type === "number") {
    if (type === T.Any) return t.tag === 0x05 && t.end === t.body ? null : copy(der, t.start, t.end);
    if (!implicit && t.tag !== universal(type)) throw new DerShapeError(`${what}: expected ${T[type]}`);
    return primitive(type, der.subarray(t.body, t.end), what, f);
  }
  const tags = typeTags(type);
  if (!implicit && tags !== "*" && !tags.includes(t.tag)) throw new DerShapeError(`${what}: unexpected tag 0x${t.tag.toString(16)}`);
  if (type === BitString || type === OctetString) {
    if (t.tag & 0x20) throw new DerShapeError(`${what} must be primitive`);
    return type === BitString ? bitString(der.subarray(t.body, t.end), what) : new OctetString(ownBytes(der.subarray(t.body, t.end)));
  }
  const s = schemas.get(type)!;
  const obj = new type() as Record<string, unknown>;
  if (s.kind === "choice") {
    const alt = s.fields.find((x) => fits(x, t.tag));
    if (!alt) throw new DerShapeError(`${what}: no ${type.name} alternative has tag 0x${t.tag.toString(16)}`);
    obj[alt.key] = decodeField(alt, der, t, `${what}.${alt.key}`);
    return obj;
  }
  const children = kids(der, t, what);
  if (s.itemType !== undefined) {
    if (s.kind === "set") sortedSet(der, children, what);
    for (const c of children) (obj as unknown as AsnArray<unknown>).push(decodeType(s.itemType, der, c, false, `${what}[]`));
    return obj;
  }
  let i = 0;
  for (const fl of s.fields) {
    const c = children[i];
    if (c && fits(fl, c.tag)) {
      const v = decodeField(fl, der, c, `${what}.${fl.key}`);
      if (fl.defaultValue !== undefined && v === fl.defaultValue) throw new DerShapeError(`${what}.${fl.key}: DEFAULT value must be absent in DER`);
      obj[fl.key] = v;
      if (fl.raw) obj[`${fl.key}Raw`] = new Uint8Array(der.subarray(c.start, c.end)); // a copy: the input buffer may be reused
      i++;
    } else if (!fl.optional && fl.defaultValue === undefined) {
      throw new DerShapeError(`${what}.${fl.key} is missing`);
    }
  }
  if (i !== children.length) throw new DerShapeError(`${what} has unexpected fields`);
  return obj;
}

function decodeField(f: Field, der: Uint8Array, t: Tlv, what: string): unknown {
  let v = t;
  if (f.context !== undefined && !f.implicit) {
    const inner = kids(der, t, what);
    if (inner.length !== 1) throw new DerShapeError(`${what}: an explicit tag holds one value`);
    v = inner[0];
  }
  const implicit = f.context !== undefined && f.implicit;
  if (!f.repeated) return decodeType(f.type, der, v, implicit, what, f);
  if (!implicit && v.tag !== (f.repeated === "set" ? 0x31 : 0x30)) throw new DerShapeError(`${what}: expected SEQUENCE OF`);
  const items = kids(der, v, what);
  if (f.repeated === "set") sortedSet(der, items, what);
  return items.map((c) => decodeType(f.type, der, c, false, `${what}[]`, f));
}

function sortedSet(der: Uint8Array, items: Tlv[], what: string): void {
  for (let i = 1; i < items.length; i++) {
    if (Buffer.compare(der.subarray(items[i - 1].start, items[i - 1].end), der.subarray(items[i].start, items[i].end)) > 0) {
      throw new DerShapeError(`${what}: SET OF is not sorted (DER)`);
    }
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

function primitive(type: T, c: Uint8Array, what: string, f?: Field): unknown {
  switch (type) {
    case T.Boolean: return c[0] === 0xff;
    case T.Integer: return integer(c, f?.int ?? "number");
    case T.BitString: {
      if (c[0] !== 0) throw new DerShapeError(`${what}: BIT STRING must be whole octets`);
      return ownBytes(c.subarray(1));
    }
    case T.OctetString: return f?.ip ? ipText(c, what) : ownBytes(c);
    case T.Null:
      if (c.length) throw new DerShapeError(`${what}: NULL has content`);
      return null;
    case T.ObjectIdentifier: return oidText(c, what);
    case T.Utf8String:
      try {
        return utf8.decode(c);
      } catch {
        throw new DerShapeError(`${what}: invalid UTF-8`);
      }
    case T.PrintableString: case T.IA5String: case T.TeletexString: {
      const s = Buffer.from(c).toString("latin1");
      if (type === T.PrintableString ? !PRINTABLE.test(s) : type === T.IA5String && /[^\x00-\x7f]/.test(s)) throw new DerShapeError(`${what}: invalid ${T[type]}`);
      return s;
    }
    case T.BmpString: case T.UniversalString: return wideText(c, type === T.BmpString ? 2 : 4, what);
    case T.UTCTime: case T.GeneralizedTime: return timeOf(c, type === T.UTCTime, what);
    default: throw new DerShapeError(`${what}: ${T[type]} is not supported`);
  }
}

function integer(c: Uint8Array, form: IntForm): number | string | bigint | ArrayBuffer {
  if (form === "buffer") return ownBytes(c);
  const v = BigInt.asIntN(c.length * 8, BigInt(`0x${Buffer.from(c).toString("hex")}`));
  if (form === "bigint") return v;
  // Same shapes as AsnIntegerConverter: a number below 4 octets, else decimal text.
  return c.length >= 4 ? v.toString() : Number(v);
}

function bitString(c: Uint8Array, what: string): BitString {
  const unused = c[0];
  if (unused && c[c.length - 1] & ((1 << unused) - 1)) throw new DerShapeError(`${what}: unused bits must be zero (DER)`);
  return new BitString(ownBytes(c.subarray(1)), unused);
}

function oidText(b: Uint8Array, what: string): string {
  if (!b.length || b[b.length - 1] & 0x80) throw new DerShapeError(`${what}: OID is truncated`);
  // Numbers while arcs stay exact (every OID in practice); BigInt only beyond 2^53.
  const arcs: string[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    if (v === 0 && b[i] === 0x80) throw new DerShapeError(`${what}: OID is not minimally encoded`);
    v = v * 128 + (b[i] & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 256) return oidTextBig(b);
    if (b[i] & 0x80) continue;
    if (!arcs.length) arcs.push(v < 80 ? String(Math.floor(v / 40)) : "2", String(v < 80 ? v % 40 : v - 80));
    else arcs.push(String(v));
    v = 0;
  }
  return arcs.join(".");
}

/** The same with BigInt arcs (minimality was checked by the caller up to here, and is rechecked). */
function oidTextBig(b: Uint8Array): string {
  const arcs: string[] = [];
  let v = 0n;
  for (let i = 0; i < b.length; i++) {
    if (v === 0n && b[i] === 0x80) throw new DerShapeError("OID is not minimally encoded");
    v = (v << 7n) | BigInt(b[i] & 0x7f);
    if (b[i] & 0x80) continue;
    if (!arcs.length) arcs.push(v < 80n ? String(v / 40n) : "2", String(v < 80n ? v % 40n : v - 80n));
    else arcs.push(String(v));
    v = 0n;
  }
  return arcs.join(".");
}

function wideText(c: Uint8Array, width: 2 | 4, what: string): string {
  if (c.length % width) throw new DerShapeError(`${what}: truncated wide string`);
  let s = "";
  for (let i = 0; i < c.length; i += width) {
    const cp = width === 2 ? (c[i] << 8) | c[i + 1] : ((c[i] << 24) | (c[i + 1] << 16) | (c[i + 2] << 8) | c[i + 3]) >>> 0;
    if (cp > 0x10ffff || (width === 4 && cp >= 0xd800 && cp <= 0xdfff)) throw new DerShapeError(`${what}: invalid character`);
    s += width === 2 ? String.fromCharCode(cp) : String.fromCodePoint(cp);
  }
  return s;
}

/** UTCTime YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ: the only DER forms RFC 5280 allows in certificates. */
function timeOf(c: Uint8Array, utc: boolean, what: string): Date {
  const m = (utc ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/ : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/).exec(Buffer.from(c).toString("latin1"));
  if (!m) throw new DerShapeError(`${what}: not a DER time`);
  const year = utc ? (+m[1] < 50 ? 2000 : 1900) + +m[1] : +m[1];
  const d = new Date(Date.UTC(year, +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  if (d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3] || d.getUTCHours() !== +m[4] || d.getUTCMinutes() !== +m[5] || d.getUTCSeconds() !== +m[6]) {
    throw new DerShapeError(`${what}: not a valid time`);
  }
  return d;
}

function ipText(c: Uint8Array, what: string): string {
  if (c.length !== 4 && c.length !== 16) throw new DerShapeError(`${what}: iPAddress must be 4 or 16 octets`);
  return bytesToIp(c);
}

/** Shared with der-encoder.ts. */
export const internals = { schemas, universal };
export type { Field, Schema, Ctor };
