import { createHash } from "node:crypto";
import { ipToBytes } from "../../../src/asn1/ip.js";
import { checkDer } from "../../../src/asn1/der-limits.js";
import { childSpans, header } from "../../../src/asn1/der-walk.js";
import { GatewayError } from "../../../src/errors.js";
import type { AcmeIdentifier } from "./types.js";

/** DER of the OIDs looked for, compared byte for byte with the certificate's. */
const OID_SAN = Buffer.from("0603551d11", "hex"); // 2.5.29.17
const OID_ACME_IDENTIFIER = Buffer.from("06082b0601050507011f", "hex"); // 1.3.6.1.5.5.7.1.31 (RFC 8737)
const TAG_DNS_NAME = 0x82; // GeneralName [2] IMPLICIT IA5String
const TAG_IP_ADDRESS = 0x87; // GeneralName [7] IMPLICIT OCTET STRING

interface Ext {
  oid: Buffer;
  critical: boolean;
  value: Uint8Array;
}

const tlsError = (msg: string) => new GatewayError("RA_ERR_VALIDATION_TLS", msg);

function content(der: Uint8Array, [start]: [number, number]): Uint8Array {
  const h = header(der, start);
  return der.subarray(h.contentStart, h.end);
}

/**
 * The extensions of a certificate, walked on the DER itself. checkDer has proven every
 * constructed length first, and we only descend into the SEQUENCE / [3] tags we expect,
 * so a hostile certificate cannot make the walk read outside the buffer.
 */
function extensions(der: Uint8Array): Ext[] {
  const bad = () => tlsError("the challenge certificate is not a well-formed X.509 certificate");
  checkDer(der);
  if (der[0] !== 0x30) throw bad();
  const [tbs] = childSpans(der, 0);
  if (!tbs || der[tbs[0]] !== 0x30) throw bad();
  const field = childSpans(der, tbs[0]).find(([s]) => der[s] === 0xa3);
  if (!field) return [];
  const wrapper = childSpans(der, field[0]);
  if (wrapper.length !== 1 || der[wrapper[0][0]] !== 0x30) throw bad();
  return childSpans(der, wrapper[0][0]).map((span) => {
    if (der[span[0]] !== 0x30) throw bad();
    const parts = childSpans(der, span[0]);
    const [oid, flag, value] = parts.length === 3 ? parts : [parts[0], undefined, parts[1]];
    if (parts.length < 2 || parts.length > 3 || der[oid[0]] !== 0x06 || der[value[0]] !== 0x04 || (flag && der[flag[0]] !== 0x01)) throw bad();
    return { oid: Buffer.from(der.subarray(oid[0], oid[1])), critical: flag !== undefined && content(der, flag)[0] === 0xff, value: content(der, value) };
  });
}

/** The single extension with `oid`; X.509 forbids repeats, and a repeat could hide a second name. */
function single(exts: Ext[], oid: Buffer, what: string): Ext {
  const found = exts.filter((e) => e.oid.equals(oid));
  if (found.length !== 1) throw tlsError(found.length === 0 ? `the challenge certificate has no ${what} extension` : `the challenge certificate has ${found.length} ${what} extensions`);
  return found[0];
}

/** subjectAltName must hold exactly one name: the identifier, as dNSName or (RFC 8738) iPAddress. */
function checkNames(san: Uint8Array, id: AcmeIdentifier): void {
  const wrong = () => tlsError(`the challenge certificate must name exactly ${id.value} in subjectAltName, and nothing else`);
  checkDer(san);
  if (san[0] !== 0x30) throw wrong();
  const names = childSpans(san, 0);
  if (names.length !== 1) throw wrong();
  const tag = san[names[0][0]];
  const value = content(san, names[0]);
  if (id.type === "ip") {
    if (tag !== TAG_IP_ADDRESS || !Buffer.from(value).equals(ipToBytes(id.value))) throw wrong();
  } else if (tag !== TAG_DNS_NAME || Buffer.from(value).toString("latin1").toLowerCase() !== id.value.toLowerCase().replace(/\.$/, "")) {
    throw wrong();
  }
}

/**
 * RFC 8737 §3: the certificate names only the identifier and carries a critical acmeIdentifier
 * extension whose value is the DER OCTET STRING of SHA-256(key authorization).
 */
export function checkChallengeCertificate(der: Uint8Array, id: AcmeIdentifier, keyAuthorization: string): void {
  let exts: Ext[];
  try {
    exts = extensions(der);
  } catch (e) {
    throw e instanceof GatewayError && e.code === "RA_ERR_VALIDATION_TLS" ? e : tlsError("the challenge certificate could not be parsed");
  }
  const san = single(exts, OID_SAN, "subjectAltName");
  try {
    checkNames(san.value, id);
  } catch (e) {
    throw e instanceof GatewayError && e.code === "RA_ERR_VALIDATION_TLS" ? e : tlsError("the challenge certificate's subjectAltName could not be parsed");
  }
  const acme = single(exts, OID_ACME_IDENTIFIER, "acmeIdentifier");
  if (!acme.critical) throw tlsError("the acmeIdentifier extension must be critical");
  const expected = Buffer.concat([Buffer.from([0x04, 0x20]), createHash("sha256").update(keyAuthorization).digest()]);
  if (!Buffer.from(acme.value).equals(expected)) {
    throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", "the acmeIdentifier extension does not match the key authorization");
  }
}
