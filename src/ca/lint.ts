import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints, ExtendedKeyUsage, KeyUsage, Name, SubjectAlternativeName, id_ce_basicConstraints, id_ce_extKeyUsage, id_ce_keyUsage,
  id_ce_subjectAltName,
} from "@peculiar/asn1-x509";
import { checkDer } from "../asn1/der-limits.js";
import { generalNamesToSans } from "../asn1/general-names.js";
import type { IssuancePlan } from "../policy/decide.js";
import { describeKey } from "../policy/keys.js";
import { sameNames } from "../policy/names.js";
import { ekuOid } from "../policy/profile.js";
import { sanCount } from "../policy/request.js";
import type { CertificateAuthority } from "./authority.js";
import { keyUsageFlags } from "./extensions.js";
import type { PreparedTbs } from "./template.js";

/**
 * Pre-signing checks on the prepared TBS: the exact DER to be signed and the values it
 * was assembled from, decoded back with the ASN.1 schema classes. Any finding stops
 * issuance. They guard the template code, not the request, which policy already checked.
 */
export function lintEndEntity(tbs: PreparedTbs, plan: IssuancePlan, ca: CertificateAuthority): string[] {
  const f: string[] = [];
  try {
    checkDer(tbs.der, { maxBytes: 64 * 1024, maxDepth: 16, maxNodes: 5000 });
  } catch (e) {
    f.push(`TBS encoding: ${(e as Error).message}`);
  }
  const serial = tbs.serial;
  if (serial.length > 20) f.push("serial longer than 20 octets");
  if (serial[0] & 0x80) f.push("serial is negative");
  if (serial.length > 1 && serial[0] === 0 && !(serial[1] & 0x80)) f.push("serial is not minimally encoded");
  if (serial.length < 16) f.push("serial carries fewer than 128 bits");

  const nb = tbs.notBefore.getTime();
  const na = tbs.notAfter.getTime();
  if (na <= nb) f.push("notAfter is not after notBefore");
  if (na - nb > plan.profile.validity.max) f.push("validity exceeds the profile maximum");
  if (na > new Date(ca.cert.validTo).getTime() || nb < new Date(ca.cert.validFrom).getTime() - 1000) f.push("validity outside the CA's own validity");

  const exts = new Map(tbs.extensions.map((e) => [e.oid, e]));
  if (tbs.extensions.length !== exts.size) f.push("duplicate extension");
  const bc = exts.get(id_ce_basicConstraints);
  if (!bc) f.push("basicConstraints missing");
  else if (AsnConvert.parse(bc.value, BasicConstraints).cA) f.push("cA=TRUE in an end-entity certificate");

  const san = exts.get(id_ce_subjectAltName);
  const wantSans = sanCount(plan.sans) > 0;
  if (wantSans && !san) f.push("subjectAltName missing");
  if (san && !sameNames(generalNamesToSans(AsnConvert.parse(san.value, SubjectAlternativeName)), plan.sans)) f.push("subjectAltName differs from the approved names");
  const subject = AsnConvert.parse(tbs.subject, Name);
  if (subject.length !== plan.subject.length) f.push("subject differs from the plan");
  if (san && subject.length === 0 && !san.critical) f.push("subjectAltName must be critical when the subject is empty");
  if (!wantSans && subject.length === 0) f.push("neither subject nor subjectAltName");

  const ku = exts.get(id_ce_keyUsage);
  if (!ku || !ku.critical) f.push("keyUsage missing or not critical");
  else {
    const bits = AsnConvert.parse(ku.value, KeyUsage);
    if (bits.toNumber() !== keyUsageFlags(plan.profile.keyUsage)) f.push("keyUsage differs from the profile");
    if (/keyCertSign|cRLSign/.test(bits.toString())) f.push("CA key usage in an end-entity certificate");
  }
  const eku = exts.get(id_ce_extKeyUsage);
  const wantEku = plan.profile.extendedKeyUsage.map(ekuOid).sort().join(",");
  const gotEku = eku ? [...AsnConvert.parse(eku.value, ExtendedKeyUsage)].sort().join(",") : "";
  if (wantEku !== gotEku) f.push("extendedKeyUsage differs from the profile");

  if (!Buffer.from(tbs.spki).equals(Buffer.from(plan.spki))) f.push("subject key differs from the request");
  try {
    describeKey(plan.publicKey);
  } catch (e) {
    f.push(`subject key: ${(e as Error).message}`);
  }
  return f;
}
