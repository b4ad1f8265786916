import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, id_ce_basicConstraints, id_ce_extKeyUsage, id_ce_keyUsage,
  id_ce_subjectAltName,
} from "@peculiar/asn1-x509";
import { checkDer } from "../asn1/der-limits.js";
import { childSpans, readTlv } from "../asn1/der-walk.js";
import { generalNamesDerToSans, generalNamesToSans } from "../asn1/general-names.js";
import type { IssuancePlan } from "../policy/decide.js";
import { describeKey } from "../policy/keys.js";
import { sameNames } from "../policy/names.js";
import { ekuOid, KEY_USAGES, ML_DSA_FORBIDDEN_KEY_USAGES, type Profile } from "../policy/profile.js";
import { sanCount } from "../policy/request.js";
import type { CertificateAuthority } from "./authority.js";
import { keyUsageFlags } from "./extensions.js";
import { caValidity, type PreparedExtension, type PreparedTbs } from "./template.js";

/**
 * Pre-signing checks on the prepared TBS: the exact DER to be signed and the values it
 * was assembled from, decoded back. Any finding stops issuance. They guard the template
 * code, not the request, which policy already checked.
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
  const caValid = caValidity(ca);
  if (na <= nb) f.push("notAfter is not after notBefore");
  if (na - nb > plan.profile.validity.max) f.push("validity exceeds the profile maximum");
  if (na > caValid.to || nb < caValid.from - 1000) f.push("validity outside the CA's own validity");

  const exts = new Map(tbs.extensions.map((e) => [e.oid, e]));
  if (tbs.extensions.length !== exts.size) f.push("duplicate extension");
  const bc = exts.get(id_ce_basicConstraints);
  if (!bc) f.push("basicConstraints missing");
  else f.push(...profileBound(plan.profile, bc, () => (AsnConvert.parse(bc.value, BasicConstraints).cA ? ["cA=TRUE in an end-entity certificate"] : [])));

  const san = exts.get(id_ce_subjectAltName);
  const wantSans = sanCount(plan.sans) > 0;
  if (wantSans && !san) f.push("subjectAltName missing");
  if (san && !sameNames(generalNamesDerToSans(san.value) ?? generalNamesToSans(AsnConvert.parse(san.value, SubjectAlternativeName)), plan.sans)) {
    f.push("subjectAltName differs from the approved names");
  }
  const subjectRdns = rdnCount(tbs.subject);
  if (subjectRdns !== plan.subject.length) f.push("subject differs from the plan");
  if (san && subjectRdns === 0 && !san.critical) f.push("subjectAltName must be critical when the subject is empty");
  if (!wantSans && subjectRdns === 0) f.push("neither subject nor subjectAltName");

  const ku = exts.get(id_ce_keyUsage);
  if (!ku || !ku.critical) f.push("keyUsage missing or not critical");
  else {
    f.push(...profileBound(plan.profile, ku, () => {
      const bits = AsnConvert.parse(ku.value, KeyUsage);
      const out: string[] = [];
      if (bits.toNumber() !== keyUsageFlags(plan.profile.keyUsage)) out.push("keyUsage differs from the profile");
      if (/keyCertSign|cRLSign/.test(bits.toString())) out.push("CA key usage in an end-entity certificate");
      return out;
    }));
    // Not bound to the profile's verdict: it depends on the subject key too. Profiles that would do this are refused on load.
    const mlDsa = /^ml-dsa-(\d+)$/.exec(plan.publicKey.asymmetricKeyType ?? "");
    if (mlDsa) {
      const bits = AsnConvert.parse(ku.value, KeyUsage).toNumber();
      const bad = ML_DSA_FORBIDDEN_KEY_USAGES.filter((u) => bits & (1 << KEY_USAGES.indexOf(u)));
      if (bad.length) f.push(`keyUsage ${bad.join(", ")} with an ML-DSA-${mlDsa[1]} key (RFC 9881 allows signing uses only)`);
    }
  }
  const eku = exts.get(id_ce_extKeyUsage);
  const ekuFindings = (): string[] => {
    const want = plan.profile.extendedKeyUsage.map(ekuOid).sort().join(",");
    const got = eku ? [...AsnConvert.parse(eku.value, ExtendedKeyUsage)].sort().join(",") : "";
    return want !== got ? ["extendedKeyUsage differs from the profile"] : [];
  };
  f.push(...(eku ? profileBound(plan.profile, eku, ekuFindings) : ekuFindings()));

  if (!Buffer.from(tbs.spki).equals(Buffer.from(plan.spki))) f.push("subject key differs from the request");
  try {
    describeKey(plan.publicKey);
  } catch (e) {
    f.push(`subject key: ${(e as Error).message}`);
  }
  return f;
}

/**
 * Findings of a check that depends only on one extension's exact encoding and the profile (basicConstraints,
 * keyUsage, extendedKeyUsage: the same bytes for every certificate of a profile), remembered by those bytes:
 * every certificate still gets the verdict for the bytes it carries, decoded once per profile.
 */
const verdicts = new WeakMap<Profile, Map<string, string[]>>();
function profileBound(profile: Profile, e: PreparedExtension, check: () => string[]): string[] {
  let byBytes = verdicts.get(profile);
  if (!byBytes) verdicts.set(profile, (byBytes = new Map()));
  const key = `${e.oid}|${e.critical ? 1 : 0}|${Buffer.from(e.value.buffer, e.value.byteOffset, e.value.byteLength).toString("latin1")}`;
  let found = byBytes.get(key);
  if (!found) {
    found = check();
    if (byBytes.size >= 64) byBytes.clear(); // a handful per profile; bound it against anything unexpected
    byBytes.set(key, found);
  }
  return found;
}

/** RDNs in a DER Name, each a SET of AttributeTypeAndValue SEQUENCEs {OID, value}; -1 when it is not one. */
function rdnCount(name: Uint8Array): number {
  const top = readTlv(name, 0, name.length);
  if (!top || top.tag !== 0x30 || top.end !== name.length) return -1;
  const rdns = childSpans(name, 0);
  for (const [start] of rdns) {
    if (name[start] !== 0x31) return -1;
    const atvs = childSpans(name, start);
    if (!atvs.length) return -1;
    for (const [a] of atvs) {
      const parts = name[a] === 0x30 ? childSpans(name, a) : [];
      if (parts.length !== 2 || name[parts[0][0]] !== 0x06) return -1;
    }
  }
  return rdns.length;
}
