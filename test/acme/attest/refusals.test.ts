import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode, encode } from "cborg";
import type { AcmeClient } from "../../helpers/acme-client.js";
import { PROBLEM } from "../setup.js";
import { createAttestationPkis, rawAttObj, type AttestationPkis } from "./fixtures.js";
import { answer, attestEnv, csrFor, ecKey, pub, startOrder, YUBIKEY_HW, type AttestEnv, type Started } from "./setup.js";

/** Every failure makes the challenge invalid with badAttestationStatement and audits the format and the failing check. */
let a: AttestEnv;
let foreign: AttestationPkis;
beforeAll(async () => {
  a = await attestEnv();
  foreign = await createAttestationPkis();
});
afterAll(async () => a?.close());

const BAD = PROBLEM("badAttestationStatement");

/** The same attestation object with some attStmt fields replaced. */
function restate(attObj: Uint8Array, fields: Record<string, unknown>): Uint8Array {
  const top = decode(attObj, { useMaps: true }) as Map<string, Map<string, unknown>>;
  for (const [k, v] of Object.entries(fields)) top.get("attStmt")!.set(k, v);
  return encode(top);
}
let n = 0;
const id = () => `DEV${(++n).toString().padStart(4, "0")}`;

/** A fresh order for a fresh device; `make` builds the attestation; the challenge must end invalid. */
async function refused(make: (c: AcmeClient, s: Started, device: string) => Uint8Array, check: string, format: string, profile?: string): Promise<string> {
  const c = await a.account();
  const device = id();
  const s = await startOrder(c, { type: "permanent-identifier", value: device }, profile);
  const ch = await answer(c, s, make(c, s, device));
  expect(ch.status).toBe("invalid");
  expect(ch.error?.type).toBe(BAD);
  expect((await c.post(s.authzUrl, "")).json.status).toBe("invalid");
  const ev = (await a.env.t.gw.store.queryAudit({ type: "acme.authz.invalid" })).find((e) => (e.data.identifier as { value: string }).value === device);
  expect(ev?.data).toMatchObject({ challenge: "device-attest-01", code: "RA_ERR_BAD_ATTESTATION", format, check });
  return ch.error!.detail;
}

describe("device-attest-01 refusals", () => {
  it("apple: wrong nonce, no nonce, nonce over the key authorization instead of the token", async () => {
    const key = pub(ecKey());
    expect(await refused((_, s, d) => a.pkis.apple.attObj({ publicKey: key, token: s.token, udid: d, nonce: Buffer.alloc(32, 7) }), "nonce", "apple")).toMatch(/nonce/);
    expect(await refused((_, s, d) => a.pkis.apple.attObj({ publicKey: key, token: s.token, udid: d, nonce: "absent" }), "nonce", "apple")).toMatch(/no freshness nonce/);
    await refused((c, s, d) => a.pkis.apple.attObj({ publicKey: key, token: c.keyAuthorization(s.token), udid: d }), "nonce", "apple");
  });

  it("apple: identifier matching neither serial nor UDID; chain to an untrusted root; expired leaf", async () => {
    const key = pub(ecKey());
    expect(await refused((_, s) => a.pkis.apple.attObj({ publicKey: key, token: s.token, serial: "OTHER", udid: "00000000-OTHER" }), "identifier", "apple")).toMatch(/not a device identifier this attestation proves/);
    await refused((_, s, d) => foreign.apple.attObj({ publicKey: key, token: s.token, udid: d }), "chain", "apple");
    await refused((_, s, d) => a.pkis.apple.attObj({ publicKey: key, token: s.token, udid: d, expired: true }), "chain", "apple");
  });

  it("step: tampered sig, alg not matching the key, serial not matching, untrusted root, no serial", async () => {
    const key = ecKey();
    const serial = (d: string) => Number(d.slice(3)) + 1_000_000;
    const yk = (c: AcmeClient, s: Started, d: string, o = {}) => a.pkis.yubico.attObj({ privateKey: key, keyAuthorization: c.keyAuthorization(s.token), serial: serial(d), ...o });
    // The identifier here is DEVnnnn while the key says a number: give the step cases numeric devices.
    const stepRefused = async (make: (c: AcmeClient, s: Started, device: string) => Uint8Array, check: string) => {
      const c = await a.account();
      const device = String(serial(id()));
      const s = await startOrder(c, { type: "permanent-identifier", value: device });
      const ch = await answer(c, s, make(c, s, `DEV${Number(device) - 1_000_000}`));
      expect(ch.error?.type).toBe(BAD);
      const ev = (await a.env.t.gw.store.queryAudit({ type: "acme.authz.invalid" })).find((e) => (e.data.identifier as { value: string }).value === device);
      expect(ev?.data).toMatchObject({ format: "step", check });
    };
    await stepRefused((c, s, d) => yk(c, s, d, { tamperSig: true }), "signature");
    await stepRefused((c, s, d) => yk(c, s, d, { alg: -257 }), "alg");
    await stepRefused((c, s, d) => a.pkis.yubico.attObj({ privateKey: key, keyAuthorization: c.keyAuthorization(s.token), serial: 1 + serial(d) }), "identifier");
    await stepRefused((c, s, d) => foreign.yubico.attObj({ privateKey: key, keyAuthorization: c.keyAuthorization(s.token), serial: serial(d) }), "chain");
    await stepRefused((c, s, d) => yk(c, s, d, { omitSerial: true }), "no-identifier");
    // The signature binds the key authorization: one made for another account's thumbprint fails.
    await stepRefused((_, s, d) => a.pkis.yubico.attObj({ privateKey: key, keyAuthorization: `${s.token}.someoneelse`, serial: serial(d) }), "signature");
  });

  it("tpm: every certInfo check, the AK certificate shape, the AK's permanent identifier, untrusted root", async () => {
    const key = pub(ecKey());
    const tpm = (o: object) => (c: AcmeClient, s: Started) => a.pkis.tpm.attObj({ publicKey: key, keyAuthorization: c.keyAuthorization(s.token), ...o });
    await refused(tpm({ tamperCertInfo: "magic" }), "cert-info", "tpm");
    await refused(tpm({ tamperCertInfo: "type" }), "cert-info", "tpm");
    await refused(tpm({ tamperCertInfo: "extraData" }), "key-authorization", "tpm");
    await refused(tpm({ tamperCertInfo: "name" }), "pub-area", "tpm");
    for (const akShape of ["subject", "ca", "noEku", "noSan"]) await refused(tpm({ akShape }), "ak-certificate", "tpm");
    await refused(tpm({ permanentIdentifier: { value: "SOMEONE-ELSE" } }), "identifier", "tpm");
    await refused((c, s) => foreign.tpm.attObj({ publicKey: key, keyAuthorization: c.keyAuthorization(s.token) }), "chain", "tpm");
    await refused((c, s) => restate(tpm({})(c, s), { alg: -7 }), "alg", "tpm");
    await refused((c, s) => restate(tpm({})(c, s), { ver: "1.2" }), "version", "tpm");
    await refused((c, s) => restate(tpm({})(c, s), { pubArea: Buffer.from([0, 1, 0]) }), "structure", "tpm");
  });

  it("malformed objects: truncated CBOR, not a map, deep nesting, unknown fmt, format the profile does not accept, missing fields", async () => {
    const key = pub(ecKey());
    await refused((_, s, d) => a.pkis.apple.attObj({ publicKey: key, token: s.token, udid: d }).subarray(0, 300), "cbor", "none");
    await refused(() => encode(["fmt", "apple"]), "structure", "none");
    await refused(() => Buffer.concat([Buffer.alloc(20_000, 0x81), Buffer.from([0])]), "cbor", "none");
    await refused(() => rawAttObj("packed", new Map([["alg", -7]])), "format", "packed");
    await refused(() => rawAttObj("tpm", new Map([["ver", "2.0"]])), "structure", "tpm");
    await refused((c, s) => a.pkis.yubico.attObj({ privateKey: ecKey(), keyAuthorization: c.keyAuthorization(s.token), serial: 5 }), "format", "step", "attested-apple");
  });

  it("an attestation replayed on a second challenge is refused", async () => {
    const c = await a.account();
    const key = ecKey();
    const first = await startOrder(c, { type: "permanent-identifier", value: "REPLAYED01" });
    const attObj = a.pkis.apple.attObj({ publicKey: pub(key), token: first.token, udid: "REPLAYED01" });
    expect((await answer(c, first, attObj)).status).toBe("valid");
    const second = await startOrder(c, { type: "permanent-identifier", value: "REPLAYED01" });
    expect(second.authzUrl).not.toBe(first.authzUrl); // device authorizations are never reused
    const ch = await answer(c, second, attObj);
    expect(ch.status).toBe("invalid");
    expect(ch.error?.type).toBe(BAD);
  });

  it("finalize: a CSR for another key than the attested one, or naming something else, fails the order", async () => {
    for (const [csrKey, sans, type] of [[ecKey(), undefined, BAD], [undefined, ["DNS:evil.example.com"], PROBLEM("badCSR")]] as const) {
      const c = await a.account();
      const key = ecKey();
      const device = id();
      const s = await startOrder(c, { type: "permanent-identifier", value: device });
      expect((await answer(c, s, a.pkis.apple.attObj({ publicKey: pub(key), token: s.token, udid: device }))).status).toBe("valid");
      const fin = await c.finalize(s.finalizeUrl, csrFor(a, csrKey ?? key, { sans: sans ? [...sans] : undefined }));
      expect(fin.status).toBe(400);
      expect(fin.json.type).toBe(type);
      expect((await c.post(s.orderUrl, "")).json.status).toBe("invalid");
    }
  });

  it("a CSR whose common name is not the device is refused", async () => {
    const c = await a.account();
    const key = ecKey();
    const s = await startOrder(c, { type: "permanent-identifier", value: "CNCHECK01" });
    expect((await answer(c, s, a.pkis.apple.attObj({ publicKey: pub(key), token: s.token, udid: "CNCHECK01" }))).status).toBe("valid");
    const fin = await c.finalize(s.finalizeUrl, csrFor(a, key, { subject: "/CN=admin.example.com" }));
    expect(fin.json.type).toBe(PROBLEM("badCSR"));
  });

  it("a missing attObj is malformed and leaves the challenge pending", async () => {
    const c = await a.account();
    const s = await startOrder(c, { type: "permanent-identifier", value: id() });
    const res = await c.post(s.challengeUrl, {});
    expect(res.json.type).toBe(PROBLEM("malformed"));
    expect((await c.post(s.challengeUrl, "")).json.status).toBe("pending");
  });
});

describe("device identifiers in newOrder", () => {
  it("malformed values are malformed; other profiles do not take them; an attested profile takes one device and nothing else", async () => {
    const c = await a.account();
    const order = (identifiers: Array<{ type: string; value: string }>, profile?: string) => c.post(c.directory.newOrder, { identifiers, ...(profile ? { profile } : {}) });
    for (const bad of [{ type: "hardware-module", value: "12345" }, { type: "hardware-module", value: "12345/not-an-oid" }, { type: "permanent-identifier", value: "a\u0000b" }, { type: "permanent-identifier", value: "" }]) {
      expect((await order([bad])).json.type, JSON.stringify(bad)).toBe(PROBLEM("malformed"));
    }
    const dflt = await a.env.account();
    expect((await dflt.newOrder([{ type: "permanent-identifier", value: "ABC" }])).json.type).toBe(PROBLEM("unsupportedIdentifier"));
    expect((await order([{ type: "dns", value: "www.example.com" }])).json.type).toBe(PROBLEM("rejectedIdentifier"));
    expect((await order([{ type: "permanent-identifier", value: "A1" }, { type: "permanent-identifier", value: "A2" }])).json.type).toBe(PROBLEM("rejectedIdentifier"));
    const hw = await order([{ type: "hardware-module", value: "123/1.2.3.4" }]);
    expect(hw.json.type).toBe(PROBLEM("rejectedIdentifier"));
    expect(hw.json.subproblems[0].identifier).toEqual({ type: "hardware-module", value: "123/1.2.3.4" });
    expect((await order([{ type: "hardware-module", value: `123/${YUBIKEY_HW}` }])).status).toBe(201);
  });
});
