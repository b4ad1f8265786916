import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { oidUnder } from "../asn1/device-names.js";
import { issueLines } from "../config/load.js";
import { secretSchema } from "../config/schema-secret.js";
import { GatewayError } from "../errors.js";
import { parseDuration } from "./duration.js";

const duration = z.union([z.string(), z.number().positive()]).transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

export const KEY_USAGES = [
  "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
  "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly",
] as const;

const EKU_OIDS = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  ocspSigning: "1.3.6.1.5.5.7.3.9",
  ipsecIKE: "1.3.6.1.5.5.7.3.17",
} as const;
export type EkuName = keyof typeof EKU_OIDS;
export function ekuOid(name: string): string {
  return (EKU_OIDS as Record<string, string>)[name] ?? name;
}

const keyRule = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ec"), curves: z.array(z.enum(["P-256", "P-384"])).min(1).default(["P-256", "P-384"]) }).strict(),
  z.object({
    type: z.literal("rsa"),
    minBits: z.number().int().min(2048).default(2048),
    maxBits: z.number().int().max(8192).default(4096),
  }).strict(),
  /** ML-DSA (FIPS 204, RFC 9881): the allowed security levels. */
  z.object({
    type: z.literal("ml-dsa"),
    levels: z.array(z.union([z.literal(44), z.literal(65), z.literal(87)])).min(1).default([44, 65, 87]),
  }).strict(),
]);

/** keyUsage bits RFC 9881 section 5 forbids with an ML-DSA subject key: ML-DSA only signs, it neither encrypts nor agrees keys. */
export const ML_DSA_FORBIDDEN_KEY_USAGES: readonly (typeof KEY_USAGES)[number][] = [
  "keyEncipherment", "dataEncipherment", "keyAgreement", "encipherOnly", "decipherOnly",
];

export const CRITICALITIES = ["low", "medium", "high", "critical"] as const;
export const ATTESTATION_FORMATS = ["apple", "tpm", "step"] as const;
export type AttestationFormat = (typeof ATTESTATION_FORMATS)[number];
/** hwTypes each format proves when the profile does not say: Yubico's arc for YubiKeys, TCG's TPM type for TPMs, none for Apple. */
export const DEFAULT_ATTESTED_HW_TYPES: Record<AttestationFormat, string[]> = {
  apple: [],
  step: ["1.3.6.1.4.1.41482.3"],
  tpm: ["2.23.133.1.2"],
};
const oid = z.string().regex(/^[0-2](\.(0|[1-9]\d{0,9})){1,30}$/, { message: "not an OID" });

const nameRule = z.object({
  /** DNS suffixes ("example.com" allows example.com and *.example.com names below it) */
  suffixes: z.array(z.string()).default([]),
  /** Full-match regular expressions, as an alternative to suffixes. */
  patterns: z.array(z.string()).default([]),
}).strict();

export const profileSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  description: z.string().default(""),
  /** Name of the issuing CA that signs; "default" is the first issuing CA (the dev CA on a zero-config start). */
  issuer: z.string().default("default"),
  protocols: z.array(z.enum(["acme", "est", "scep", "cmp", "admin"])).min(1),
  /** Identity patterns "kind:id" with "*" wildcards; empty means any authenticated identity. */
  identities: z.array(z.string()).default(["*"]),
  approval: z.boolean().default(false),
  keys: z.array(keyRule).min(1),
  subject: z.object({
    /** Where the CN comes from: the CSR's CN, the first SAN, or none. */
    commonName: z.enum(["fromCsr", "firstSan", "none"]).default("firstSan"),
    /** Fixed RDNs added by the gateway, in order, e.g. {O: "Example"}. Never taken from the request. */
    fixed: z.record(z.string(), z.string()).default({}),
    maxCommonNameLength: z.number().int().positive().max(64).default(64),
  }).strict().default({ commonName: "firstSan", fixed: {}, maxCommonNameLength: 64 }),
  names: z.object({
    dns: nameRule.extend({ wildcards: z.boolean().default(false) }).optional(),
    /** CIDR ranges allowed for IP SANs. */
    ip: z.array(z.string()).optional(),
    email: nameRule.optional(),
    uri: z.object({ patterns: z.array(z.string()).min(1) }).strict().optional(),
    /** otherName permanentIdentifier (device serial, UDID): full-match patterns for the value, assigner OIDs allowed. */
    permanentId: z.object({ patterns: z.array(z.string()).min(1), assigners: z.array(oid).default([]) }).strict().optional(),
    /** otherName hardwareModuleName: hwType OIDs allowed and full-match patterns for the serial. */
    hardwareModule: z.object({ hwTypes: z.array(oid).min(1), patterns: z.array(z.string()).min(1) }).strict().optional(),
    maxSans: z.number().int().min(1).max(1000).default(10),
    /** When true, a request without any SAN is rejected. */
    requireSan: z.boolean().default(true),
  }).strict(),
  validity: z.object({ default: duration, max: duration, backdate: duration.default(60 * 1000) }).strict()
    .refine((v) => v.default <= v.max, { message: "default must not exceed max" }),
  keyUsage: z.array(z.enum(KEY_USAGES)).min(1),
  extendedKeyUsage: z.array(z.string()).default([]),
  /**
   * Device attestation (ACME device-attest-01). A profile with this section issues only to keys an
   * accepted attestation proved, and names the device with an otherName SAN.
   */
  attestation: z.object({
    formats: z.array(z.enum(ATTESTATION_FORMATS)).min(1),
    /** PEM files of trust anchors per format; relative paths are relative to the profile file. */
    roots: z.object({ apple: z.array(z.string()).min(1).optional(), tpm: z.array(z.string()).min(1).optional(), step: z.array(z.string()).min(1).optional() }).strict(),
    /** Which otherName carries the identifier: the form matching its type, or always one form. */
    san: z.enum(["asIdentifier", "permanentIdentifier", "hardwareModuleName"]).default("asIdentifier"),
    /** hwType OID written when a permanent-identifier is carried as a hardwareModuleName. */
    hwType: oid.optional(),
    /**
     * hwType OIDs (each with the arc under it) a hardware-module identifier, or a permanent identifier's
     * assigner, may name per format. Defaults: step Yubico's arc 1.3.6.1.4.1.41482.3, tpm TCG's 2.23.133.1.2, apple none.
     */
    hwTypes: z.object({ apple: z.array(oid).optional(), tpm: z.array(oid).optional(), step: z.array(oid).optional() }).strict().default({}),
    /**
     * An attestation that names no device (a TPM AK certificate without otherNames, an Apple attestation
     * without serial and UDID): `refuse`, or `authorizationWebhook` to let the profile's webhook decide the identity.
     */
    unprovenIdentifier: z.enum(["refuse", "authorizationWebhook"]).default("refuse"),
  }).strict()
    .refine((a) => a.formats.every((f) => a.roots[f]), { message: "every accepted format needs its roots" })
    .refine((a) => a.san !== "hardwareModuleName" || a.hwType, { message: "san: hardwareModuleName needs hwType" })
    .optional(),
  /** Inventory classification given to this profile's certificates (the requester's attributes and the admin API may refine it). */
  classification: z.object({
    owner: z.string().max(200).optional(),
    application: z.string().max(200).optional(),
    environment: z.string().max(200).optional(),
    criticality: z.enum(CRITICALITIES).optional(),
  }).strict().default({}),
  /**
   * Dynamic issuance: a webhook asked for every enrollment under this profile, from any protocol, with
   * the identity, protocol, names, key and attestation facts. It allows, denies (with a reason) or allows
   * with extra attributes; when it cannot be asked, `onError` decides (deny: fail closed).
   */
  authorization: z.object({
    webhook: z.object({
      url: z.url(),
      timeoutMs: z.number().int().min(100).max(60_000).default(5000),
      /** HMAC-SHA256 key: the request carries X-Gateway-Signature so the receiver knows it is us. */
      hmacSecret: secretSchema.optional(),
      onError: z.enum(["deny", "allow"]).default("deny"),
    }).strict(),
  }).strict().optional(),
  renewal: z.object({ windowDays: z.number().positive().default(30), revokeReplaced: z.boolean().default(false) })
    .strict().default({ windowDays: 30, revokeReplaced: false }),
}).strict();

export type Profile = z.infer<typeof profileSchema>;

/** The hwType OIDs (and the arcs under them) the profile accepts from attestations of `format`. */
export function acceptedHwTypes(profile: Profile, format: AttestationFormat): string[] {
  return profile.attestation?.hwTypes[format] ?? DEFAULT_ATTESTED_HW_TYPES[format];
}
export type KeyRule = z.infer<typeof keyRule>;

export function parseProfile(raw: unknown, source: string): Profile {
  const r = checkProfile(raw);
  if (!r.profile) throw new GatewayError("RA_ERR_CONFIG", `profile ${source} is invalid:\n${r.problems.map((p) => `  - ${p}`).join("\n")}`);
  return r.profile;
}

/** Validates one profile document: the profile, or every problem found (not only the first). */
export function checkProfile(raw: unknown): { profile?: Profile; problems: string[] } {
  const r = profileSchema.safeParse(raw);
  if (!r.success) return { problems: issueLines(r.error.issues, profileSchema) };
  const problems: string[] = [];
  const att = r.data.attestation;
  if (att?.unprovenIdentifier === "authorizationWebhook" && r.data.authorization?.webhook?.onError !== "deny") {
    problems.push("attestation.unprovenIdentifier: authorizationWebhook needs authorization.webhook with onError: deny");
  }
  if (att?.san === "hardwareModuleName") {
    for (const f of att.formats) {
      if (!oidUnder(att.hwType!, acceptedHwTypes(r.data, f))) {
        problems.push(`attestation.hwType ${att.hwType} is not a hardware type ${f} attestations prove (attestation.hwTypes.${f})`);
      }
    }
  }
  const mlDsa = r.data.keys.find((k) => k.type === "ml-dsa");
  const encipher = r.data.keyUsage.filter((u) => ML_DSA_FORBIDDEN_KEY_USAGES.includes(u));
  if (mlDsa && encipher.length) {
    problems.push(`keyUsage ${encipher.join(", ")} cannot be given to the ML-DSA keys this profile allows (RFC 9881 section 5: ML-DSA keys only sign; `
      + "use digitalSignature or nonRepudiation, or put the ml-dsa key rule in a profile of its own)");
  }
  const n = r.data.names;
  for (const p of [...(n.dns?.patterns ?? []), ...(n.email?.patterns ?? []), ...(n.uri?.patterns ?? []), ...(n.permanentId?.patterns ?? []), ...(n.hardwareModule?.patterns ?? [])]) {
    try {
      new RegExp(p);
    } catch {
      problems.push(`names pattern ${JSON.stringify(p)} is not a valid regular expression`);
    }
  }
  return problems.length ? { problems } : { profile: r.data, problems };
}

/** Attestation root paths are written relative to the profile file. */
function withAbsoluteRoots(p: Profile, dir: string): Profile {
  if (!p.attestation) return p;
  const roots = Object.fromEntries(Object.entries(p.attestation.roots).map(([f, files]) => [f, files?.map((x) => resolve(dir, x))]));
  return { ...p, attestation: { ...p.attestation, roots } };
}

/**
 * Every profile of a directory with every problem of every file (check-config lists them all; the start stops
 * on any). Each problem names its file. Two files defining one name is a problem too.
 */
export function loadProfileDir(dir: string): { profiles: Profile[]; problems: string[]; files: Map<string, string>; broken: string[] } {
  const files = new Map<string, string>();
  /** Names the refused files give themselves: references to them are not reported as missing on top. */
  const broken: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (e) {
    return { profiles: [], problems: [`profilesDir ${dir}: ${(e as NodeJS.ErrnoException).code ?? "unreadable"}`], files, broken };
  }
  const profiles: Profile[] = [];
  const problems: string[] = [];
  for (const f of names) {
    const path = join(dir, f);
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(path, "utf8"));
    } catch (e) {
      problems.push(`profile ${path}: ${(e as Error).message.split("\n")[0]}`);
      continue;
    }
    const r = checkProfile(raw);
    for (const p of r.problems) problems.push(`profile ${path}: ${p}`);
    if (!r.profile) {
      const name = (raw as { name?: unknown } | null)?.name;
      if (typeof name === "string") broken.push(name);
      continue;
    }
    const other = files.get(r.profile.name);
    if (other) problems.push(`profile ${r.profile.name} is defined twice (${other} and ${path})`);
    else {
      files.set(r.profile.name, path);
      profiles.push(withAbsoluteRoots(r.profile, dir));
    }
  }
  return { profiles, problems, files, broken };
}

export class ProfileSet {
  private readonly byName = new Map<string, Profile>();
  constructor(profiles: Profile[]) {
    for (const p of profiles) {
      if (this.byName.has(p.name)) throw new GatewayError("RA_ERR_CONFIG", `profile ${p.name} is defined twice`);
      this.byName.set(p.name, p);
    }
  }
  static loadDir(dir: string): ProfileSet {
    const r = loadProfileDir(dir);
    if (r.problems.length) throw new GatewayError("RA_ERR_CONFIG", r.problems.length === 1 ? r.problems[0] : `profiles are invalid:\n${r.problems.map((p) => `  - ${p}`).join("\n")}`);
    return new ProfileSet(r.profiles);
  }
  get(name: string): Profile {
    const p = this.byName.get(name);
    if (!p) throw new GatewayError("RA_ERR_UNKNOWN_PROFILE", `unknown profile "${name}"`);
    return p;
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  all(): Profile[] {
    return [...this.byName.values()];
  }
}
