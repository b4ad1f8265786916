import { createPublicKey, type KeyObject } from "node:crypto";
import { rdnsToText } from "../asn1/name.js";
import { GatewayError, toGatewayError } from "../errors.js";
import type { KeySpec } from "../signers/signer.js";
import { importSpki } from "../asn1/spki-import.js";
import { parseCsr, type ParsedCsr } from "./csr.js";
import { checkKeyAllowed, describeKey } from "./keys.js";
import { attestedNames } from "./device.js";
import { checkNames, sameNames } from "./names.js";
import { CRITICALITIES, type Profile, type ProfileSet } from "./profile.js";
import type { Classification } from "../store/types.js";
import type { EnrollmentRequest, RequesterIdentity, SanSet } from "./request.js";

/** Everything the issuing engine may take from a request: nothing else reaches the certificate. */
export interface IssuancePlan {
  profile: Profile;
  publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo of `publicKey`. */
  spki: Uint8Array;
  keySpec: KeySpec;
  /** RDNs in order as [attribute short name, value]. */
  subject: Array<[string, string]>;
  sans: SanSet;
  notBefore: Date;
  notAfter: Date;
  /** Extension OIDs the CSR asked for: recorded for the audit trail, never copied. */
  ignoredExtensions: string[];
  /** The inventory classification the certificate gets (profile defaults over the requester's attributes). */
  classification: Classification;
}

export type PolicyDecision =
  | { decision: "issue"; plan: IssuancePlan }
  | { decision: "pending"; plan: IssuancePlan; reason: string }
  | { decision: "reject"; error: GatewayError; profile?: string };

export interface PolicyContext {
  profiles: ProfileSet;
  defaultProfile: string;
  now?: () => Date;
}

/** The policy layer: pure checks, in order, first failure wins. Never throws; a rejection is a decision. */
export function decide(req: EnrollmentRequest, ctx: PolicyContext, generatedKey?: KeyObject): PolicyDecision {
  let profile: Profile | undefined;
  try {
    profile = ctx.profiles.get(req.profile ?? ctx.defaultProfile);
    checkRequesterAllowed(req, profile);
    const plan = buildPlan(req, profile, (ctx.now ?? (() => new Date()))(), generatedKey);
    if (profile.approval) return { decision: "pending", plan, reason: `profile ${profile.name} requires approval` };
    return { decision: "issue", plan };
  } catch (e) {
    return { decision: "reject", error: toGatewayError(e), profile: profile?.name };
  }
}

export function identityMatches(id: RequesterIdentity, pattern: string): boolean {
  if (pattern === "*") return true;
  let re = identityPatterns.get(pattern);
  if (!re) {
    if (identityPatterns.size >= 1024) identityPatterns.clear();
    identityPatterns.set(pattern, (re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`)));
  }
  return re.test(`${id.kind}:${id.id}`);
}

/** Profile identity patterns compiled once each. */
const identityPatterns = new Map<string, RegExp>();

function checkRequesterAllowed(req: EnrollmentRequest, profile: Profile): void {
  if (!profile.protocols.includes(req.protocol)) {
    throw new GatewayError("RA_ERR_PROFILE_NOT_ALLOWED", `profile ${profile.name} is not offered over ${req.protocol}`);
  }
  if (!profile.identities.some((p) => identityMatches(req.requester, p))) {
    throw new GatewayError("RA_ERR_PROFILE_NOT_ALLOWED", `${req.requester.kind} ${req.requester.id} may not use profile ${profile.name}`);
  }
}

function buildPlan(req: EnrollmentRequest, profile: Profile, now: Date, generatedKey?: KeyObject): IssuancePlan {
  let csr: ParsedCsr | undefined;
  let publicKey: KeyObject;
  let sans: SanSet & { other?: number };
  let csrCn: string | undefined;
  if (req.csr) {
    csr = parseCsr(req.csr, undefined, { allowSha1Signature: req.allowSha1CsrSignature === true });
    publicKey = csr.publicKey;
    sans = csr.sans;
    csrCn = csr.commonName;
  } else if (req.certTemplate) {
    publicKey = req.certTemplate.publicKey ?? importSpki(req.certTemplate.spki);
    sans = req.certTemplate.sans;
    csrCn = req.certTemplate.commonName;
  } else if (req.keyGen && generatedKey) {
    publicKey = createPublicKey(generatedKey); // the generated key is private: certify its public half
    sans = req.keyGen.names;
    csrCn = req.keyGen.subject;
  } else {
    throw new GatewayError("RA_ERR_MALFORMED", "the request has neither a CSR nor a key generation request");
  }
  const spki = csr?.spki ?? req.certTemplate?.spki ?? new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  if (req.attested) ({ sans, cn: csrCn } = attestedNames(req.attested, profile, spki, sans, csrCn));
  else if (profile.attestation) throw new GatewayError("RA_ERR_PROFILE_NOT_ALLOWED", `profile ${profile.name} issues only to keys proven by a device attestation`);
  else if (sans.permanentId?.length || sans.hardwareModule?.length) {
    throw new GatewayError("RA_ERR_NAME_NOT_ALLOWED", "device identifiers are certified only after a device attestation");
  }
  const keySpec = describeKey(publicKey);
  checkKeyAllowed(keySpec, profile.keys);
  if (req.expectedNames && !sameNames(req.expectedNames, sans)) {
    throw new GatewayError("RA_ERR_BAD_CSR", "the CSR's names differ from the names that were authorized");
  }
  if (req.forbiddenKeys?.some((k) => Buffer.from(k).equals(Buffer.from(spki)))) {
    throw new GatewayError("RA_ERR_BAD_CSR", "the CSR reuses a key that must not be certified here (e.g. the account key)");
  }
  checkNames(sans, profile);
  const { notBefore, notAfter } = validity(req, profile, now);
  const subject = subjectFor(profile, sans, csrCn);
  if (req.expectedSubject !== undefined && rdnsToText(subject) !== req.expectedSubject) {
    throw new GatewayError("RA_ERR_BAD_CSR", `a renewal must keep the subject ${req.expectedSubject}; this CSR gives ${rdnsToText(subject)}`);
  }
  return {
    profile,
    publicKey,
    spki,
    keySpec,
    subject,
    sans: { dns: sans.dns, ip: sans.ip, email: sans.email, uri: sans.uri, ...(sans.permanentId ? { permanentId: sans.permanentId } : {}), ...(sans.hardwareModule ? { hardwareModule: sans.hardwareModule } : {}) },
    notBefore,
    notAfter,
    ignoredExtensions: csr?.requestedExtensions ?? req.certTemplate?.requestedExtensions ?? [],
    classification: classificationFor(profile, req.requester),
  };
}

function validity(req: EnrollmentRequest, profile: Profile, now: Date): { notBefore: Date; notAfter: Date } {
  const notBefore = req.validity?.notBefore ?? new Date(now.getTime() - profile.validity.backdate);
  const notAfter = req.validity?.notAfter ?? new Date(notBefore.getTime() + profile.validity.default);
  if (notAfter <= notBefore) throw new GatewayError("RA_ERR_MALFORMED", "notAfter must be later than notBefore");
  if (notAfter.getTime() - notBefore.getTime() > profile.validity.max) {
    throw new GatewayError("RA_ERR_VALIDITY_TOO_LONG", `requested validity exceeds the profile maximum of ${Math.floor(profile.validity.max / 86_400_000)} days`);
  }
  if (notBefore.getTime() < now.getTime() - 86_400_000) throw new GatewayError("RA_ERR_MALFORMED", "notBefore lies more than a day in the past");
  return { notBefore, notAfter };
}

function subjectFor(profile: Profile, sans: SanSet, csrCn: string | undefined): Array<[string, string]> {
  const rdns: Array<[string, string]> = Object.entries(profile.subject.fixed);
  const cn =
    profile.subject.commonName === "fromCsr" ? csrCn
    : profile.subject.commonName === "firstSan" ? sans.dns[0] ?? sans.ip[0] ?? sans.email[0] ?? sans.uri[0] ?? csrCn
    : undefined;
  if (profile.subject.commonName === "fromCsr" && !cn) throw new GatewayError("RA_ERR_NO_NAMES", "the profile takes the common name from the CSR, which has none");
  if (cn !== undefined) {
    if (cn.length > profile.subject.maxCommonNameLength) throw new GatewayError("RA_ERR_NAME_NOT_ALLOWED", `common name longer than ${profile.subject.maxCommonNameLength} characters`);
    rdns.push(["CN", cn]);
  }
  return rdns;
}

const CRITICALITY = new Set<string>(CRITICALITIES);

/**
 * Classification: the profile's defaults, refined by what the front-end learned about the requester
 * (attributes owner, application, environment, criticality), e.g. from an EAB key or an MDM.
 */
export function classificationFor(profile: Profile, requester: RequesterIdentity): Classification {
  const a = requester.attributes ?? {};
  const c: Classification = { ...profile.classification };
  for (const k of ["owner", "application", "environment"] as const) if (a[k]) c[k] = a[k].slice(0, 200);
  if (a.criticality && CRITICALITY.has(a.criticality)) c.criticality = a.criticality as Classification["criticality"];
  return c;
}
