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
const SAN_OID_DER = oidDer(SAN);
const SKI_OID_DER = oidDer(SKI);
const CRITICAL_TRUE = Uint8Array.of(0x01, 0x01, 0xff);

function extensionDer(e: PreparedExtension, oid = oidDer(e.oid)): Uint8Array {
  return derSequence(oid, ...(e.critical ? [CRITICAL_TRUE] : []), octetStringDer(e.value));
}

/** The CA's validity in epoch ms; X509Certificate hands out its dates as strings on every access. */
const caValidities = new WeakMap<CertificateAuthority, { from: number; to: number }>();
export function caValidity(ca: CertificateAuthority): { from: number; to: number } {
  let v = caValidities.get(ca);
  if (!v) caValidities.set(ca, (v = { from: new Date(ca.cert.validFrom).getTime(), to: new Date(ca.cert.validTo).getTime() }));
  return v;
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
  /** Profile- and CA-fixed extensions, before and after the per-certificate ones, and their DER. */
  head: PreparedExtension[];
  tail: PreparedExtension[];
  headDer: Uint8Array;
  tailDer: Uint8Array;
}

/**
 * Builds end-entity TBS certificates from a profile. The parts that depend only on
 * the profile and the CA are made once (with the ASN.1 schema classes) and reused, DER included;
 * per certificate only serial, validity, subject, key, SAN and SKI are encoded.
 * Only the public key and the approved names come from the request.
 */
export class EndEntityTemplates {
  private readonly cache = new Map<string, { profile: Profile; ca: CertificateAuthority; parts: ConstantParts }>();
  constructor(private readonly urls: PublicUrls) {}

  private constant(profile: Profile, ca: CertificateAuthority): ConstantParts {
    const key = `${profile.name}\u0000${ca.name}\u0000${ca.signer.algorithm}`;
    const hit = this.cache.get(key);
    // Keyed by name, valid for the very objects it was made from: a reloaded profile or CA gets fresh parts.
    if (hit && hit.profile === profile && hit.ca === ca) return hit.parts;
    const plain = (e: ReturnType<typeof basicConstraints>): PreparedExtension => ({ oid: e.extnID, critical: e.critical, value: new Uint8Array(e.extnValue.buffer) });
    const head = [
      plain(basicConstraints(false)),
      plain(keyUsage(profile.keyUsage)),
      ...(profile.extendedKeyUsage.length ? [plain(extendedKeyUsage(profile.extendedKeyUsage.map(ekuOid)))] : []),
    ];
    const tail = [
      plain(authorityKeyId(ca.keyId)),
      plain(crlDistributionPoint(crlUrl(this.urls, ca.name))),
      plain(authorityInfoAccess(`${this.urls.http}/ocsp`, `${this.urls.http}/ca/${ca.name}.crt`)),
    ];
    const parts: ConstantParts = {
      signatureAlgorithm: new Uint8Array(AsnConvert.serialize(algorithmIdentifier(ca.signer.algorithm))),
      head, tail,
      headDer: Buffer.concat(head.map((e) => extensionDer(e))),
      tailDer: Buffer.concat(tail.map((e) => extensionDer(e))),
    };
    this.cache.set(key, { profile, ca, parts });
    return parts;
  }

  /** Validity is clamped to the CA's own. */
  prepare(plan: IssuancePlan, ca: CertificateAuthority, serial: Uint8Array): PreparedTbs {
    const c = this.constant(plan.profile, ca);
    const { from: caNotBefore, to: caNotAfter } = caValidity(ca);
    // A leaf's backdated start must not precede its issuer's: right after a new issuing CA takes over, every
    // issuance would otherwise fail the lint until the backdate has passed. A CA not valid yet is left to the lint.
    const early = plan.notBefore.getTime() < caNotBefore && caNotBefore <= Date.now();
    const notBefore = wholeSeconds(early ? new Date(caNotBefore) : plan.notBefore);
    const notAfter = wholeSeconds(plan.notAfter.getTime() > caNotAfter ? new Date(caNotAfter) : plan.notAfter);
    const subject = nameDer(plan.subject);
    const san: PreparedExtension | undefined = sanCount(plan.sans) > 0 ? { oid: SAN, critical: plan.subject.length === 0, value: generalNamesDer(plan.sans) } : undefined;
    const ski: PreparedExtension = { oid: SKI, critical: false, value: octetStringDer(keyIdForSpki(plan.spki)) };
    const extensions = san ? [...c.head, san, ski, ...c.tail] : [...c.head, ski, ...c.tail];
    const der = derSequence(
      Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02), // [0] version v3
      integerDer(serial),
      c.signatureAlgorithm,
      ca.subjectDer,
      derSequence(timeDer(notBefore), timeDer(notAfter)),
      subject,
      plan.spki,
      derTlv(0xa3, derSequence(c.headDer, ...(san ? [extensionDer(san, SAN_OID_DER)] : []), extensionDer(ski, SKI_OID_DER), c.tailDer)),
    );
    return { der, serial, notBefore, notAfter, subject, spki: plan.spki, signatureAlgorithm: c.signatureAlgorithm, extensions };
  }
}
