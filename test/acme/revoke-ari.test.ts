import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serialHex } from "../../src/ca/serial.js";
import { AcmeClient } from "../helpers/acme-client.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "./setup.js";

let env: AcmeTestEnv;
let dir: string;
beforeAll(async () => {
  env = await acmeEnv({ ariExplanationUrl: "https://example.com/why-renew" });
  dir = tempDir();
});
afterAll(async () => env?.close());

/** Orders and obtains a certificate for `name` over real http-01; returns its leaf and key file. */
async function obtain(c: AcmeClient, name: string, extra: Record<string, string> = {}) {
  const order = await c.newOrder([{ type: "dns", value: name }], extra);
  if (order.status !== 201) throw new Error(JSON.stringify(order.json));
  for (const url of order.json.authorizations) {
    const a = (await c.post(url, "")).json;
    if (a.status === "valid") continue;
    const ch = a.challenges.find((x: { type: string }) => x.type === "http-01");
    env.http01.answers.set(ch.token, c.keyAuthorization(ch.token));
    await c.post(ch.url, {});
    await c.poll(url, (x) => x.status !== "pending");
  }
  const csr = makeCsr(dir, name, { sans: [`DNS:${name}`] });
  const fin = await c.finalize(order.json.finalize, csr.der);
  const pem = await c.downloadCertificate(fin.json.certificate);
  const leaf = new X509Certificate(pem);
  return { leaf, keyPath: csr.keyPath, serial: serialHex(Buffer.from(leaf.serialNumber, "hex")), order: fin.json };
}

function certId(leaf: X509Certificate): string {
  const aki = env.t.gw.cas.issuing[0].keyId;
  return `${Buffer.from(aki).toString("base64url")}.${Buffer.from(leaf.serialNumber.length % 2 ? `0${leaf.serialNumber}` : leaf.serialNumber, "hex").toString("base64url")}`;
}

describe("ACME revokeCert", () => {
  it("the ordering account revokes; a second revocation is alreadyRevoked; bad reasons are refused", async () => {
    const c = await env.account();
    const { leaf, serial } = await obtain(c, "rev1.example.com");
    const bad = await c.post(c.directory.revokeCert, { certificate: Buffer.from(leaf.raw).toString("base64url"), reason: 6 });
    expect(bad.json.type).toBe(PROBLEM("badRevocationReason"));
    const ok = await c.post(c.directory.revokeCert, { certificate: Buffer.from(leaf.raw).toString("base64url"), reason: 4 });
    expect(ok.status).toBe(200);
    expect((await env.t.gw.store.getCertificate(serial))).toMatchObject({ revocationReason: 4 });
    const twice = await c.post(c.directory.revokeCert, { certificate: Buffer.from(leaf.raw).toString("base64url") });
    expect(twice.json.type).toBe(PROBLEM("alreadyRevoked"));
  });

  it("another account may revoke only when it holds authorizations for every name", async () => {
    const owner = await env.account();
    const { leaf, serial } = await obtain(owner, "rev2.example.com");
    const stranger = await env.account();
    const denied = await stranger.post(stranger.directory.revokeCert, { certificate: Buffer.from(leaf.raw).toString("base64url") });
    expect(denied.json.type).toBe(PROBLEM("unauthorized"));
    await obtain(stranger, "rev2.example.com"); // now it controls the name too
    const allowed = await stranger.post(stranger.directory.revokeCert, { certificate: Buffer.from(leaf.raw).toString("base64url"), reason: 1 });
    expect(allowed.status).toBe(200);
    expect((await env.t.gw.store.getCertificate(serial))?.revokedAt).toBeTruthy();
  });

  it("the certificate's own key revokes with a jwk-signed request", async () => {
    const c = await env.account();
    const { leaf, keyPath, serial } = await obtain(c, "rev3.example.com");
    const { readFileSync } = await import("node:fs");
    const { createPrivateKey } = await import("node:crypto");
    const certKey = await AcmeClient.create({ directoryUrl: env.directory(), caPem: env.rootPem, key: createPrivateKey(readFileSync(keyPath)), alg: "ES256" });
    const wrongKey = await AcmeClient.create({ directoryUrl: env.directory(), caPem: env.rootPem });
    const forged = await wrongKey.post(wrongKey.directory.revokeCert, { certificate: Buffer.from(leaf.raw).toString("base64url") }, { useJwk: true, kid: null });
    expect(forged.json.type).toBe(PROBLEM("unauthorized"));
    const res = await certKey.post(certKey.directory.revokeCert, { certificate: Buffer.from(leaf.raw).toString("base64url"), reason: 1 }, { useJwk: true, kid: null });
    expect(res.status).toBe(200);
    expect((await env.t.gw.store.getCertificate(serial))?.revocationReason).toBe(1);
    expect((await env.t.gw.store.queryAudit({ type: "certificate.revoked", target: serial }))[0]?.actor).toBe("acme-certificate-key");
  });

  it("a certificate we did not issue is refused", async () => {
    const c = await env.account();
    const { readFileSync } = await import("node:fs");
    const { openssl } = await import("../helpers/openssl.js");
    const key = join(dir, "self.key");
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", "/CN=x", "-days", "1", "-outform", "DER", "-out", join(dir, "self.der")]);
    const res = await c.post(c.directory.revokeCert, { certificate: readFileSync(join(dir, "self.der")).toString("base64url") });
    expect(res.status).toBe(404);
  });
});

describe("ACME renewal information (RFC 9773)", () => {
  it("suggests a window before expiry, immediately after revocation, and replaces marks the renewal", async () => {
    const c = await env.account();
    const { leaf, serial } = await obtain(c, "ari.example.com");
    const info = await c.get(`${c.directory.renewalInfo}/${certId(leaf)}`);
    expect(info.status).toBe(200);
    const { start, end } = info.json.suggestedWindow;
    const notAfter = new Date(leaf.validTo).getTime();
    expect(new Date(start).getTime()).toBeLessThan(new Date(end).getTime());
    expect(new Date(end).getTime()).toBeLessThan(notAfter);
    expect(new Date(start).getTime()).toBeGreaterThan(Date.now());
    expect(info.json.explanationURL).toBe("https://example.com/why-renew");
    expect(Number(info.headers["retry-after"])).toBeGreaterThan(0);

    const renewed = await obtain(c, "ari.example.com", { replaces: certId(leaf) });
    expect(renewed.order.replaces).toBe(serial);
    expect((await env.t.gw.store.getCertificate(serial))?.replacedBy).toBe(renewed.serial);
    const again = await c.newOrder([{ type: "dns", value: "ari.example.com" }], { replaces: certId(leaf) });
    expect(again.status).toBe(409);
    expect(again.json.type).toBe(PROBLEM("alreadyReplaced"));

    await c.post(c.directory.revokeCert, { certificate: Buffer.from(renewed.leaf.raw).toString("base64url"), reason: 1 });
    const now = await c.get(`${c.directory.renewalInfo}/${certId(renewed.leaf)}`);
    expect(new Date(now.json.suggestedWindow.end).getTime()).toBeLessThan(Date.now());
    const unknown = await c.get(`${c.directory.renewalInfo}/AAAA.AQ`);
    expect(unknown.status).toBe(404);
  });

  it("another account cannot claim to replace a certificate", async () => {
    const owner = await env.account();
    const { leaf } = await obtain(owner, "ari2.example.com");
    const other = await env.account();
    const res = await other.newOrder([{ type: "dns", value: "ari2.example.com" }], { replaces: certId(leaf) });
    expect(res.json.type).toBe(PROBLEM("alreadyReplaced"));
  });
});

describe("ACME rate limits", () => {
  it("an account over its bucket gets rateLimited with Retry-After", async () => {
    const limited = await acmeEnv({ rateLimits: { perAccount: { perSecond: 0.5, burst: 3 } } });
    try {
      const c = await limited.account();
      const codes: number[] = [];
      let last;
      for (let i = 0; i < 5; i++) {
        last = await c.post(c.accountUrl!, "");
        codes.push(last.status);
      }
      expect(codes).toContain(429);
      const res = await c.post(c.accountUrl!, "");
      expect(res.json.type).toBe(PROBLEM("rateLimited"));
      expect(Number(res.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.close();
    }
  });
});
