import { GeneralName } from "@peculiar/asn1-x509";
import { emptySans, type SanSet } from "../policy/request.js";
import { deviceNameFromOtherName } from "./device-names.js";
import { readTlv } from "./der-walk.js";
import { bytesToIp, canonicalIp } from "./ip.js";

/** Reads the name forms the gateway understands; other forms are reported as `other` so policy can refuse them. */
export function generalNamesToSans(names: GeneralName[]): SanSet & { other: number } {
  const out = { ...emptySans(), other: 0 };
  for (const n of names) {
    if (n.dNSName !== undefined) out.dns.push(n.dNSName.toLowerCase());
    else if (n.iPAddress !== undefined) out.ip.push(safeCanonicalIp(n.iPAddress));
    else if (n.rfc822Name !== undefined) out.email.push(n.rfc822Name);
    else if (n.uniformResourceIdentifier !== undefined) out.uri.push(n.uniformResourceIdentifier);
    else {
      const d = n.otherName && deviceNameFromOtherName(n.otherName.typeId, n.otherName.value);
      if (d) (out[d.kind] ??= []).push(d.text);
      else out.other++;
    }
  }
  return out;
}

/**
 * The reading of generalNamesToSans straight from the DER of a GeneralNames SEQUENCE (bytes not yet checked),
 * for the name forms of ordinary requests: dNSName, rfc822Name, URI (IA5, read octet by octet as the schema
 * parser does) and iPAddress of 4 or 16 octets. Undefined for anything else (other forms, unusual encodings):
 * the caller then uses the schema parser, which decides as before.
 */
export function generalNamesDerToSans(der: Uint8Array): (SanSet & { other: number }) | undefined {
  const seq = readTlv(der, 0, der.length);
  if (!seq || seq.tag !== 0x30 || seq.end !== der.length || seq.end === seq.contentStart) return undefined;
  const out = { ...emptySans(), other: 0 };
  for (let pos = seq.contentStart; pos < seq.end; ) {
    const t = readTlv(der, pos, seq.end);
    if (!t) return undefined;
    const value = der.subarray(t.contentStart, t.end);
    if (t.tag === 0x82) out.dns.push(latin1(value).toLowerCase());
    else if (t.tag === 0x87 && (value.length === 4 || value.length === 16)) out.ip.push(bytesToIp(value));
    else if (t.tag === 0x81) out.email.push(latin1(value));
    else if (t.tag === 0x86) out.uri.push(latin1(value));
    else return undefined;
    pos = t.end;
  }
  return out;
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

export function sansToGeneralNames(s: SanSet): GeneralName[] {
  return [
    ...s.dns.map((d) => new GeneralName({ dNSName: d })),
    ...s.ip.map((ip) => new GeneralName({ iPAddress: canonicalIp(ip) })),
    ...s.email.map((e) => new GeneralName({ rfc822Name: e })),
    ...s.uri.map((u) => new GeneralName({ uniformResourceIdentifier: u })),
  ];
}

function safeCanonicalIp(text: string): string {
  try {
    return canonicalIp(text);
  } catch {
    return text; // policy rejects it as not an allowed IP
  }
}
