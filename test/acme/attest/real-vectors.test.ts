import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { extensionsOf, extensionValue } from "../../../protocols/acme/attest/chain.js";
import { yubikeySerial } from "../../../protocols/acme/attest/step.js";
import { checkAkCertificate } from "../../../protocols/acme/attest/tpm.js";
import { verifyPath } from "../../../src/ca/chain.js";

/** Real, public attestation certificates: chain building, extension parsing and identifier facts. */
const data = (f: string) => readFileSync(join(import.meta.dirname, "testdata", f));
const roots = (f: string) => new X509Certificate(readFileSync(join(import.meta.dirname, "../../../profiles/attestation-roots", f)));

describe("real attestation certificates", () => {
  it("reads an Apple MDA leaf's serial, UDID and 32-byte raw nonce, and it belongs under the shipped Apple root's hierarchy", () => {
    const leaf = new X509Certificate(data("apple-mda-leaf-macos15.pem"));
    const exts = extensionsOf(leaf);
    expect(Buffer.from(extensionValue(exts, "1.2.840.113635.100.8.9.1")!).toString()).toBe("TMWFWWWP67");
    expect(Buffer.from(extensionValue(exts, "1.2.840.113635.100.8.9.2")!).toString()).toBe("00006030-000651690A84001C");
    expect(extensionValue(exts, "1.2.840.113635.100.8.11.1")).toHaveLength(32);
    expect(leaf.issuer).toContain("Apple Enterprise Attestation Sub CA 1");
    // Without its Sub CA the leaf cannot reach the root: an incomplete x5c fails.
    expect(verifyPath([leaf], [roots("apple-enterprise-attestation-root.pem")], Date.parse("2025-08-01"))).toBeUndefined();
  });

  it("chains a YubiKey 5.4.3 slot attestation to the Yubico PIV root through its F9 certificate and reads serial 15732500", () => {
    const slot = new X509Certificate(data("yubikey-5.4.3-slot9a-attestation.pem"));
    const f9 = new X509Certificate(data("yubikey-5.4.3-device-f9.pem"));
    const anchors = [roots("yubico-piv-root.pem"), roots("yubico-attestation-root-1.pem")];
    expect(verifyPath([slot, f9], anchors)?.anchor.subject).toContain("Yubico PIV Root CA Serial 263751");
    expect(verifyPath([slot], anchors)).toBeUndefined();
    expect(verifyPath([slot, f9], [roots("apple-enterprise-attestation-root.pem")])).toBeUndefined();
    expect(yubikeySerial(extensionValue(extensionsOf(slot), "1.3.6.1.4.1.41482.3.7"))).toBe("15732500");
  });

  it("accepts a real Nuvoton TPM AK certificate's shape and chains it to the Microsoft TPM root", () => {
    const ak = new X509Certificate(data("tpm-ak-nuvoton.der"));
    const inter = new X509Certificate(data("tpm-ak-intermediate-eus-ntc.der"));
    const at = Date.parse("2026-01-01");
    expect(verifyPath([ak, inter], [roots("ms-tpm-root-2014.pem")], at)?.anchor.subject).toContain("Microsoft TPM Root Certificate Authority 2014");
    expect(verifyPath([ak, inter], [roots("yubico-piv-root.pem")], at)).toBeUndefined();
    expect(checkAkCertificate(ak)).toEqual({ manufacturer: "id:4E544300", model: "NPCT75x", version: "id:00070002", permanentIds: [], hardwareModules: [] });
  });

  it("refuses an intermediate CA certificate as an AK certificate", () => {
    const inter = new X509Certificate(data("tpm-ak-intermediate-eus-ntc.der"));
    expect(() => checkAkCertificate(inter)).toThrow(/subject must be empty/);
  });
});
