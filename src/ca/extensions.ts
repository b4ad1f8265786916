import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CRLDistributionPoints, DistributionPoint,
  DistributionPointName, ExtendedKeyUsage, Extension, GeneralName, KeyIdentifier, KeyUsage, KeyUsageFlags, SubjectAlternativeName,
  SubjectKeyIdentifier, id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_cRLDistributionPoints, id_ce_extKeyUsage,
  id_ce_keyUsage, id_ce_subjectAltName, id_ce_subjectKeyIdentifier, id_pe_authorityInfoAccess,
} from "@peculiar/asn1-x509";
import { sansToGeneralNames } from "../asn1/general-names.js";
import type { SanSet } from "../policy/request.js";
import { KEY_USAGES } from "../policy/profile.js";
import { toArrayBuffer } from "./sign-object.js";

const OCSP_METHOD = "1.3.6.1.5.5.7.48.1";
const CA_ISSUERS_METHOD = "1.3.6.1.5.5.7.48.2";

function ext(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

export function basicConstraints(ca: boolean, pathLen?: number): Extension {
  return ext(id_ce_basicConstraints, true, new BasicConstraints(ca ? { cA: true, pathLenConstraint: pathLen } : {}));
}

export function keyUsageFlags(names: readonly string[]): number {
  return names.reduce<number>((acc, n) => acc | (1 << KEY_USAGES.indexOf(n as (typeof KEY_USAGES)[number])), 0);
}

export function keyUsage(names: readonly string[]): Extension {
  return ext(id_ce_keyUsage, true, new KeyUsage(keyUsageFlags(names) as KeyUsageFlags));
}

export function extendedKeyUsage(oids: string[]): Extension {
  return ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage(oids));
}

/** Critical when the subject is empty (RFC 5280 §4.2.1.6). */
export function subjectAltName(sans: SanSet, subjectEmpty: boolean): Extension {
  return ext(id_ce_subjectAltName, subjectEmpty, new SubjectAlternativeName(sansToGeneralNames(sans)));
}

export function subjectKeyId(id: Uint8Array): Extension {
  return ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(toArrayBuffer(id)));
}

export function authorityKeyId(id: Uint8Array): Extension {
  return ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(toArrayBuffer(id)) }));
}

export function crlDistributionPoint(url: string): Extension {
  const dp = new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: url })] }) });
  return ext(id_ce_cRLDistributionPoints, false, new CRLDistributionPoints([dp]));
}

export function authorityInfoAccess(ocspUrl: string | undefined, caIssuersUrl: string | undefined): Extension {
  const items: AccessDescription[] = [];
  if (ocspUrl) items.push(new AccessDescription({ accessMethod: OCSP_METHOD, accessLocation: new GeneralName({ uniformResourceIdentifier: ocspUrl }) }));
  if (caIssuersUrl) items.push(new AccessDescription({ accessMethod: CA_ISSUERS_METHOD, accessLocation: new GeneralName({ uniformResourceIdentifier: caIssuersUrl }) }));
  return ext(id_pe_authorityInfoAccess, false, new AuthorityInfoAccessSyntax(items));
}

export const OCSP_NO_CHECK_OID = "1.3.6.1.5.5.7.48.1.5";
/** id-pkix-ocsp-nocheck (NULL) for delegated OCSP responder certificates. */
export function ocspNoCheck(): Extension {
  return new Extension({ extnID: OCSP_NO_CHECK_OID, critical: false, extnValue: new OctetString(new Uint8Array([0x05, 0x00])) });
}
