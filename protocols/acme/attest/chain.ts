import type { X509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, type Extension } from "@peculiar/asn1-x509";
import { verifyPath } from "../../../src/ca/chain.js";
import { attestationFailure } from "./statement.js";

/** x5c (leaf first) must chain to one of the profile's anchors for this format, valid now. */
export function checkAttestationChain(format: string, x5c: X509Certificate[], anchors: X509Certificate[], now: number): void {
  if (!verifyPath(x5c, anchors, now)) {
    throw attestationFailure(format, "chain", "the attestation certificate does not chain to a trusted root (or is not valid now)");
  }
}

/** The certificate's extensions, parsed from its DER (node's X509Certificate does not expose private ones). */
export function extensionsOf(cert: X509Certificate): Extension[] {
  return AsnConvert.parse(cert.raw, Certificate).tbsCertificate.extensions ?? [];
}

/** The raw extnValue contents of the extension `oid`, or undefined. */
export function extensionValue(exts: Extension[], oid: string): Uint8Array | undefined {
  const e = exts.find((x) => x.extnID === oid);
  return e ? new Uint8Array(e.extnValue.buffer) : undefined;
}
