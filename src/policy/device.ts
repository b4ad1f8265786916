import { hardwareModuleText, parseHardwareModule, parsePermanentId, permanentIdText } from "../asn1/device-names.js";
import { GatewayError } from "../errors.js";
import { sameNames } from "./names.js";
import type { Profile } from "./profile.js";
import { emptySans, sanCount, type AttestedDevice, type SanSet } from "./request.js";

/** The names a device certificate carries: the attested identifier in the otherName form the profile asks for. */
export function deviceSans(identifier: AttestedDevice["identifier"], profile: Profile): SanSet {
  const form = profile.attestation?.san ?? "asIdentifier";
  const s = emptySans();
  if (identifier.type === "permanent-identifier") {
    const p = parsePermanentId(identifier.value);
    if (!p) throw new GatewayError("RA_ERR_MALFORMED", `${JSON.stringify(identifier.value)} is not a valid permanent identifier`);
    if (form === "hardwareModuleName") s.hardwareModule = [hardwareModuleText({ serial: p.value, hwType: profile.attestation!.hwType! })];
    else s.permanentId = [permanentIdText(p)];
  } else {
    const h = parseHardwareModule(identifier.value);
    if (!h) throw new GatewayError("RA_ERR_MALFORMED", `${JSON.stringify(identifier.value)} is not a valid hardware module name (serial/hwTypeOID)`);
    if (form === "permanentIdentifier") s.permanentId = [permanentIdText({ value: h.serial, assigner: h.hwType })];
    else s.hardwareModule = [hardwareModuleText(h)];
  }
  return s;
}

/** The device's own name (serial, UDID): what a common name may say about it. */
export function deviceCommonName(identifier: AttestedDevice["identifier"]): string {
  return identifier.type === "permanent-identifier" ? parsePermanentId(identifier.value)?.value ?? identifier.value : parseHardwareModule(identifier.value)?.serial ?? identifier.value;
}

/**
 * An attested request: the CSR must carry the attested key; its names, if any, must be exactly the
 * device's, and a common name, if any, the device's own name (a name nobody attested must not slip
 * into the certificate). Returns the names and common name to certify.
 */
export function attestedNames(a: AttestedDevice, profile: Profile, spki: Uint8Array, csrSans: SanSet & { other?: number }, csrCn: string | undefined): { sans: SanSet; cn: string } {
  if (!profile.attestation?.formats.includes(a.format as never)) {
    throw new GatewayError("RA_ERR_PROFILE_NOT_ALLOWED", `profile ${profile.name} does not accept ${a.format} attestations`);
  }
  if (!Buffer.from(spki).equals(Buffer.from(a.spki))) throw new GatewayError("RA_ERR_BAD_ATTESTATION", "the CSR's key is not the attested key", { check: "csr-key" });
  // An identity nobody proved is certified only on the word of the profile's authorization webhook.
  if (a.identity !== "attested" && (profile.attestation?.unprovenIdentifier !== "authorizationWebhook" || !profile.authorization?.webhook)) {
    throw new GatewayError("RA_ERR_BAD_ATTESTATION", `the attestation does not prove ${a.identifier.value}`, { check: "no-identifier" });
  }
  const sans = deviceSans(a.identifier, profile);
  if ((csrSans.other ?? 0) > 0 || (sanCount(csrSans) > 0 && !sameNames(csrSans, sans))) throw new GatewayError("RA_ERR_BAD_CSR", "the CSR names something other than the attested device");
  const cn = deviceCommonName(a.identifier);
  if (csrCn !== undefined && csrCn !== cn) throw new GatewayError("RA_ERR_BAD_CSR", `the CSR's common name must be the attested device's (${cn}) or absent`);
  return { sans, cn };
}
