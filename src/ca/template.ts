import type { TBSCertificate } from "@peculiar/asn1-x509";
import { buildName } from "../asn1/name.js";
import type { IssuancePlan } from "../policy/decide.js";
import { ekuOid } from "../policy/profile.js";
import type { CertificateAuthority } from "./authority.js";
import {
  authorityInfoAccess, authorityKeyId, basicConstraints, crlDistributionPoint, extendedKeyUsage, keyUsage, subjectAltName, subjectKeyId,
} from "./extensions.js";
import { keyIdForSpki } from "./authority.js";
import { buildTbs } from "./tbs.js";

export interface PublicUrls {
  /** Base of the plain-HTTP listener, e.g. http://ca.example.com:8080 */
  http: string;
}

export function crlUrl(urls: PublicUrls, caName: string): string {
  return `${urls.http}/crl/${caName}.crl`;
}

/**
 * The certificate is built from the profile alone; from the request only the public
 * key and the approved names (plan) enter. Validity is clamped to the CA's own.
 */
export function endEntityTbs(plan: IssuancePlan, ca: CertificateAuthority, serial: Uint8Array, urls: PublicUrls): TBSCertificate {
  const caNotAfter = new Date(ca.cert.validTo);
  const notAfter = plan.notAfter > caNotAfter ? caNotAfter : plan.notAfter;
  const spki = plan.spki;
  const extensions = [
    basicConstraints(false),
    keyUsage(plan.profile.keyUsage),
    ...(plan.profile.extendedKeyUsage.length ? [extendedKeyUsage(plan.profile.extendedKeyUsage.map(ekuOid))] : []),
    ...(plan.sans.dns.length + plan.sans.ip.length + plan.sans.email.length + plan.sans.uri.length
      ? [subjectAltName(plan.sans, plan.subject.length === 0)]
      : []),
    subjectKeyId(keyIdForSpki(spki)),
    authorityKeyId(ca.keyId),
    crlDistributionPoint(crlUrl(urls, ca.name)),
    authorityInfoAccess(`${urls.http}/ocsp`, `${urls.http}/ca/${ca.name}.crt`),
  ];
  return buildTbs({
    serial,
    issuer: ca.subjectDer,
    subject: buildName(plan.subject),
    publicKey: spki,
    notBefore: plan.notBefore,
    notAfter,
    algorithm: ca.signer.algorithm,
    extensions,
  });
}
