// @peculiar/x509 resolves its providers through tsyringe, which needs the Reflect polyfill loaded first.
import "reflect-metadata";
import { Name as X509Name } from "@peculiar/x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import { derSequence, derTlv } from "./der-encode.js";
import { ia5Der, oidDer, printableDer, utf8Der } from "./der-values.js";
import { AttributeTypeAndValue, AttributeValue, Name as AsnName, RelativeDistinguishedName } from "@peculiar/asn1-x509";

const ATTRIBUTE_OIDS: Record<string, string> = {
  CN: "2.5.4.3", SN: "2.5.4.4", serialNumber: "2.5.4.5", C: "2.5.4.6", L: "2.5.4.7", ST: "2.5.4.8", STREET: "2.5.4.9",
  O: "2.5.4.10", OU: "2.5.4.11", T: "2.5.4.12", GN: "2.5.4.42", E: "1.2.840.113549.1.9.1",
  DC: "0.9.2342.19200300.100.1.25", UID: "0.9.2342.19200300.100.1.1",
};

/**
 * RDNs in order, as [short name or dotted OID, value] → ASN.1 Name. UTF8String values,
 * except where RFC 5280 fixes the type (C and serialNumber PrintableString; E and DC IA5String).
 */
export function buildName(rdns: Array<[string, string]>): AsnName {
  return new AsnName(rdns.map(([k, v]) => {
    const type = ATTRIBUTE_OIDS[k] ?? (/^\d+(\.\d+)+$/.test(k) ? k : undefined);
    if (!type) throw new Error(`unknown name attribute ${k}`);
    const value = k === "C" || k === "serialNumber" ? new AttributeValue({ printableString: v })
      : k === "E" || k === "DC" ? new AttributeValue({ ia5String: v })
      : new AttributeValue({ utf8String: v });
    return new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })]);
  }));
}

/** The same Name as {@link buildName}, encoded straight to DER (the issuance hot path). */
export function nameDer(rdns: Array<[string, string]>): Uint8Array {
  return derSequence(...rdns.map(([k, v]) => {
    const type = ATTRIBUTE_OIDS[k] ?? (/^\d+(\.\d+)+$/.test(k) ? k : undefined);
    if (!type) throw new Error(`unknown name attribute ${k}`);
    const value = k === "C" || k === "serialNumber" ? printableDer(v) : k === "E" || k === "DC" ? ia5Der(v) : utf8Der(v);
    return derTlv(0x31, derSequence(oidDer(type), value));
  }));
}

/** RFC 4514 text of a DER or ASN.1 Name. */
export function nameToString(name: AsnName | ArrayBuffer | Uint8Array): string {
  const der = name instanceof AsnName ? AsnConvert.serialize(name) : name;
  return new X509Name(der as ArrayBuffer).toString();
}

export function parseNameString(text: string): AsnName {
  return AsnConvert.parse(new X509Name(text).toArrayBuffer(), AsnName);
}

/** The inventory's text form of a subject built by the policy layer ("O=Example, CN=host"), compared on renewal. */
export function rdnsToText(rdns: Array<[string, string]>): string {
  return rdns.map(([k, v]) => `${k}=${v}`).join(", ");
}
