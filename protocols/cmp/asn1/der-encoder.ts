import { AsnPropTypes as T, BitString, OctetString } from "@peculiar/asn1-schema";
import { derTlv } from "../../../src/asn1/der-encode.js";
import { oidDer } from "../../../src/asn1/der-values.js";
import { ipToBytes } from "../../../src/asn1/ip.js";
import { DerShapeError, internals, type Ctor, type Field } from "./der-codec.js";

/** DER of an instance of a class declared with Prop/Type (or registered); the twin of decodeDer. */
export function encodeDer(value: object): Uint8Array {
  const b = encodeType(value.constructor as Ctor, value, value.constructor.name);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength); // not a Buffer: its slice() would share memory
}

function encodeType(type: T | Ctor, v: unknown, what: string, f?: Field): Uint8Array {
  if (typeof type === "number") {
    if (type === T.Any) {
      if (v === null) return Uint8Array.of(0x05, 0x00);
      return bytes(v, what); // already a whole TLV
    }
    if (type === T.ObjectIdentifier) return oidDer(text(v, what));
    return derTlv(internals.universal(type), primitive(type, v, what, f));
  }
  if (type === BitString) {
    const b = v as BitString;
    return derTlv(0x03, Uint8Array.of(b.unusedBits), new Uint8Array(b.value));
  }
  if (type === OctetString) return derTlv(0x04, new Uint8Array((v as OctetString).buffer));
  const s = internals.schemas.get(type);
  if (!s) throw new DerShapeError(`no schema for ${type.name}`);
  const obj = v as Record<string, unknown>;
  if (s.kind === "choice") {
    const alt = s.fields.find((x) => obj[x.key] !== undefined);
    if (!alt) throw new DerShapeError(`${what}: no ${type.name} alternative is set`);
    return encodeField(alt, obj[alt.key], `${what}.${alt.key}`);
  }
  const tag = s.kind === "set" ? 0x31 : 0x30;
  if (s.itemType !== undefined) {
    const items = (v as unknown[]).map((x) => encodeType(s.itemType!, x, `${what}[]`));
    return derTlv(tag, ...(s.kind === "set" ? sorted(items) : items));
  }
  const parts: Uint8Array[] = [];
  for (const fl of s.fields) {
    const x = obj[fl.key];
    if (x === undefined || (fl.defaultValue !== undefined && x === fl.defaultValue)) {
      if (!fl.optional && fl.defaultValue === undefined) throw new DerShapeError(`${what}.${fl.key} is required`);
      continue;
    }
    parts.push(encodeField(fl, x, `${what}.${fl.key}`));
  }
  return derTlv(tag, ...parts);
}

function encodeField(f: Field, v: unknown, what: string): Uint8Array {
  let out: Uint8Array;
  if (f.repeated) {
    if (!Array.isArray(v)) throw new DerShapeError(`${what} must be an array`);
    const items = v.map((x) => encodeType(f.type, x, `${what}[]`, f));
    out = derTlv(f.repeated === "set" ? 0x31 : 0x30, ...(f.repeated === "set" ? sorted(items) : items));
  } else {
    out = encodeType(f.type, v, what, f);
  }
  if (f.context === undefined) return out;
  if (!f.implicit) return derTlv(0xa0 | f.context, out);
  const tagged = Uint8Array.from(out);
  tagged[0] = (out[0] & 0x20 ? 0xa0 : 0x80) | f.context;
  return tagged;
}


const sorted = (items: Uint8Array[]) => [...items].sort((a, b) => Buffer.compare(a, b));
const enc = new TextEncoder();

function primitive(type: T, v: unknown, what: string, f?: Field): Uint8Array {
  switch (type) {
    case T.Boolean: return Uint8Array.of(v ? 0xff : 0x00);
    case T.Integer: return integer(v, what);
    case T.BitString: return Buffer.concat([Uint8Array.of(0), bytes(v, what)]);
    case T.OctetString: return f?.ip ? ipToBytes(text(v, what)) : bytes(v, what);
    case T.Null: return new Uint8Array(0);
    case T.Utf8String: return enc.encode(text(v, what));
    case T.PrintableString: case T.IA5String: case T.TeletexString: return Buffer.from(text(v, what), "latin1");
    case T.BmpString: case T.UniversalString: return wide(text(v, what), type === T.BmpString ? 2 : 4);
    case T.UTCTime: case T.GeneralizedTime: return time(v, type === T.UTCTime, what);
    default: throw new DerShapeError(`${what}: ${T[type]} is not supported`);
  }
}

/** Two's complement, minimal. ArrayBuffer contents are taken as already-encoded INTEGER octets. */
function integer(v: unknown, what: string): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (typeof v !== "bigint" && typeof v !== "number" && typeof v !== "string") throw new DerShapeError(`${what} is not an integer`);
  let n = BigInt(v);
  const out: number[] = [];
  do {
    out.unshift(Number(n & 0xffn));
    n >>= 8n;
  } while (!(n === 0n && !(out[0] & 0x80)) && !(n === -1n && out[0] & 0x80));
  return Uint8Array.from(out);
}

function bytes(v: unknown, what: string): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new DerShapeError(`${what} is not bytes`);
}

function text(v: unknown, what: string): string {
  if (typeof v !== "string") throw new DerShapeError(`${what} is not text`);
  return v;
}

function wide(s: string, width: 2 | 4): Uint8Array {
  const units = width === 2 ? Array.from({ length: s.length }, (_, i) => s.charCodeAt(i)) : Array.from(s, (ch) => ch.codePointAt(0)!);
  const out = new Uint8Array(units.length * width);
  units.forEach((u, i) => {
    for (let k = 0; k < width; k++) out[i * width + k] = (u >>> (8 * (width - 1 - k))) & 0xff;
  });
  return out;
}

function time(v: unknown, utc: boolean, what: string): Uint8Array {
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new DerShapeError(`${what} is not a date`);
  const digits = v.toISOString().slice(0, 19).replace(/[-T:]/g, "");
  return Buffer.from(`${utc ? digits.slice(2) : digits}Z`, "latin1");
}
