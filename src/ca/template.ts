import { AsnConvert } from "@peculiar/asn1-schema";
import { derSequence, derTlv } from "../asn1/der-encode.js";
import { integerDer, octetStringDer, oidDer, timeDer } from "../asn1/der-values.js";
import { algorithmIdentifier } from "../asn1/algorithms.js";
import { canonicalIp, ipToBytes } from "../asn1/ip.js";
import { nameDer } from "../asn1/name.js";
import type { IssuancePlan } from "../policy/decide.js";
import { ekuOid, type Profile } from "../policy/profile.js";
import { sanCount, type SanSet } from "../policy/request.js";
import { hardwareModuleGeneralName, parseHardwareModule, parsePermanentId, permanentIdGeneralName } from "../asn1/device-names.js";
import type { CertificateAuthority } from "./authority.js";
import { keyIdForSpki } from "./authority.js";
import { authorityInfoAccess, authorityKeyId, basicConstraints, crlDistributionPoint, extendedKeyUsage, keyUsage } from "./extensions.js";
import { wholeSeconds } from "./tbs.js";

export interface PublicUrls {
  /** Base of the plain-HTTP listener, e.g. http://ca.example.com:8080 */
  http: string;
}

export function crlUrl(urls: PublicUrls, caName: string): string {
  return `${urls.http}/crl/${caName}.crl`;
}

export interface PreparedExtension {
  oid: string;
  critical: boolean;
  /** extnValue contents (the DER of the extension's own type). */
  value: Uint8Array;
}

/** An end-entity TBSCertificate as DER plus the fields it was made from, for the lint. */
export interface PreparedTbs {
  der: Uint8Array;
  serial: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subject: Uint8Array;
  spki: Uint8Array;
  /** DER AlgorithmIdentifier, also the outer signatureAlgorithm. */
  signatureAlgorithm: Uint8Array;
  extensions: PreparedExtension[];
}

const SAN = "2.5.29.17";
const SKI = "2.5.29.14";

function extensionDer(e: PreparedExtension): Uint8Array {
  return derSequence(oidDer(e.oid), ...(e.critical ? [Uint8Array.of(0x01, 0x01, 0xff)] : []), octetStringDer(e.value));
}

/** GeneralNames with the gateway's name forms (IA5 contents: policy admits ASCII names only; device names were parsed by policy). */
export function generalNamesDer(s: SanSet): Uint8Array {
  const ia5 = (tag: number, v: string) => derTlv(tag, Buffer.from(v, "ascii"));
  return derSequence(
    ...s.dns.map((d) => ia5(0x82, d)),
    ...s.ip.map((ip) => derTlv(0x87, ipToBytes(canonicalIp(ip)))),
    ...s.email.map((e) => ia5(0x81, e)),
    ...s.uri.map((u) => ia5(0x86, u)),
    ...(s.permanentId ?? []).map((p) => permanentIdGeneralName(parsePermanentId(p)!)),
    ...(s.hardwareModule ?? []).map((h) => hardwareModuleGeneralName(parseHardwareModule(h)!)),
  );
}

interface ConstantParts {
  signatureAlgorithm: Uint8Array;
  /** Profile- and CA-fixed extensions, before and after the per-certificate ones. */
  head: PreparedExtension[];
  tail: PreparedExtension[];
}

/**
 * Builds end-entity TBS certificates from a profile. The parts that depend only on
 * the profile and the CA are made once (with the ASN.1 schema classes) and reused;
 * per certificate only serial, validity, subject, key, SAN and SKI are encoded.
 * Only the public key and the approved names come from the request.
 */
export class EndEntityTemplates {
  private readonly cache = new Map<string, ConstantParts>();
  constructor(private readonly urls: PublicUrls) {}

  private constant(profile: Profile, ca: CertificateAuthority): ConstantParts {
    const key = `${profile.name}\u0000${ca.name}\u0000${ca.signer.algorithm}`;
    let c = this.cache.get(key);
    if (!c) {
      const plain = (e: ReturnType<typeof basicConstraints>): PreparedExtension => ({ oid: e.extnID, critical: e.critical, value: new Uint8Array(e.extnValue.buffer) });
      c = {
        signatureAlgorithm: new Uint8Array(AsnConvert.serialize(algorithmIdentifier(ca.signer.algorithm))),
        head: [
          plain(basicConstraints(false)),
          plain(keyUsage(profile.keyUsage)),
          ...(profile.extendedKeyUsage.length ? [plain(extendedKeyUsage(profile.extendedKeyUsage.map(ekuOid)))] : []),
        ],
        tail: [
          plain(authorityKeyId(ca.keyId)),
          plain(crlDistributionPoint(crlUrl(this.urls, ca.name))),
          plain(authorityInfoAccess(`${this.urls.http}/ocsp`, `${this.urls.http}/ca/${ca.name}.crt`)),
        ],
      };
      this.cache.set(key, c);
    }
    return c;
  }

  /** Validity is clamped to the CA's own. */
  prepare(plan: IssuancePlan, ca: CertificateAuthority, serial: Uint8Array): PreparedTbs {
    const c = this.constant(plan.profile, ca);
    const caNotAfter = new Date(ca.cert.validTo);
    const notBefore = wholeSeconds(plan.notBefore);
    const notAfter = wholeSeconds(plan.notAfter > caNotAfter ? caNotAfter : plan.notAfter);
    const subject = nameDer(plan.subject);
    const hasSans = sanCount(plan.sans) > 0;
    const extensions = [
      ...c.head,
      ...(hasSans ? [{ oid: SAN, critical: plan.subject.length === 0, value: generalNamesDer(plan.sans) }] : []),
      { oid: SKI, critical: false, value: octetStringDer(keyIdForSpki(plan.spki)) },
      ...c.tail,
    ];
    const der = derSequence(
      Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02), // [0] version v3
      integerDer(serial),
      c.signatureAlgorithm,
      ca.subjectDer,
      derSequence(timeDer(notBefore), timeDer(notAfter)),
      subject,
      plan.spki,
      derTlv(0xa3, derSequence(...extensions.map(extensionDer))),
    );
    return { der, serial, notBefore, notAfter, subject, spki: plan.spki, signatureAlgorithm: c.signatureAlgorithm, extensions };
  }
}
