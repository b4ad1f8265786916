import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, TBSCertificate, id_ce_basicConstraints, id_ce_extKeyUsage,
  id_ce_keyUsage, id_ce_subjectAltName,
} from "@peculiar/asn1-x509";
import { checkDer } from "../asn1/der-limits.js";
import { generalNamesToSans } from "../asn1/general-names.js";
import type { IssuancePlan } from "../policy/decide.js";
import { describeKey } from "../policy/keys.js";
import { sameNames } from "../policy/names.js";
import { ekuOid } from "../policy/profile.js";
import type { CertificateAuthority } from "./authority.js";
import { keyUsageFlags } from "./extensions.js";

/**
 * Pre-signing checks on the prepared TBS (the object and the exact DER to be signed).
 * Returns the findings; any finding stops issuance. These guard the template code,
 * not the request, which policy already checked.
 */
export function lintEndEntity(tbs: TBSCertificate, tbsDer: Uint8Array, plan: IssuancePlan, ca: CertificateAuthority): string[] {
  const f: string[] = [];
  try {
    checkDer(tbsDer, { maxBytes: 64 * 1024, maxDepth: 16, maxNodes: 5000 });
  } catch (e) {
    f.push(`TBS encoding: ${(e as Error).message}`);
  }
  const serial = new Uint8Array(tbs.serialNumber);
  if (serial.length > 20) f.push("serial longer than 20 octets");
  if (serial[0] & 0x80) f.push("serial is negative");
  if (serial.length > 1 && serial[0] === 0 && !(serial[1] & 0x80)) f.push("serial is not minimally encoded");
  if (serial.length < 16) f.push("serial carries fewer than 128 bits");

  const nb = tbs.validity.notBefore.getTime();
  const na = tbs.validity.notAfter.getTime();
  if (na <= nb) f.push("notAfter is not after notBefore");
  if (na.getTime() - nb.getTime() > plan.profile.validity.max) f.push("validity exceeds the profile maximum");
  if (na > new Date(ca.cert.validTo) || nb < new Date(new Date(ca.cert.validFrom).getTime() - 1000)) f.push("validity outside the CA's own validity");

  const exts = new Map((tbs.extensions ?? []).map((e) => [e.extnID, e]));
  if ((tbs.extensions ?? []).length !== exts.size) f.push("duplicate extension");
  const bc = exts.get(id_ce_basicConstraints);
  if (!bc) f.push("basicConstraints missing");
  else if (AsnConvert.parse(bc.extnValue, BasicConstraints).cA) f.push("cA=TRUE in an end-entity certificate");

  const san = exts.get(id_ce_subjectAltName);
  const wantSans = plan.sans.dns.length + plan.sans.ip.length + plan.sans.email.length + plan.sans.uri.length > 0;
  if (wantSans && !san) f.push("subjectAltName missing");
  if (san && !sameNames(generalNamesToSans(AsnConvert.parse(san.extnValue, SubjectAlternativeName)), plan.sans)) f.push("subjectAltName differs from the approved names");
  if (!wantSans && tbs.subject.length === 0) f.push("neither subject nor subjectAltName");

  const ku = exts.get(id_ce_keyUsage);
  if (!ku || !ku.critical) f.push("keyUsage missing or not critical");
  else if (AsnConvert.parse(ku.extnValue, KeyUsage).toNumber() !== keyUsageFlags(plan.profile.keyUsage)) f.push("keyUsage differs from the profile");
  if (ku && /keyCertSign|cRLSign/.test(AsnConvert.parse(ku.extnValue, KeyUsage).toString())) f.push("CA key usage in an end-entity certificate");

  const eku = exts.get(id_ce_extKeyUsage);
  const wantEku = plan.profile.extendedKeyUsage.map(ekuOid).sort().join(",");
  const gotEku = eku ? [...AsnConvert.parse(eku.extnValue, ExtendedKeyUsage)].sort().join(",") : "";
  if (wantEku !== gotEku) f.push("extendedKeyUsage differs from the profile");

  if (!Buffer.from(AsnConvert.serialize(tbs.subjectPublicKeyInfo)).equals(Buffer.from(plan.spki))) f.push("subject key differs from the request");
  try {
    describeKey(plan.publicKey);
  } catch (e) {
    f.push(`subject key: ${(e as Error).message}`);
  }
  return f;
}
