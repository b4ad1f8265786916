import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derSequence, derTlv } from "../../../src/asn1/der-encode.js";
import { oidDer } from "../../../src/asn1/der-values.js";
import { openssl } from "../../helpers/openssl.js";
import { answer, attestEnv, csrFor, ecKey, finish, opensslVerifies, otherNames, pub, rsaKey, startOrder, YUBIKEY_HW, type AttestEnv } from "./setup.js";

/** The whole ACME flow for each attestation format: newOrder → device-attest-01 → finalize → certificate. */
const PERMANENT_ID = "1.3.6.1.5.5.7.8.3";
const HARDWARE_MODULE = "1.3.6.1.5.5.7.8.4";
const permanentIdDer = (v: string) => Buffer.from(derSequence(derTlv(0x0c, Buffer.from(v))));
const hardwareModuleDer = (serial: string, hwType: string) => Buffer.from(derSequence(oidDer(hwType), derTlv(0x04, Buffer.from(serial))));

let a: AttestEnv;
beforeAll(async () => {
  a = await attestEnv();
});
afterAll(async () => a?.close());

describe("device-attest-01", () => {
  it("apple: a UDID attested by an MDA chain gets a certificate for the attested key with a permanentIdentifier SAN", async () => {
    const c = await a.account();
    const udid = "00008030-001A2B3C4D5E802E";
    const s = await startOrder(c, { type: "permanent-identifier", value: udid });
    const key = ecKey("P-384");
    const ch = await answer(c, s, a.pkis.apple.attObj({ publicKey: pub(key), token: s.token, serial: "C02XYZ123ABC", udid }));
    expect(ch.status).toBe("valid");
    const { leaf, pem } = await finish(c, s, csrFor(a, key));
    expect(leaf.publicKey.export({ type: "spki", format: "der" })).toEqual(pub(key).export({ type: "spki", format: "der" }));
    expect(otherNames(leaf)).toEqual([{ typeId: PERMANENT_ID, value: permanentIdDer(udid) }]);
    expect(leaf.subject).toContain(`CN=${udid}`);
    expect(opensslVerifies(a, pem)).toContain(": OK");
    // OpenSSL reads the SAN back as a permanentIdentifier otherName.
    const file = join(a.dir, "apple-leaf.pem");
    writeFileSync(file, pem);
    expect(openssl(["x509", "-in", file, "-noout", "-ext", "subjectAltName"])).toMatch(/othername/i);
    const audit = (await a.env.t.gw.store.queryAudit({ type: "acme.authz.valid" })).find((e) => (e.data.identifier as { value: string }).value === udid);
    expect(audit?.data).toMatchObject({ challenge: "device-attest-01", format: "apple", facts: { udid, serialNumber: "C02XYZ123ABC" } });
    const accepted = (await a.env.t.gw.store.queryAudit({ type: "request.accepted" })).at(-1);
    expect(accepted?.data).toMatchObject({ attestation: { format: "apple", identifier: { type: "permanent-identifier", value: udid } } });
  });

  it("apple: the serial number identifies the device too, and a CSR naming the device exactly is accepted", async () => {
    const c = await a.account();
    const s = await startOrder(c, { type: "permanent-identifier", value: "C02SERIAL0001" });
    const key = ecKey();
    expect((await answer(c, s, a.pkis.apple.attObj({ publicKey: pub(key), token: s.token, serial: "C02SERIAL0001", udid: "00008030-000000000001" }))).status).toBe("valid");
    const { leaf } = await finish(c, s, csrFor(a, key, { subject: "/CN=C02SERIAL0001" }));
    expect(otherNames(leaf)).toEqual([{ typeId: PERMANENT_ID, value: permanentIdDer("C02SERIAL0001") }]);
  });

  it("step: a YubiKey serial attested by a PIV slot certificate, with ES256, RS256 and as a hardware-module identifier", async () => {
    for (const [key, alg] of [[ecKey(), -7], [rsaKey(), -257]] as const) {
      const c = await a.account();
      const s = await startOrder(c, { type: "permanent-identifier", value: "15732500" });
      const ch = await answer(c, s, a.pkis.yubico.attObj({ privateKey: key, keyAuthorization: c.keyAuthorization(s.token), serial: 15732500, alg }));
      expect(ch.status, JSON.stringify(ch.error)).toBe("valid");
      const { leaf, pem } = await finish(c, s, csrFor(a, key));
      expect(otherNames(leaf)).toEqual([{ typeId: PERMANENT_ID, value: permanentIdDer("15732500") }]);
      expect(opensslVerifies(a, pem)).toContain(": OK");
    }
    const c = await a.account();
    const s = await startOrder(c, { type: "hardware-module", value: `15732501/${YUBIKEY_HW}` });
    const key = ecKey();
    expect((await answer(c, s, a.pkis.yubico.attObj({ privateKey: key, keyAuthorization: c.keyAuthorization(s.token), serial: 15732501 }))).status).toBe("valid");
    const { leaf } = await finish(c, s, csrFor(a, key));
    expect(otherNames(leaf)).toEqual([{ typeId: HARDWARE_MODULE, value: hardwareModuleDer("15732501", YUBIKEY_HW) }]);
  });

  it("step: a CSR that names the device in a permanentIdentifier otherName, as the step CLI does, is accepted", async () => {
    const c = await a.account();
    const s = await startOrder(c, { type: "permanent-identifier", value: "15732510" });
    const key = ecKey();
    expect((await answer(c, s, a.pkis.yubico.attObj({ privateKey: key, keyAuthorization: c.keyAuthorization(s.token), serial: 15732510 }))).status).toBe("valid");
    const config = join(a.dir, "pid.cnf");
    writeFileSync(config, "[req]\ndistinguished_name=dn\n[dn]\n[pid]\nidentifierValue=UTF8:15732510\n");
    const csr = csrFor(a, key, { subject: "/CN=15732510", sans: ["otherName:1.3.6.1.5.5.7.8.3;SEQUENCE:pid"], config });
    const { leaf } = await finish(c, s, csr);
    expect(otherNames(leaf)).toEqual([{ typeId: PERMANENT_ID, value: permanentIdDer("15732510") }]);
  });

  it("step: a profile can carry a permanent identifier as a hardwareModuleName", async () => {
    const c = await a.account();
    const s = await startOrder(c, { type: "permanent-identifier", value: "15732502" }, "attested-hwname");
    const key = ecKey();
    expect((await answer(c, s, a.pkis.yubico.attObj({ privateKey: key, keyAuthorization: c.keyAuthorization(s.token), serial: 15732502 }))).status).toBe("valid");
    const { leaf } = await finish(c, s, csrFor(a, key));
    expect(otherNames(leaf)).toEqual([{ typeId: HARDWARE_MODULE, value: hardwareModuleDer("15732502", YUBIKEY_HW) }]);
  });

  it("step: an Ed25519 YubiKey attestation validates, and the profile's key rules still decide at finalize", async () => {
    const c = await a.account();
    const s = await startOrder(c, { type: "permanent-identifier", value: "15732503" });
    const { privateKey } = (await import("node:crypto")).generateKeyPairSync("ed25519");
    expect((await answer(c, s, a.pkis.yubico.attObj({ privateKey, keyAuthorization: c.keyAuthorization(s.token), serial: 15732503, alg: -8 }))).status).toBe("valid");
    const fin = await c.finalize(s.finalizeUrl, csrFor(a, privateKey));
    expect(fin.json.type).toBe("urn:ietf:params:acme:error:badPublicKey");
  });

  it("tpm: RSA AK (RS256 raw, RS1 as TPMT_SIGNATURE) and EC AK (ES256), attested RSA and EC keys, AK permanent identifier matched", async () => {
    const cases = [
      { key: rsaKey(), o: { akAlg: "rsa", alg: -257, sigForm: "raw" } },
      { key: ecKey(), o: { akAlg: "rsa", alg: -65535, sigForm: "tpmt" } },
      { key: ecKey(), o: { akAlg: "ec", alg: -7, sigForm: "tpmt" } },
    ] as const;
    for (const [i, { key, o }] of cases.entries()) {
      const c = await a.account();
      const id = `TPM-EK-${i}`;
      const s = await startOrder(c, { type: "permanent-identifier", value: id });
      const ch = await answer(c, s, a.pkis.tpm.attObj({ publicKey: pub(key), keyAuthorization: c.keyAuthorization(s.token), permanentIdentifier: { value: id }, ...o }));
      expect(ch.status, JSON.stringify(ch.error)).toBe("valid");
      const { leaf, pem } = await finish(c, s, csrFor(a, key));
      expect(otherNames(leaf)).toEqual([{ typeId: PERMANENT_ID, value: permanentIdDer(id) }]);
      expect(opensslVerifies(a, pem)).toContain(": OK");
    }
  });

  it("tpm: an AK certificate without a device identifier proves none: the challenge is invalid and nothing is issued", async () => {
    const c = await a.account();
    const s = await startOrder(c, { type: "permanent-identifier", value: "host-7f3a" });
    const key = rsaKey();
    const ch = await answer(c, s, a.pkis.tpm.attObj({ publicKey: pub(key), keyAuthorization: c.keyAuthorization(s.token) }));
    expect(ch.status).toBe("invalid");
    expect(ch.error?.detail).toMatch(/names no device/);
    expect((await c.finalize(s.finalizeUrl, csrFor(a, key))).status).toBe(403);
  });
});
