import { createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, SubjectAlternativeName } from "@peculiar/asn1-x509";
import { expect } from "vitest";
import type { AcmeClient, Identifier } from "../../helpers/acme-client.js";
import { makeCsr, openssl, tempDir } from "../../helpers/openssl.js";
import { acmeEnv, type AcmeTestEnv } from "../setup.js";
import { createAttestationPkis, type AttestationPkis } from "./fixtures.js";

export const YUBIKEY_HW = "1.3.6.1.4.1.41482.3";

/** A profile accepting attestations under the test roots; `extra` lines go under `attestation:`. */
function profile(name: string, formats: string[], roots: Record<string, string>, extra = ""): string {
  return `
name: ${name}
protocols: [acme]
keys: [{ type: ec }, { type: rsa, minBits: 2048 }]
subject: { commonName: firstSan, fixed: { O: Test Devices } }
names:
  permanentId: { patterns: ["[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"] }
  hardwareModule: { hwTypes: ["${YUBIKEY_HW}"], patterns: ["[0-9]{1,12}"] }
  maxSans: 1
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [clientAuth]
attestation:
  formats: [${formats.join(", ")}]
  roots: { ${formats.map((f) => `${f}: [${roots[f]}]`).join(", ")} }
${extra}`;
}

export interface AttestEnv {
  env: AcmeTestEnv;
  pkis: AttestationPkis;
  dir: string;
  /** A fresh account on the `devices` endpoint (default profile `attested`). */
  account(): Promise<AcmeClient>;
  close(): Promise<void>;
}

/**
 * A gateway whose `devices` ACME endpoint issues under the `attested` profile, trusting test roots
 * with the structure of Apple's, Yubico's and Microsoft's TPM roots; plus narrower profiles.
 */
export async function attestEnv(): Promise<AttestEnv> {
  const pkis = await createAttestationPkis();
  const dir = tempDir("attest-");
  const roots: Record<string, string> = {};
  for (const [f, pki] of [["apple", pkis.apple], ["step", pkis.yubico], ["tpm", pkis.tpm]] as const) {
    roots[f] = join(dir, `${f}-root.pem`);
    writeFileSync(roots[f], pki.rootPem);
  }
  const env = await acmeEnv(
    // Many short orders from one address: the per-address limit is not what these tests are about.
    { endpoints: [{ name: "default" }, { name: "devices", defaultProfile: "attested" }], rateLimits: { perAddress: { perSecond: 1000, burst: 5000 } } },
    {
      attested: profile("attested", ["apple", "step", "tpm"], roots),
      "attested-hwname": profile("attested-hwname", ["step"], roots, `  san: hardwareModuleName\n  hwType: "${YUBIKEY_HW}"`),
      "attested-apple": profile("attested-apple", ["apple"], roots),
    },
  );
  return { env, pkis, dir, account: () => env.account({ endpoint: "devices" }), close: () => env.close() };
}

export const ecKey = (curve = "P-256") => generateKeyPairSync("ec", { namedCurve: curve }).privateKey;
export const rsaKey = () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
export const pub = (k: KeyObject) => createPublicKey(k);

/** A PKCS#10 by OpenSSL for `key`: subject and SANs as given (none by default, as Apple's MDM client may send). */
export function csrFor(a: Pick<AttestEnv, "dir">, key: KeyObject, o: { subject?: string; sans?: string[]; config?: string } = {}): Uint8Array {
  const name = `k${Math.random().toString(36).slice(2)}`;
  const keyPath = join(a.dir, `${name}.key`);
  writeFileSync(keyPath, key.export({ type: "pkcs8", format: "pem" }));
  return makeCsr(a.dir, name, { keyPath, subject: o.subject ?? "/O=Device", sans: o.sans, config: o.config }).der;
}

export interface Started {
  orderUrl: string;
  finalizeUrl: string;
  authzUrl: string;
  challengeUrl: string;
  token: string;
}

/** newOrder for one device identifier; the authorization must offer device-attest-01 alone. */
export async function startOrder(c: AcmeClient, identifier: Identifier, profile?: string): Promise<Started> {
  const res = await c.newOrder([identifier], profile ? { profile } : {});
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  const authzUrl = res.json.authorizations[0] as string;
  const authz = (await c.post(authzUrl, "")).json;
  expect(authz.identifier).toEqual(identifier);
  expect(authz.challenges.map((x: { type: string }) => x.type)).toEqual(["device-attest-01"]);
  const ch = authz.challenges[0];
  return { orderUrl: res.location!, finalizeUrl: res.json.finalize, authzUrl, challengeUrl: ch.url, token: ch.token };
}

/** Posts the attestation; returns the challenge as the server settled it. */
export async function answer(c: AcmeClient, s: Started, attObj: Uint8Array): Promise<{ status: string; error?: { type: string; detail: string } }> {
  const res = await c.post(s.challengeUrl, { attObj: Buffer.from(attObj).toString("base64url") });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return (await c.post(s.challengeUrl, "")).json;
}

/** Finalizes and downloads; returns the leaf. */
export async function finish(c: AcmeClient, s: Started, csr: Uint8Array): Promise<{ leaf: X509Certificate; pem: string }> {
  const fin = await c.finalize(s.finalizeUrl, csr);
  expect(fin.status, JSON.stringify(fin.json)).toBe(200);
  const order = await c.poll(s.orderUrl, (o) => o.status !== "processing");
  expect(order.status).toBe("valid");
  const pem = await c.downloadCertificate(order.certificate);
  return { leaf: new X509Certificate(pem), pem };
}

/** The otherName SANs of a certificate as [type OID, value DER hex]. */
export function otherNames(cert: X509Certificate): Array<{ typeId: string; value: Buffer }> {
  const ext = AsnConvert.parse(cert.raw, Certificate).tbsCertificate.extensions?.find((e) => e.extnID === "2.5.29.17");
  if (!ext) return [];
  return AsnConvert.parse(ext.extnValue, SubjectAlternativeName).flatMap((g) => (g.otherName ? [{ typeId: g.otherName.typeId, value: Buffer.from(g.otherName.value) }] : []));
}

/** `openssl verify` of the downloaded chain against the gateway's root. */
export function opensslVerifies(a: AttestEnv, pem: string): string {
  const chain = join(a.dir, `chain-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(chain, pem);
  const root = join(a.dir, "gw-root.pem");
  writeFileSync(root, a.env.rootPem);
  return openssl(["verify", "-CAfile", root, "-untrusted", chain, chain]);
}
