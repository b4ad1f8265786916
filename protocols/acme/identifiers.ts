import { isIP } from "node:net";
import { canonicalIp } from "../../src/asn1/ip.js";
import { GatewayError, toGatewayError } from "../../src/errors.js";
import { checkNames } from "../../src/policy/names.js";
import type { Profile } from "../../src/policy/profile.js";
import { emptySans, type SanSet } from "../../src/policy/request.js";
import type { AcmeEabKeyRecord, AcmeIdentifierRecord } from "../../src/store/acme-types.js";

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
    } else {
      throw new GatewayError("RA_ERR_UNSUPPORTED_IDENTIFIER", `identifier type ${JSON.stringify(type)} is not supported (dns and ip are)`);
    }
    out.set(`${id.type}:${id.value}`, id);
  }
  return [...out.values()];
}

export function sansOf(ids: AcmeIdentifierRecord[]): SanSet {
  const s = emptySans();
  for (const i of ids) (i.type === "dns" ? s.dns : s.ip).push(i.value);
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
