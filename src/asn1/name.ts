// @peculiar/x509 resolves its providers through tsyringe, which needs the Reflect polyfill loaded first.
import "reflect-metadata";
import { Name as X509Name } from "@peculiar/x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Name as AsnName } from "@peculiar/asn1-x509";

/** RDNs in order, as [short name or OID, value] → ASN.1 Name (UTF8String values, escaping handled by the library). */
export function buildName(rdns: Array<[string, string]>): AsnName {
  const json = rdns.map(([k, v]) => ({ [k]: [v] }));
  return AsnConvert.parse(new X509Name(json).toArrayBuffer(), AsnName);
}

/** RFC 4514 text of a DER or ASN.1 Name. */
export function nameToString(name: AsnName | ArrayBuffer | Uint8Array): string {
  const der = name instanceof AsnName ? AsnConvert.serialize(name) : name;
  return new X509Name(der as ArrayBuffer).toString();
}

export function parseNameString(text: string): AsnName {
  return AsnConvert.parse(new X509Name(text).toArrayBuffer(), AsnName);
}
