import { hardwareModuleText, oidUnder, parseHardwareModule, parsePermanentId, permanentIdText, type HardwareModule, type PermanentId } from "../../../src/asn1/device-names.js";
import { acceptedHwTypes, type AttestationFormat, type Profile } from "../../../src/policy/profile.js";
import { attestationFailure } from "./statement.js";
import type { DeviceIdentifier } from "./types.js";

/** The device identifiers an attestation carries, as each format states them. */
export interface DeviceClaims {
  /** permanentIdentifier values with the assigner the attestation names, if any (TPM AK certificate, Apple serial/UDID). */
  permanentIds: PermanentId[];
  /** hardwareModuleName values, serial and hwType (TPM AK certificate). */
  hardwareModules: HardwareModule[];
  /**
   * Serial numbers of the security module itself (YubiKey): provable as a permanent identifier or as a
   * hardware module, the hwType (or assigner) then being one this format may prove.
   */
  moduleSerials: string[];
}

/** How the identifier in a certificate got there: proven by the attestation, or left to the authorization webhook. */
export type IdentityProof = "attested" | "delegated";

function claimText(c: DeviceClaims): string {
  const all = [...c.permanentIds.map(permanentIdText), ...c.hardwareModules.map(hardwareModuleText), ...c.moduleSerials];
  return all.length ? all.join(", ") : "none";
}

/**
 * draft-ietf-acme-device-attest §5 step 3: the order's identifier must be one the attestation carries, of
 * the same type (a TPM naming permanentIdentifier X proves nothing about a hardware module X), and a
 * hwType or assigner the certificate would state must belong to the attesting format. An attestation
 * carrying no identifier proves no identity: refused unless the profile explicitly delegates that
 * decision to its authorization webhook.
 */
export function proveIdentifier(format: AttestationFormat, identifier: DeviceIdentifier, claims: DeviceClaims, profile: Profile): IdentityProof {
  const fail = (check: string, message: string) => attestationFailure(format, check, message);
  const hwTypes = acceptedHwTypes(profile, format);
  let proven: boolean;
  if (identifier.type === "hardware-module") {
    const h = parseHardwareModule(identifier.value);
    if (!h) throw fail("identifier", `${JSON.stringify(identifier.value)} is not a hardware module name`);
    if (!oidUnder(h.hwType, hwTypes)) {
      throw fail("hw-type", `hwType ${h.hwType} is not a hardware type ${format} attestations prove here (accepted: ${hwTypes.join(", ") || "none"})`);
    }
    proven = claims.hardwareModules.some((x) => x.serial === h.serial && x.hwType === h.hwType) || claims.moduleSerials.includes(h.serial);
  } else {
    const p = parsePermanentId(identifier.value);
    if (!p) throw fail("identifier", `${JSON.stringify(identifier.value)} is not a permanent identifier`);
    if (p.assigner && !claims.permanentIds.some((x) => x.assigner === p.assigner) && !oidUnder(p.assigner, hwTypes)) {
      throw fail("hw-type", `assigner ${p.assigner} is not one ${format} attestations prove here`);
    }
    proven =
      claims.permanentIds.some((x) => x.value === p.value && (!p.assigner || x.assigner === p.assigner)) ||
      (claims.moduleSerials.includes(p.value) && (!p.assigner || oidUnder(p.assigner, hwTypes)));
  }
  const carried = claims.permanentIds.length + claims.hardwareModules.length + claims.moduleSerials.length;
  if (proven) return "attested";
  if (carried > 0) throw fail("identifier", `${identifier.type} ${identifier.value} is not a device identifier this attestation proves (it proves: ${claimText(claims)})`);
  if (profile.attestation?.unprovenIdentifier === "authorizationWebhook") return "delegated";
  throw fail("no-identifier", `the ${format} attestation names no device, so it cannot prove ${identifier.value}`);
}
