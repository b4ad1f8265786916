import { isIP } from "node:net";
import { canonicalIp } from "../../src/asn1/ip.js";
import { GatewayError, toGatewayError } from "../../src/errors.js";
import { hardwareModuleText, parseHardwareModule, parsePermanentId, permanentIdText } from "../../src/asn1/device-names.js";
import { deviceSans } from "../../src/policy/device.js";
import { checkNames } from "../../src/policy/names.js";
import type { Profile } from "../../src/policy/profile.js";
import { emptySans, type SanSet } from "../../src/policy/request.js";
import type { AcmeEabKeyRecord, AcmeIdentifierRecord } from "../../src/store/acme-types.js";
import type { DeviceIdentifier } from "./attest/types.js";

const MAX_IDENTIFIERS = 100;

/** Lower-cases DNS names, canonicalises IPs (RFC 8738), drops duplicates; unknown types are refused. */
export function normaliseIdentifiers(raw: unknown): AcmeIdentifierRecord[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new GatewayError("RA_ERR_MALFORMED", "identifiers must be a non-empty array");
  if (raw.length > MAX_IDENTIFIERS) throw new GatewayError("RA_ERR_MALFORMED", `at most ${MAX_IDENTIFIERS} identifiers per order`);
  const out = new Map<string, AcmeIdentifierRecord>();
  for (const i of raw) {
    if (!i || typeof i !== "object" || typeof (i as Record<string, unknown>).value !== "string") throw new GatewayError("RA_ERR_MALFORMED", "each identifier needs a type and a string value");
    const { type, value } = i as { type: unknown; value: string };
    let id: AcmeIdentifierRecord;
    if (type === "dns") id = { type, value: value.toLowerCase().replace(/\.$/, "") };
    else if (type === "ip") {
      if (!isIP(value)) throw new GatewayError("RA_ERR_MALFORMED", `ip identifier ${JSON.stringify(value)} is not an IP address`);
      id = { type, value: canonicalIp(value) };
    } else if (type === "permanent-identifier") {
      const p = parsePermanentId(value);
      if (!p) throw new GatewayError("RA_ERR_MALFORMED", `permanent-identifier ${JSON.stringify(value)} is malformed (a value of up to 255 printable characters, optionally "/assigner-OID")`);
      id = { type, value: permanentIdText(p) };
    } else if (type === "hardware-module") {
      const h = parseHardwareModule(value);
      if (!h) throw new GatewayError("RA_ERR_MALFORMED", `hardware-module ${JSON.stringify(value)} is malformed (serial "/" hwType OID)`);
      id = { type, value: hardwareModuleText(h) };
    } else {
      throw new GatewayError("RA_ERR_UNSUPPORTED_IDENTIFIER", `identifier type ${JSON.stringify(type)} is not supported (dns, ip, permanent-identifier and hardware-module are)`);
    }
    out.set(`${id.type}:${id.value}`, id);
  }
  return [...out.values()];
}

export const isDeviceIdentifier = (i: AcmeIdentifierRecord): i is DeviceIdentifier => i.type === "permanent-identifier" || i.type === "hardware-module";

/** The DNS names and IP addresses of an order; device identifiers are certified through their attestation. */
export function sansOf(ids: AcmeIdentifierRecord[]): SanSet {
  const s = emptySans();
  for (const i of ids) {
    if (i.type === "dns") s.dns.push(i.value);
    else if (i.type === "ip") s.ip.push(i.value);
  }
  return s;
}

function underSuffix(name: string, suffixes: string[]): boolean {
  const n = name.replace(/^\*\./, "");
  return suffixes.some((s) => n === s || n.endsWith(`.${s}`));
}

/**
 * Checks every identifier on its own against the profile (and the EAB key's name rules), so a
 * client learns about each refused name at once (RFC 8555 §6.7.1 subproblems); then the whole set.
 */
export function checkOrderIdentifiers(ids: AcmeIdentifierRecord[], profile: Profile, eab?: AcmeEabKeyRecord): void {
  if (ids.some(isDeviceIdentifier) || profile.attestation) return checkDeviceOrder(ids, profile, eab);
  const parts: Array<{ identifier: AcmeIdentifierRecord; error: GatewayError }> = [];
  for (const id of ids) {
    try {
      if (eab?.nameSuffixes.length && (id.type !== "dns" || !underSuffix(id.value, eab.nameSuffixes))) {
        throw new GatewayError("RA_ERR_NAME_NOT_ALLOWED", `${id.value} is outside the names this account's external binding allows`);
      }
      checkNames({ ...sansOf([id]) }, { ...profile, names: { ...profile.names, maxSans: MAX_IDENTIFIERS, requireSan: false } });
    } catch (e) {
      parts.push({ identifier: id, error: toGatewayError(e) });
    }
  }
  if (parts.length === 1) throw new GatewayError(parts[0].error.code, parts[0].error.message, undefined, { parts });
  if (parts.length > 1) throw new GatewayError("RA_ERR_NAME_NOT_ALLOWED", `${parts.length} identifiers are not allowed; see subproblems`, undefined, { parts });
  checkNames(sansOf(ids), profile);
}

/**
 * A device order names exactly one device, and only under a profile that accepts device attestations:
 * one certificate per piece of hardware, proven by one attestation.
 */
function checkDeviceOrder(ids: AcmeIdentifierRecord[], profile: Profile, eab?: AcmeEabKeyRecord): void {
  const [id] = ids;
  if (!profile.attestation) {
    throw new GatewayError("RA_ERR_UNSUPPORTED_IDENTIFIER", `profile ${profile.name} does not accept device attestations; ${id.type} identifiers need a profile that does`);
  }
  if (ids.length !== 1 || !isDeviceIdentifier(id)) {
    throw new GatewayError("RA_ERR_NAME_NOT_ALLOWED", `profile ${profile.name} issues to attested devices only: an order names exactly one permanent-identifier or hardware-module`);
  }
  if (eab?.nameSuffixes.length) throw new GatewayError("RA_ERR_NAME_NOT_ALLOWED", `${id.value} is outside the names this account's external binding allows`);
  try {
    checkNames(deviceSans(id, profile), profile);
  } catch (e) {
    const err = toGatewayError(e);
    throw new GatewayError(err.code, err.message, undefined, { parts: [{ identifier: id, error: err }] });
  }
}
