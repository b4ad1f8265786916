import { isIP } from "node:net";
import { GatewayError } from "../errors.js";
import { parseHardwareModule, parsePermanentId } from "../asn1/device-names.js";
import { ipInCidr } from "../asn1/ip.js";
import type { Profile } from "./profile.js";
import { sanCount, sanList, type SanSet } from "./request.js";

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function reject(name: string, why: string): never {
  throw new GatewayError("RA_ERR_NAME_NOT_ALLOWED", `name "${name}" is not allowed: ${why}`);
}

function matchesSuffixOrPattern(value: string, rule: { suffixes: string[]; patterns: string[] }): boolean {
  const v = value.toLowerCase();
  if (rule.suffixes.some((s) => v === s.toLowerCase() || v.endsWith(`.${s.toLowerCase().replace(/^\./, "")}`))) return true;
  return rule.patterns.some((p) => anchored(p, "i").test(value));
}

/** Profile patterns compiled once each (profiles hold a handful; the cache is bounded anyway). */
const compiled = new Map<string, RegExp>();
function anchored(pattern: string, flags: "" | "i"): RegExp {
  const key = `${flags}/${pattern}`;
  let re = compiled.get(key);
  if (!re) {
    if (compiled.size >= 1024) compiled.clear();
    compiled.set(key, (re = new RegExp(`^(?:${pattern})$`, flags)));
  }
  return re;
}

export function checkDnsName(name: string, rule: NonNullable<Profile["names"]["dns"]>): void {
  if (name.length > 253) reject(name, "longer than 253 characters");
  const wildcard = name.startsWith("*.");
  if (wildcard && !rule.wildcards) reject(name, "wildcards are not allowed by this profile");
  const labels = (wildcard ? name.slice(2) : name).split(".");
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) reject(name, "not a valid DNS name");
  if (isIP(name)) reject(name, "an IP address is not a DNS name");
  if (!matchesSuffixOrPattern(wildcard ? name.slice(2) : name, rule)) reject(name, "outside the profile's DNS allow-list");
}

/** Every SAN must be of a type the profile allows and match its allow-list; the count is capped. */
export function checkNames(sans: SanSet & { other?: number }, profile: Profile): void {
  const rules = profile.names;
  if (sanCount(sans) > rules.maxSans) {
    throw new GatewayError("RA_ERR_TOO_MANY_NAMES", `${sanCount(sans)} names requested; the profile allows at most ${rules.maxSans}`);
  }
  if ((sans.other ?? 0) > 0) throw new GatewayError("RA_ERR_NAME_NOT_ALLOWED", "the request carries a name form the gateway does not issue");
  if (rules.requireSan && sanCount(sans) === 0) throw new GatewayError("RA_ERR_NO_NAMES", "the request carries no subject alternative name");
  for (const d of sans.dns) rules.dns ? checkDnsName(d, rules.dns) : reject(d, "DNS names are not allowed by this profile");
  for (const ip of sans.ip) {
    if (!rules.ip) reject(ip, "IP addresses are not allowed by this profile");
    if (!isIP(ip) || !rules.ip.some((c) => ipInCidr(ip, c))) reject(ip, "outside the profile's IP ranges");
  }
  for (const v of [...sans.email, ...sans.uri]) {
    // IA5String in the certificate: internationalised names must arrive already encoded.
    if (!/^[\x21-\x7e]+$/.test(v)) reject(v, "only printable ASCII is allowed (encode internationalised names first)");
  }
  for (const e of sans.email) {
    if (!rules.email) reject(e, "email addresses are not allowed by this profile");
    const at = e.lastIndexOf("@");
    if (at < 1 || !matchesSuffixOrPattern(e.slice(at + 1), { suffixes: rules.email.suffixes, patterns: [] }) && !rules.email.patterns.some((p) => anchored(p, "i").test(e))) {
      reject(e, "outside the profile's email allow-list");
    }
  }
  for (const u of sans.uri) {
    if (!rules.uri) reject(u, "URIs are not allowed by this profile");
    if (!fullMatch(u, rules.uri.patterns)) reject(u, "outside the profile's URI allow-list");
  }
  checkDeviceNames(sans, profile);
}

const fullMatch = (v: string, patterns: string[]) => patterns.some((p) => anchored(p, "").test(v));

/** permanentIdentifier and hardwareModuleName otherNames: well formed, of an allowed assigner/hwType, matching a pattern. */
function checkDeviceNames(sans: SanSet, profile: Profile): void {
  const rules = profile.names;
  for (const text of sans.permanentId ?? []) {
    const id = parsePermanentId(text);
    if (!rules.permanentId) reject(text, "permanent identifiers are not allowed by this profile");
    if (!id) reject(text, "not a valid permanent identifier");
    if (id.assigner && !rules.permanentId.assigners.includes(id.assigner)) reject(text, `assigner ${id.assigner} is not allowed by this profile`);
    if (!fullMatch(id.value, rules.permanentId.patterns)) reject(text, "outside the profile's permanent identifier patterns");
  }
  for (const text of sans.hardwareModule ?? []) {
    const hw = parseHardwareModule(text);
    if (!rules.hardwareModule) reject(text, "hardware module names are not allowed by this profile");
    if (!hw) reject(text, "not a valid hardware module name (serial/hwTypeOID)");
    if (!rules.hardwareModule.hwTypes.includes(hw.hwType)) reject(text, `hwType ${hw.hwType} is not allowed by this profile`);
    if (!fullMatch(hw.serial, rules.hardwareModule.patterns)) reject(text, "outside the profile's hardware serial patterns");
  }
}

/** Case-insensitive set equality used when a protocol already fixed the names (ACME orders). */
export function sameNames(a: SanSet, b: SanSet): boolean {
  // DNS names and email addresses compare case-insensitively; the other forms exactly.
  const norm = (s: SanSet) => sanList({ ...s, dns: s.dns.map((d) => d.toLowerCase()), email: s.email.map((e) => e.toLowerCase()) }).sort().join("\n");
  return norm(a) === norm(b);
}
