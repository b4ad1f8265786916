import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { CRLNumber, Extension, id_ce_cRLNumber } from "@peculiar/asn1-x509";
import { algorithmIdentifier } from "../asn1/algorithms.js";
import type { CertificateAuthority } from "../ca/authority.js";
import { authorityKeyId } from "../ca/extensions.js";
import { signAndVerify } from "../ca/sign-object.js";
import { wholeSeconds } from "../ca/tbs.js";

/**
 * Streamed CRL encoding: the TBSCertList is written straight into one growing buffer, one revoked
 * entry at a time from its serial hex, ISO time and reason code, with no object per entry. The parts
 * that occur once (algorithm, issuer, extensions) still come from the ASN.1 classes, so the output is
 * byte for byte what the object-tree encoder produced. Cost is linear in the number of entries.
 */

/** crlEntryExtensions holding only reasonCode (2.5.29.21, not critical): SEQUENCE { SEQUENCE { OID, OCTET STRING { ENUMERATED } } }. */
const REASON_EXT_PREFIX = [0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01];
const REASON_EXT_LEN = REASON_EXT_PREFIX.length + 1;
/** Room kept in front of the entries for the headers written last: 3 SEQUENCE headers of at most 6 octets. */
const HEADER_ROOM = 18;

export function derLengthOctets(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** RFC 5280 §5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
export function derTime(d: Date): Uint8Array {
  const t = wholeSeconds(d);
  const year = t.getUTCFullYear();
  const p2 = (n: number) => String(n).padStart(2, "0");
  const rest = `${p2(t.getUTCMonth() + 1)}${p2(t.getUTCDate())}${p2(t.getUTCHours())}${p2(t.getUTCMinutes())}${p2(t.getUTCSeconds())}Z`;
  const text = year < 2050 ? `${p2(year % 100)}${rest}` : `${String(year).padStart(4, "0")}${rest}`;
  return Uint8Array.of(year < 2050 ? 0x17 : 0x18, text.length, ...Buffer.from(text, "latin1"));
}

/** Positions in a canonical `toISOString()` value ("2024-05-01T12:34:56.000Z") of YYMMDDHHMMSS. */
const ISO_UTC_DIGITS = [2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

function isCanonicalIso(s: string): boolean {
  return s.length === 24 && s.charCodeAt(10) === 84 /* T */ && s.charCodeAt(19) === 46 /* . */ && s.charCodeAt(23) === 90 /* Z */ && s.charCodeAt(0) !== 45;
}

/**
 * Writes a TBSCertList: prefix fields first, then entries as rows arrive, then the extensions; the
 * SEQUENCE headers are filled in at the end into the room kept in front, so nothing is copied.
 */
export class CrlWriter {
  private buf: Buffer;
  private pos: number;
  private readonly entriesStart: number;
  private readonly prefix: Uint8Array;
  private readonly extensions: Uint8Array;
  private readonly algorithm: Uint8Array;
  private lastTimeText = "";
  private lastTime: Uint8Array = new Uint8Array(0);
  entries = 0;

  constructor(private readonly ca: CertificateAuthority, crlNumber: number, thisUpdate: Date, nextUpdate: Date, sizeHint = 0) {
    this.algorithm = new Uint8Array(AsnConvert.serialize(algorithmIdentifier(ca.signer.algorithm)));
    // version v2 (INTEGER 1), signature, issuer exactly as in the CA certificate, thisUpdate, nextUpdate.
    this.prefix = Buffer.concat([Uint8Array.of(0x02, 0x01, 0x01), this.algorithm, ca.subjectDer, derTime(thisUpdate), derTime(nextUpdate)]);
    const number = new Extension({ extnID: id_ce_cRLNumber, critical: false, extnValue: new OctetString(AsnConvert.serialize(new CRLNumber(crlNumber))) });
    const exts = Buffer.concat([new Uint8Array(AsnConvert.serialize(authorityKeyId(ca.keyId))), new Uint8Array(AsnConvert.serialize(number))]);
    const seq = Buffer.concat([Uint8Array.of(0x30, ...derLengthOctets(exts.length)), exts]);
    this.extensions = Buffer.concat([Uint8Array.of(0xa0, ...derLengthOctets(seq.length)), seq]); // crlExtensions [0] EXPLICIT
    this.entriesStart = HEADER_ROOM + this.prefix.length;
    this.buf = Buffer.allocUnsafe(this.entriesStart + Math.max(4096, sizeHint * 56) + 512);
    this.pos = this.entriesStart;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** One revoked entry: serial as stored (lowercase hex, no sign octet), ISO revocation time, reason code (0 = no extension). */
  add(serialHex: string, revokedAt: string, reason: number): void {
    const hex = serialHex.length & 1 ? `0${serialHex}` : serialHex;
    const sign = hex.charCodeAt(0) >= 56 /* '8' */ ? 1 : 0; // a set high bit needs a 0x00 octet to stay positive
    const serialLen = hex.length / 2 + sign;
    if (reason < 0 || reason > 10 || !Number.isInteger(reason)) throw new Error(`revocation reason ${reason} of ${serialHex} is not a CRLReason`);
    const time = revokedAt === this.lastTimeText ? this.lastTime : this.timeOf(revokedAt);
    const content = 2 + serialLen + time.length + (reason === 0 ? 0 : REASON_EXT_LEN);
    if (serialLen > 0x7f || content > 0x7f) throw new Error(`serial ${serialHex} is too long for a CRL entry`);
    this.ensure(content + 2);
    const b = this.buf;
    let p = this.pos;
    b[p++] = 0x30;
    b[p++] = content;
    b[p++] = 0x02;
    b[p++] = serialLen;
    if (sign) b[p++] = 0;
    const written = b.write(hex, p, "hex");
    if (written !== hex.length / 2) throw new Error(`serial ${JSON.stringify(serialHex)} is not hex`);
    p += written;
    b.set(time, p);
    p += time.length;
    if (reason !== 0) {
      for (let i = 0; i < REASON_EXT_PREFIX.length; i++) b[p++] = REASON_EXT_PREFIX[i];
      b[p++] = reason;
    }
    this.pos = p;
    this.entries++;
  }

  private timeOf(iso: string): Uint8Array {
    let out: Uint8Array;
    const year = isCanonicalIso(iso) ? Number(iso.slice(0, 4)) : NaN;
    if (year >= 1950 && year < 2050) {
      out = new Uint8Array(15);
      out[0] = 0x17;
      out[1] = 13;
      for (let i = 0; i < 12; i++) out[2 + i] = iso.charCodeAt(ISO_UTC_DIGITS[i]);
      out[14] = 0x5a;
    } else {
      const d = new Date(iso);
      if (Number.isNaN(d.getTime())) throw new Error(`revocation time ${JSON.stringify(iso)} is not a date`);
      out = derTime(d);
    }
    this.lastTimeText = iso;
    this.lastTime = out;
    return out;
  }

  /** Closes the TBSCertList, signs it (verified before use, see signAndVerify) and returns the CertificateList DER. */
  async sign(): Promise<Uint8Array> {
    const entriesLen = this.pos - this.entriesStart;
    this.ensure(this.extensions.length);
    this.buf.set(this.extensions, this.pos);
    this.pos += this.extensions.length;
    const tbsEnd = this.pos;
    // An empty CRL has no revokedCertificates field at all (RFC 5280 §5.1.2.6).
    const revokedHdr = entriesLen ? [0x30, ...derLengthOctets(entriesLen)] : [];
    let start = this.entriesStart - revokedHdr.length;
    this.buf.set(revokedHdr, start);
    start -= this.prefix.length;
    this.buf.set(this.prefix, start);
    const tbsHdr = [0x30, ...derLengthOctets(tbsEnd - start)];
    start -= tbsHdr.length;
    this.buf.set(tbsHdr, start);
    const tbsStart = start;
    const sig = await signAndVerify(this.ca.signer, this.buf.subarray(tbsStart, tbsEnd));
    const bitString = [0x03, ...derLengthOctets(sig.length + 1), 0x00];
    this.ensure(this.algorithm.length + bitString.length + sig.length);
    let p = tbsEnd;
    this.buf.set(this.algorithm, p);
    p += this.algorithm.length;
    this.buf.set(bitString, p);
    p += bitString.length;
    this.buf.set(sig, p);
    p += sig.length;
    const outerHdr = [0x30, ...derLengthOctets(p - tbsStart)];
    start = tbsStart - outerHdr.length;
    this.buf.set(outerHdr, start);
    const der = this.buf.subarray(start, p);
    // Keep no large slack alive with the CRL (it is cached for serving).
    return der.length < this.buf.length * 0.75 ? Buffer.from(der) : der;
  }
}

export interface RevokedEntry {
  serial: string;
  revokedAt: string;
  reason: number;
}

/** Builds and signs a v2 CRL (AKI, CRL number; reason code entry extensions except for "unspecified") from an in-memory list. */
export async function buildCrl(ca: CertificateAuthority, entries: Iterable<RevokedEntry>, crlNumber: number, thisUpdate: Date, nextUpdate: Date): Promise<Uint8Array> {
  const w = new CrlWriter(ca, crlNumber, thisUpdate, nextUpdate);
  for (const e of entries) w.add(e.serial, e.revokedAt, e.reason);
  return w.sign();
}
