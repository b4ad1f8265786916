import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseProfile } from "../../../src/policy/profile.js";
import type { AcmeClient, Identifier } from "../../helpers/acme-client.js";
import { tempDir } from "../../helpers/openssl.js";
import { WebhookReceiver } from "../../lifecycle/webhook-receiver.js";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "../setup.js";
import { independentPkis, type IndependentPkis } from "./independent.js";
import { answer, csrFor, opensslVerifies, otherNames, startOrder, type AttestEnv, type Started } from "./setup.js";

/**
 * draft-ietf-acme-device-attest §5 step 3: the order's identifier must be one the attestation carries.
 * Regression tests for three ways an identifier nobody proved was certified, with attestations made by
 * an independent generator (OpenSSL CLI certificates, TPM structures written from the specification).
 */
const TCG_TPM = "2.23.133.1.2";
const YUBICO = "1.3.6.1.4.1.41482.3";
const SECRET = "identity-hook-secret-0123456789";
const BAD = PROBLEM("badAttestationStatement");

function profile(name: string, roots: Record<string, string>, extra = ""): string {
  return `
name: ${name}
protocols: [acme]
keys: [{ type: ec }, { type: rsa, minBits: 2048 }]
subject: { commonName: firstSan, fixed: { O: Test Devices } }
names:
  # Wide on purpose: the attestation, not the name policy, must be what refuses an unproven assigner or hwType.
  permanentId: { patterns: ["[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"], assigners: ["1.2.3.4", "1.2.3.5", "${TCG_TPM}", "${YUBICO}"] }
  hardwareModule: { hwTypes: ["${YUBICO}", "${TCG_TPM}", "${TCG_TPM}.5"], patterns: ["[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"] }
  maxSans: 1
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [clientAuth]
attestation:
  formats: [apple, step, tpm]
  roots: { apple: [${roots.apple}], step: [${roots.step}], tpm: [${roots.tpm}] }
${extra}`;
}

let pkis: IndependentPkis;
let env: AcmeTestEnv;
let receiver: WebhookReceiver;
const a = { dir: "" } as Pick<AttestEnv, "dir">;

beforeAll(async () => {
  pkis = independentPkis();
  a.dir = tempDir("identity-binding-");
  const roots: Record<string, string> = {};
  for (const [f, pem] of [["apple", pkis.appleRootPem], ["step", pkis.yubicoRootPem], ["tpm", pkis.tpmRootPem]] as const) {
    roots[f] = join(a.dir, `${f}-root.pem`);
    writeFileSync(roots[f], pem);
  }
  receiver = await WebhookReceiver.start(SECRET);
  env = await acmeEnv(
    { endpoints: [{ name: "default" }, { name: "devices", defaultProfile: "bound" }], rateLimits: { perAddress: { perSecond: 1000, burst: 5000 } } },
    {
      bound: profile("bound", roots),
      delegated: profile("delegated", roots, `  unprovenIdentifier: authorizationWebhook
authorization:
  webhook: { url: "${receiver.url("/authorize/delegated")}", onError: deny, hmacSecret: "${SECRET}" }`),
    },
  );
});
afterAll(async () => {
  await env?.close();
  await receiver?.close();
});

const account = () => env.account({ endpoint: "devices" });
const ecKey = () => generateKeyPairSync("ec", { namedCurve: "P-256" });

/** Posts the attestation built for this order's challenge; returns the settled challenge and the audit event. */
async function attest(c: AcmeClient, id: Identifier, make: (s: Started) => string, prof?: string) {
  const s = await startOrder(c, id, prof);
  const ch = await answer(c, s, Buffer.from(make(s), "base64url"));
  const type = ch.status === "valid" ? "acme.authz.valid" : "acme.authz.invalid";
  const ev = (await env.t.gw.store.queryAudit({ type })).find((e) => e.target === s.authzUrl.split("/").pop());
  return { s, ch, ev };
}

async function refusedWith(c: AcmeClient, id: Identifier, make: (s: Started) => string, check: string, prof?: string) {
  const { ch, ev } = await attest(c, id, make, prof);
  expect(ch.status, JSON.stringify(ch)).toBe("invalid");
  expect(ch.error?.type).toBe(BAD);
  expect(ev?.data).toMatchObject({ code: "RA_ERR_BAD_ATTESTATION", check });
  return ch.error!.detail;
}

async function issued(c: AcmeClient, s: Started, key: ReturnType<typeof ecKey>) {
  const fin = await c.finalize(s.finalizeUrl, csrFor(a, key.privateKey));
  expect(fin.status, JSON.stringify(fin.json)).toBe(200);
  const order = await c.poll(s.orderUrl, (o) => o.status !== "processing");
  return order;
}

describe("device-attest-01: the identifier must be one the attestation proves", () => {
  it("tpm: an AK certificate naming permanentIdentifier X proves no hardware module, neither X nor another", async () => {
    const c = await account();
    const key = ecKey();
    const tpm = (s: Started) => pkis.tpm({ attested: key.publicKey, keyAuthorization: c.keyAuthorization(s.token), permanentIds: [{ value: "TPMDEV-0001" }] });
    expect(await refusedWith(c, { type: "hardware-module", value: `OTHER-TPM-9/${TCG_TPM}` }, tpm, "identifier")).toMatch(/TPMDEV-0001/);
    await refusedWith(c, { type: "hardware-module", value: `TPMDEV-0001/${TCG_TPM}` }, tpm, "identifier");
    // The identifier it does name is issued, in the form it was proven.
    const { s, ch } = await attest(c, { type: "permanent-identifier", value: "TPMDEV-0001" }, tpm);
    expect(ch.status).toBe("valid");
    const order = await issued(c, s, key);
    expect(order.status).toBe("valid");
    const pem = await c.downloadCertificate(order.certificate);
    expect(opensslVerifies({ dir: a.dir, env } as AttestEnv, pem)).toMatch(/OK/);
    expect(otherNames(new X509Certificate(pem)).map((o) => o.typeId)).toEqual(["1.3.6.1.5.5.7.8.3"]);
  });

  it("tpm: the reverse switch, an AK naming hardware module X proves no permanent identifier X", async () => {
    const c = await account();
    const key = ecKey();
    const tpm = (s: Started) => pkis.tpm({ attested: key.publicKey, keyAuthorization: c.keyAuthorization(s.token), hardwareModules: [{ serial: "HWDEV-77", hwType: TCG_TPM }] });
    await refusedWith(c, { type: "permanent-identifier", value: "HWDEV-77" }, tpm, "identifier");
    // Same serial, another hwType under the accepted arc: not what the AK certificate says.
    await refusedWith(c, { type: "hardware-module", value: `HWDEV-77/${TCG_TPM}.5` }, tpm, "identifier");
    const { s, ch } = await attest(c, { type: "hardware-module", value: `HWDEV-77/${TCG_TPM}` }, tpm);
    expect(ch.status).toBe("valid");
    expect((await issued(c, s, key)).status).toBe("valid");
  });

  it("tpm: a permanent identifier's assigner must be the one the AK certificate names", async () => {
    const c = await account();
    const key = ecKey();
    const tpm = (s: Started) => pkis.tpm({ attested: key.publicKey, keyAuthorization: c.keyAuthorization(s.token), permanentIds: [{ value: "EK-5", assigner: "1.2.3.4" }] });
    await refusedWith(c, { type: "permanent-identifier", value: "EK-5/1.2.3.5" }, tpm, "hw-type");
    expect((await attest(c, { type: "permanent-identifier", value: "EK-5/1.2.3.4" }, tpm)).ch.status).toBe("valid");
  });

  it("tpm: an AK certificate naming no device proves no identifier", async () => {
    const c = await account();
    const key = ecKey();
    const detail = await refusedWith(c, { type: "permanent-identifier", value: "ANY-DEVICE-42" },
      (s) => pkis.tpm({ attested: key.publicKey, keyAuthorization: c.keyAuthorization(s.token) }), "no-identifier");
    expect(detail).toMatch(/names no device/);
    await refusedWith(c, { type: "hardware-module", value: `ANY-DEVICE-43/${TCG_TPM}` },
      (s) => pkis.tpm({ attested: key.publicKey, keyAuthorization: c.keyAuthorization(s.token) }), "no-identifier");
  });

  it("step: a YubiKey serial is proven only under Yubico's hwType arc, never as a TPM", async () => {
    const c = await account();
    const key = ecKey();
    const yk = (s: Started) => pkis.yubikey({ privateKey: key.privateKey, keyAuthorization: c.keyAuthorization(s.token), serial: 30000004 });
    expect(await refusedWith(c, { type: "hardware-module", value: `30000004/${TCG_TPM}` }, yk, "hw-type")).toMatch(/2\.23\.133\.1\.2/);
    await refusedWith(c, { type: "permanent-identifier", value: `30000004/${TCG_TPM}` }, yk, "hw-type");
    await refusedWith(c, { type: "hardware-module", value: `30000005/${YUBICO}` }, yk, "identifier");
    const { s, ch } = await attest(c, { type: "hardware-module", value: `30000004/${YUBICO}` }, yk);
    expect(ch.status).toBe("valid");
    const order = await issued(c, s, key);
    const leaf = new X509Certificate(await c.downloadCertificate(order.certificate));
    expect(otherNames(leaf).map((o) => o.typeId)).toEqual(["1.3.6.1.5.5.7.8.4"]);
    expect((await attest(c, { type: "permanent-identifier", value: "30000004" }, yk)).ch.status).toBe("valid");
  });

  it("apple: proves permanent identifiers only, and an attestation without serial and UDID proves none", async () => {
    const c = await account();
    const key = ecKey();
    await refusedWith(c, { type: "hardware-module", value: `C02XYZ/${TCG_TPM}` }, (s) => pkis.apple({ publicKey: key.publicKey, token: s.token, serial: "C02XYZ" }), "hw-type");
    await refusedWith(c, { type: "permanent-identifier", value: "C02XYZ" }, (s) => pkis.apple({ publicKey: key.publicKey, token: s.token }), "no-identifier");
    await refusedWith(c, { type: "permanent-identifier", value: "C02OTHER" }, (s) => pkis.apple({ publicKey: key.publicKey, token: s.token, serial: "C02XYZ", udid: "0000-UDID" }), "identifier");
    expect((await attest(c, { type: "permanent-identifier", value: "0000-UDID" }, (s) => pkis.apple({ publicKey: key.publicKey, token: s.token, serial: "C02XYZ", udid: "0000-UDID" }))).ch.status).toBe("valid");
  });
});

describe("a profile that delegates unproven identities to its authorization webhook", () => {
  it("an AK naming no device passes to the webhook, which is told the identity is unproven and decides", async () => {
    const c = await account();
    const key = ecKey();
    const tpm = (s: Started) => pkis.tpm({ attested: key.publicKey, keyAuthorization: c.keyAuthorization(s.token) });
    receiver.reply = () => ({ json: { decision: "deny", reason: "device unknown to the MDM" } });
    const denied = await attest(c, { type: "permanent-identifier", value: "MDM-DEV-1" }, tpm, "delegated");
    expect(denied.ch.status).toBe("valid");
    expect(denied.ev?.data).toMatchObject({ identity: "delegated", identityDecidedBy: "authorization webhook" });
    const fin = await c.finalize(denied.s.finalizeUrl, csrFor(a, key.privateKey));
    expect(fin.status).toBe(403);
    expect(receiver.calls.at(-1)?.body.attestation).toMatchObject({ identifier: { value: "MDM-DEV-1" }, identityProven: false });

    receiver.reply = () => ({ json: { decision: "allow" } });
    const allowed = await attest(c, { type: "permanent-identifier", value: "MDM-DEV-2" }, tpm, "delegated");
    const order = await issued(c, allowed.s, key);
    expect(order.status).toBe("valid");
    const serial = new X509Certificate(await c.downloadCertificate(order.certificate)).serialNumber.toLowerCase();
    const accepted = (await env.t.gw.store.queryAudit({ type: "request.accepted" })).find((e) => (e.data.attestation as { identifier?: { value: string } } | undefined)?.identifier?.value === "MDM-DEV-2");
    expect(accepted?.data.attestation).toMatchObject({ identity: "delegated", identityDecidedBy: "authorization webhook" });
    expect(serial).toMatch(/^[0-9a-f]+$/);
  });

  it("delegation covers only attestations that name no device: one naming another device is still refused", async () => {
    const c = await account();
    const key = ecKey();
    await refusedWith(c, { type: "permanent-identifier", value: "MDM-DEV-3" },
      (s) => pkis.tpm({ attested: key.publicKey, keyAuthorization: c.keyAuthorization(s.token), permanentIds: [{ value: "REAL-DEV" }] }), "identifier", "delegated");
  });
});

describe("profile checks at start", () => {
  const base = (extra: string, auth = "") => ({
    name: "p", protocols: ["acme"], keys: [{ type: "ec" }], subject: { commonName: "firstSan" },
    names: { permanentId: { patterns: [".*"] }, hardwareModule: { hwTypes: [TCG_TPM], patterns: [".*"] } },
    validity: { default: "30d", max: "90d" }, keyUsage: ["digitalSignature"],
    attestation: { formats: ["tpm", "step"], roots: { tpm: ["r.pem"], step: ["r.pem"] }, ...JSON.parse(extra) },
    ...(auth ? JSON.parse(auth) : {}),
  });
  const hook = (onError: string) => JSON.stringify({ authorization: { webhook: { url: "https://mdm.example/authorize", onError } } });

  it("delegation needs an authorization webhook that fails closed", () => {
    expect(() => parseProfile(base('{"unprovenIdentifier":"authorizationWebhook"}'), "p.yaml")).toThrow(/needs authorization.webhook with onError: deny/);
    expect(() => parseProfile(base('{"unprovenIdentifier":"authorizationWebhook"}', hook("allow")), "p.yaml")).toThrow(/onError: deny/);
    expect(parseProfile(base('{"unprovenIdentifier":"authorizationWebhook"}', hook("deny")), "p.yaml").attestation?.unprovenIdentifier).toBe("authorizationWebhook");
    expect(parseProfile(base("{}"), "p.yaml").attestation?.unprovenIdentifier).toBe("refuse");
  });

  it("a hwType written into certificates must be one every accepted format proves", () => {
    expect(() => parseProfile(base(`{"san":"hardwareModuleName","hwType":"${TCG_TPM}"}`), "p.yaml")).toThrow(/not a hardware type step attestations prove/);
    const ok = parseProfile(base(`{"san":"hardwareModuleName","hwType":"${TCG_TPM}","hwTypes":{"step":["${TCG_TPM}"]}}`), "p.yaml");
    expect(ok.attestation?.hwTypes.step).toEqual([TCG_TPM]);
  });
});
