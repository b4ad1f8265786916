import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCsr, openssl, tempDir } from "../helpers/openssl.js";
import type { AcmeClient } from "../helpers/acme-client.js";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "./setup.js";

const WILDCARD_PROFILE = `
name: tls-wildcard
description: wildcard TLS
protocols: [acme]
keys: [{ type: ec }]
names: { dns: { suffixes: [example.com], wildcards: true }, maxSans: 5 }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [serverAuth]
`;
const APPROVAL_PROFILE = `
name: tls-approved
description: needs an operator
protocols: [acme]
approval: true
keys: [{ type: ec }]
names: { dns: { suffixes: [example.com] } }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [serverAuth]
`;

let env: AcmeTestEnv;
let dir: string;
beforeAll(async () => {
  env = await acmeEnv({}, { "tls-wildcard": WILDCARD_PROFILE, "tls-approved": APPROVAL_PROFILE });
  dir = tempDir();
});
afterAll(async () => env?.close());

const publish = (token: string, keyAuth: string) => void env.http01.answers.set(token, keyAuth);

/** Drives every authorization of an order to valid over real http-01. */
async function authorize(c: AcmeClient, order: { authorizations: string[] }): Promise<void> {
  for (const url of order.authorizations) {
    const authz = (await c.post(url, "")).json;
    if (authz.status === "valid") continue;
    const ch = authz.challenges.find((x: { type: string }) => x.type === "http-01");
    publish(ch.token, c.keyAuthorization(ch.token));
    const started = await c.post(ch.url, {});
    expect(started.status).toBe(200);
    await c.poll(url, (a) => a.status !== "pending");
  }
}

describe("ACME orders", () => {
  it("refuses each bad identifier with its own subproblem, and unsupported types", async () => {
    const c = await env.account();
    const res = await c.newOrder([{ type: "dns", value: "ok.example.com" }, { type: "dns", value: "evil.invalid-zone" }, { type: "ip", value: "8.8.8.8" }]);
    expect(res.status).toBe(400);
    expect(res.json.type).toBe(PROBLEM("rejectedIdentifier"));
    expect(res.json.subproblems.map((s: { identifier: { value: string } }) => s.identifier.value).sort()).toEqual(["8.8.8.8", "evil.invalid-zone"]);
    for (const s of res.json.subproblems) expect(s.type).toBe(PROBLEM("rejectedIdentifier"));
    const email = await c.newOrder([{ type: "email" as "dns", value: "a@example.com" }]);
    expect(email.json.type).toBe(PROBLEM("unsupportedIdentifier"));
    expect((await env.t.gw.store.queryAudit({ type: "acme.order.rejected" })).length).toBeGreaterThan(0);
  });

  it("offers the challenges each identifier can use; wildcards only where the profile allows", async () => {
    const c = await env.account();
    const refused = await c.newOrder([{ type: "dns", value: "*.example.com" }]);
    expect(refused.json.type).toBe(PROBLEM("rejectedIdentifier"));
    const wild = await c.newOrder([{ type: "dns", value: "*.wild.example.com" }], { profile: "tls-wildcard" });
    expect(wild.status).toBe(201);
    const wa = (await c.post(wild.json.authorizations[0], "")).json;
    expect(wa).toMatchObject({ identifier: { type: "dns", value: "wild.example.com" }, wildcard: true });
    expect(wa.challenges.map((x: { type: string }) => x.type)).toEqual(["dns-01"]);
    const ip = await c.newOrder([{ type: "ip", value: "127.0.0.1" }]);
    const ia = (await c.post(ip.json.authorizations[0], "")).json;
    expect(ia.challenges.map((x: { type: string }) => x.type)).toEqual(["http-01", "tls-alpn-01"]);
    const dns = await c.newOrder([{ type: "dns", value: "plain.example.com" }]);
    const da = (await c.post(dns.json.authorizations[0], "")).json;
    expect(da.challenges.map((x: { type: string }) => x.type)).toEqual(["http-01", "dns-01", "tls-alpn-01"]);
  });

  it("honours notBefore/notAfter within the profile and refuses unknown profiles", async () => {
    const c = await env.account();
    const tooLong = await c.newOrder([{ type: "dns", value: "v.example.com" }], { notAfter: new Date(Date.now() + 500 * 86_400_000).toISOString() });
    expect(tooLong.status).toBe(400);
    const unknown = await c.newOrder([{ type: "dns", value: "v.example.com" }], { profile: "nope" });
    expect(unknown.json.type).toBe(PROBLEM("invalidProfile"));
    const notAfter = new Date(Date.now() + 10 * 86_400_000);
    notAfter.setUTCMilliseconds(0);
    const order = await c.newOrder([{ type: "dns", value: "short.example.com" }], { notAfter: notAfter.toISOString() });
    expect(order.json.notAfter).toBe(notAfter.toISOString());
    await authorize(c, order.json);
    const { der, keyPath } = makeCsr(dir, "short", { sans: ["DNS:short.example.com"] });
    void keyPath;
    const fin = await c.finalize(order.json.finalize, der);
    expect(fin.json.status).toBe("valid");
    const pem = await c.downloadCertificate(fin.json.certificate);
    expect(new Date(new X509Certificate(pem).validTo).getTime()).toBe(notAfter.getTime());
  });
});

describe("ACME finalize", () => {
  it("refuses to finalize before the authorizations are valid", async () => {
    const c = await env.account();
    const order = await c.newOrder([{ type: "dns", value: "early.example.com" }]);
    const fin = await c.finalize(order.json.finalize, makeCsr(dir, "early", { sans: ["DNS:early.example.com"] }).der);
    expect(fin.status).toBe(403);
    expect(fin.json.type).toBe(PROBLEM("orderNotReady"));
  });

  it("answers a challenge POST with the validation's result when it ends at once, so no poll is needed", async () => {
    const c = await env.account();
    const order = await c.newOrder([{ type: "dns", value: "quick.example.com" }, { type: "dns", value: "unpublished.example.com" }]);
    const [good, bad] = await Promise.all(order.json.authorizations.map(async (url: string) => (await c.post(url, "")).json));
    const goodCh = good.challenges.find((x: { type: string }) => x.type === "http-01");
    publish(goodCh.token, c.keyAuthorization(goodCh.token));
    const ok = await c.post(goodCh.url, {});
    expect(ok.json.status).toBe("valid");
    expect(ok.headers["retry-after"]).toBeUndefined();
    expect((await c.post(order.json.authorizations[0], "")).json.status).toBe("valid");
    const badCh = bad.challenges.find((x: { type: string }) => x.type === "http-01");
    const failed = await c.post(badCh.url, {}); // nothing published: the responder answers 404
    expect(failed.json.status).toBe("invalid");
    expect(failed.json.error.type).toBe(PROBLEM("incorrectResponse"));
  });

  it("issues over real http-01; the chain verifies with OpenSSL and names an alternate with the root", async () => {
    const c = await env.account();
    const order = await c.newOrder([{ type: "dns", value: "www.example.com" }, { type: "dns", value: "api.example.com" }]);
    expect(order.json.status).toBe("pending");
    const hitsBefore = env.http01.hits;
    await authorize(c, order.json);
    expect(env.http01.hits).toBeGreaterThan(hitsBefore);
    const ready = (await c.post(order.location!, "")).json;
    expect(ready.status).toBe("ready");
    const fin = await c.finalize(order.json.finalize, makeCsr(dir, "www", { sans: ["DNS:www.example.com", "DNS:api.example.com"] }).der);
    expect(fin.json.status).toBe("valid");
    const cert = await c.post(fin.json.certificate, "");
    expect(cert.headers["content-type"]).toContain("application/pem-certificate-chain");
    const pem = cert.body.toString();
    expect(pem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    writeFileSync(join(dir, "www-chain.pem"), pem);
    writeFileSync(join(dir, "root.pem"), env.rootPem);
    expect(openssl(["verify", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "www-chain.pem"), join(dir, "www-chain.pem")])).toContain("OK");
    const san = openssl(["x509", "-in", join(dir, "www-chain.pem"), "-noout", "-ext", "subjectAltName"]);
    expect(san).toContain("DNS:www.example.com");
    expect(san).toContain("DNS:api.example.com");
    const alt = String(cert.headers.link).match(/<([^>]+)>;rel="alternate"/)?.[1];
    expect(alt).toBeTruthy();
    const full = (await c.post(alt!, "")).body.toString();
    expect(full.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    const audit = (await env.t.gw.store.queryAudit({ type: "acme.authz.valid" }));
    expect(audit.some((e) => (e.data.identifier as { value: string }).value === "www.example.com")).toBe(true);
  });

  it("reuses a valid authorization for the same account: the next order is ready at once", async () => {
    const c = await env.account();
    const first = await c.newOrder([{ type: "dns", value: "reuse.example.com" }]);
    await authorize(c, first.json);
    const second = await c.newOrder([{ type: "dns", value: "reuse.example.com" }]);
    expect(second.json.status).toBe("ready");
    expect(second.json.authorizations).toEqual(first.json.authorizations);
    const other = await env.account();
    const foreign = await other.newOrder([{ type: "dns", value: "reuse.example.com" }]);
    expect(foreign.json.status).toBe("pending");
  });

  it("a CSR with other names, or with the account key, is badCSR and ends the order", async () => {
    const c = await env.account();
    const order = await c.newOrder([{ type: "dns", value: "csr.example.com" }]);
    await authorize(c, order.json);
    const extra = await c.finalize(order.json.finalize, makeCsr(dir, "extra", { sans: ["DNS:csr.example.com", "DNS:other.example.com"] }).der);
    expect(extra.json.type).toBe(PROBLEM("badCSR"));
    expect((await c.post(order.location!, "")).json.status).toBe("invalid");

    const again = await c.newOrder([{ type: "dns", value: "csr.example.com" }]);
    const keyPath = join(dir, "account.key");
    writeFileSync(keyPath, c.key.export({ type: "pkcs8", format: "pem" }));
    openssl(["req", "-new", "-key", keyPath, "-subj", "/CN=csr.example.com", "-addext", "subjectAltName=DNS:csr.example.com", "-outform", "DER", "-out", join(dir, "acct.csr")]);
    const { readFileSync } = await import("node:fs");
    const sameKey = await c.finalize(again.json.finalize, readFileSync(join(dir, "acct.csr")));
    expect(sameKey.json.type).toBe(PROBLEM("badCSR"));
    expect(sameKey.json.detail).toMatch(/account key/);
    const garbage = await c.post((await c.newOrder([{ type: "dns", value: "csr.example.com" }])).json.finalize, { csr: "AAAA" });
    expect(garbage.json.type).toBe(PROBLEM("badCSR"));
  });

  it("concurrent finalize calls issue exactly one certificate", async () => {
    const c = await env.account();
    const order = await c.newOrder([{ type: "dns", value: "race.example.com" }]);
    await authorize(c, order.json);
    const csr = makeCsr(dir, "race", { sans: ["DNS:race.example.com"] }).der;
    const nonces = await Promise.all(Array.from({ length: 5 }, () => c.newNonce()));
    const results = await Promise.all(nonces.map((nonce) => c.post(order.json.finalize, { csr: Buffer.from(csr).toString("base64url") }, { nonce })));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(r.json.type).toBe(PROBLEM("orderNotReady"));
    const issued = (await env.t.gw.store.findCertificates({ name: "race.example.com" }));
    expect(issued).toHaveLength(1);
  });

  it("a profile needing approval keeps the order processing until an operator approves", async () => {
    const c = await env.account();
    const order = await c.newOrder([{ type: "dns", value: "appr.example.com" }], { profile: "tls-approved" });
    await authorize(c, order.json);
    const fin = await c.finalize(order.json.finalize, makeCsr(dir, "appr", { sans: ["DNS:appr.example.com"] }).der);
    expect(fin.json.status).toBe("processing");
    expect(fin.headers["retry-after"]).toBe("1");
    const pending = (await env.t.gw.store.listRequests("pending")).find((r) => r.protocol === "acme");
    expect(pending).toBeTruthy();
    await env.t.gw.enrollment.approve(pending!.id, "admin:test");
    const done = await c.post(order.location!, "");
    expect(done.json.status).toBe("valid");
    expect(done.json.certificate).toBeTruthy();
  });

  it("a challenge nobody answers makes the authorization and the order invalid, with the error", async () => {
    const c = await env.account();
    const order = await c.newOrder([{ type: "dns", value: "silent.example.com" }]);
    const authz = (await c.post(order.json.authorizations[0], "")).json;
    const ch = authz.challenges.find((x: { type: string }) => x.type === "http-01");
    await c.post(ch.url, {}); // nothing published: the responder answers 404
    const done = await c.poll(order.json.authorizations[0], (a) => a.status !== "pending");
    expect(done.status).toBe("invalid");
    const failed = done.challenges.find((x: { type: string }) => x.type === "http-01");
    expect(failed.status).toBe("invalid");
    expect(failed.error.type).toMatch(/urn:ietf:params:acme:error:(incorrectResponse|unauthorized|connection)/);
    expect((await c.post(order.location!, "")).json.status).toBe("invalid");
    expect((await env.t.gw.store.queryAudit({ type: "acme.authz.invalid" })).length).toBeGreaterThan(0);
  });
});
