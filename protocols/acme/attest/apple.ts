import { createHash, timingSafeEqual } from "node:crypto";
import { checkAttestationChain, extensionsOf, extensionValue } from "./chain.js";
import { attestationFailure } from "./statement.js";
import type { AttestationInput, AttestationResult } from "./types.js";

const SERIAL = "1.2.840.113635.100.8.9.1";
const UDID = "1.2.840.113635.100.8.9.2";
const SEP_OS_VERSION = "1.2.840.113635.100.8.10.2";
const NONCE = "1.2.840.113635.100.8.11.1";

const fail = (check: string, message: string) => attestationFailure("apple", check, message);
const utf8 = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("utf8") : undefined);

/**
 * Apple Managed Device Attestation: x5c = [leaf, Apple Enterprise Attestation Sub CA 1] under the Apple
 * Enterprise Attestation Root. The leaf certifies the key; Apple's extensions hold raw bytes (no DER
 * wrapper). The freshness nonce is SHA-256 of the challenge token, not of the key authorization.
 * Apple leaves out properties it could not confirm, so a missing nonce fails rather than passes, and a
 * missing serial and UDID leave the attestation naming no device.
 */
export function verifyApple(input: AttestationInput): AttestationResult {
  const x5c = input.attStmt.certificates();
  checkAttestationChain("apple", x5c, input.anchors, input.now);
  const exts = extensionsOf(x5c[0]);
  const nonce = extensionValue(exts, NONCE);
  if (!nonce) throw fail("nonce", "the attestation carries no freshness nonce");
  const expected = createHash("sha256").update(input.token).digest();
  if (nonce.length !== expected.length || !timingSafeEqual(nonce, expected)) throw fail("nonce", "the freshness nonce is not SHA-256 of this challenge's token");
  const serial = utf8(extensionValue(exts, SERIAL));
  const udid = utf8(extensionValue(exts, UDID));
  const sepOs = utf8(extensionValue(exts, SEP_OS_VERSION));
  return {
    publicKey: x5c[0].publicKey,
    // Apple proves the serial number and the UDID as permanent identifiers; it names no assigner.
    claims: { permanentIds: [serial, udid].flatMap((v) => (v ? [{ value: v }] : [])), hardwareModules: [], moduleSerials: [] },
    facts: { ...(serial ? { serialNumber: serial } : {}), ...(udid ? { udid } : {}), ...(sepOs ? { sepOsVersion: sepOs } : {}) },
  };
}
