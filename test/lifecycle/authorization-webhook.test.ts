import { createHash, createPrivateKey, createPublicKey, randomBytes, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeSerial } from "../../src/ca/serial.js";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "../acme/setup.js";
import { CMP_KID, CMP_SECRET, opensslCmp } from "../cmp/env.js";
import { AcmeError } from "../helpers/acme-client.js";
import { makeCsr } from "../helpers/csr.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { genKey, openssl, tempDir } from "../helpers/openssl.js";
import { buildPkiMessage, openCertRep } from "../helpers/scep-client.js";
import { basicUser, curl, EST_USER, pkcs10, pkcs7Certs, type CurlResult, type EstEnv } from "../est/setup.js";
import { WebhookReceiver } from "./webhook-receiver.js";

const SECRET = "receiver-Hmac-secret-0001";
// The profiles read the HMAC secret through the project's secret reader ({ env: ... }).
process.env.AUTHZ_TEST_HOOK_SECRET = SECRET;
const STATIC_CHALLENGE = "authz-static-Challenge-1";

let receiver: WebhookReceiver;

/** A profile whose enrollments the receiver authorizes. */
function profile(name: string, protocols: string, hook: { timeoutMs?: number; onError?: "allow" | "deny"; secret?: string } = {}, extra = ""): string {
  const secret = hook.secret ? JSON.stringify(hook.secret) : "{ env: AUTHZ_TEST_HOOK_SECRET }";
  return `
name: ${name}
protocols: [${protocols}]
keys: [{ type: ec, curves: [P-256] }, { type: rsa, minBits: 2048 }]
subject: { commonName: firstSan }
names: { dns: { suffixes: [example.com] }, requireSan: false }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature, keyEncipherment]
extendedKeyUsage: [clientAuth, serverAuth]
classification: { owner: profile-owner, environment: lab }
authorization:
  webhook: { url: "${receiver.url(`/authorize/${name}`)}", timeoutMs: ${hook.timeoutMs ?? 5000}, onError: ${hook.onError ?? "deny"}, hmacSecret: ${secret} }
${extra}`;
}

const allow = (attributes?: Record<string, string>) => () => ({ json: { decision: "allow", ...(attributes ? { attributes } : {}) } });
const deny = (reason: string) => () => ({ json: { decision: "deny", reason } });

beforeAll(async () => {
  receiver = await WebhookReceiver.start(SECRET);
});
afterAll(async () => {
  await receiver?.close();
});

describe("authorization webhook over ACME", () => {
  let env: AcmeTestEnv;
  beforeAll(async () => {
    env = await acmeEnv({}, { "hooked-acme": profile("hooked-acme", "acme") });
  });
  afterAll(async () => env?.close());
  const publish = (token: string, keyAuth: string) => void env.http01.answers.set(token, keyAuth);

  it("allow with attributes: issued and classified; the receiver saw identity, protocol, names and key", async () => {
    receiver.reply = allow({ owner: "team-blue", environment: "prod", criticality: "high", ticket: "CHG-42" });
    const c = await env.account();
    const r = await c.issue([{ type: "dns", value: "allowed.example.com" }], { profile: "hooked-acme", publish });
    const cert = new X509Certificate(r.certPem.split(/(?<=-----END CERTIFICATE-----)/)[0]);
    const rec = (await env.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec).toMatchObject({ owner: "team-blue", environment: "prod", criticality: "high", profile: "hooked-acme" });

    const call = receiver.callsFor("hooked-acme").at(-1)!;
    expect(call.signatureValid).toBe(true);
    expect(call.path).toBe("/authorize/hooked-acme");
    const spki = createPublicKey(r.csrKey).export({ type: "spki", format: "der" });
    expect(call.body).toMatchObject({
      protocol: "acme", profile: "hooked-acme", phase: "enroll",
      requester: { kind: "acme-account", id: c.accountUrl!.split("/").at(-1), attributes: { endpoint: "default" } },
      subject: "CN=allowed.example.com",
      names: { dns: ["allowed.example.com"], ip: [], email: [], uri: [] },
      key: { algorithm: "EC P-256", spkiSha256: createHash("sha256").update(spki).digest("hex") },
    });
    const accepted = (await env.t.gw.store.queryAudit({ type: "request.accepted", limit: 100 })).find((e) => e.target === call.body.requestId)!;
    expect(accepted.data.authorization).toEqual({ attributes: { owner: "team-blue", environment: "prod", criticality: "high", ticket: "CHG-42" } });
  });

  it("deny: finalize answers unauthorized (403) with the reason; the request is rejected, nothing is signed", async () => {
    receiver.reply = deny("device is not compliant (MDM posture)");
    const c = await env.account();
    const err = await c.issue([{ type: "dns", value: "denied.example.com" }], { profile: "hooked-acme", publish }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AcmeError);
    const res = (err as AcmeError).response;
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ type: PROBLEM("unauthorized"), detail: "device is not compliant (MDM posture)" });
    expect(await env.t.gw.store.findCertificates({ name: "denied.example.com" })).toEqual([]);
    const requestId = receiver.callsFor("hooked-acme").at(-1)!.body.requestId;
    expect(await env.t.gw.store.getRequest(requestId)).toMatchObject({ status: "rejected", errorCode: "RA_ERR_AUTHORIZATION_DENIED" });
    const rejected = (await env.t.gw.store.queryAudit({ type: "request.rejected", limit: 100 })).find((e) => e.target === requestId)!;
    expect(rejected.data).toMatchObject({ code: "RA_ERR_AUTHORIZATION_DENIED", reason: "device is not compliant (MDM posture)" });
  });
});

describe("authorization webhook over EST, SCEP and CMP", () => {
  let t: TestGateway;
  let servers: RunningServers;
  let dir: string;
  let est: Pick<EstEnv, "dir" | "rootPem"> & { base: string };
  let http: string;
  beforeAll(async () => {
    dir = tempDir("authz-");
    const users = [EST_USER];
    const label = (name: string, p: string) => ({ name, profile: p, auth: { users } });
    t = await testGateway({
      est: {
        labels: [label("hooked", "hooked"), label("closed", "hooked-closed"), label("open", "hooked-open"), label("badsecret", "hooked-badsecret"), label("approval", "hooked-approval")],
        defaultLabel: "hooked",
      },
      scep: { endpoints: [{ name: "hooked", profile: "hooked", challenge: { static: STATIC_CHALLENGE } }], defaultEndpoint: "hooked" },
      cmp: { labels: [{ name: "hooked", profile: "hooked", secrets: [{ kid: CMP_KID, secret: CMP_SECRET }] }], defaultLabel: "hooked" },
    }, {
      hooked: profile("hooked", "est, scep, cmp"),
      "hooked-closed": profile("hooked-closed", "est", { timeoutMs: 300 }),
      "hooked-open": profile("hooked-open", "est", { timeoutMs: 300, onError: "allow" }),
      "hooked-badsecret": profile("hooked-badsecret", "est", { secret: "not-the-receivers-secret" }),
      "hooked-approval": profile("hooked-approval", "est", {}, "approval: true"),
    });
    servers = await startServers(t.gw);
    est = { dir, rootPem: join(t.gw.paths.data, "cas", "dev-root", "cert.pem"), base: `https://localhost:${servers.httpsPort}/.well-known/est` };
    http = `http://127.0.0.1:${servers.httpPort}`;
  });
  afterAll(async () => {
    await servers?.close();
    await t?.gw.close();
  });

  /** simpleenroll on a label with a fresh CSR for `name`.example.com. */
  async function estEnroll(labelName: string, name: string): Promise<CurlResult> {
    const csr = makeCsr(dir, name, { subject: `/CN=${name}.example.com`, sans: `DNS:${name}.example.com` });
    // curl needs only the directory and the trust anchor of an EST environment.
    return curl(est as EstEnv, [...basicUser, ...pkcs10, "--data-binary", `@${csr.body}`, `${est.base}/${labelName}/simpleenroll`]);
  }
  const events = (type: string) => t.gw.store.queryAudit({ type, limit: 1000 });

  it("EST: a denial is 403 with the reason as text and the code in X-Error-Code", async () => {
    receiver.reply = deny("user is not in group pki-devices");
    const r = await estEnroll("hooked", "est-denied");
    expect(r.status).toBe(403);
    expect(r.headers["x-error-code"]).toBe("RA_ERR_AUTHORIZATION_DENIED");
    expect(r.body.toString()).toContain("user is not in group pki-devices");
    const call = receiver.callsFor("hooked").at(-1)!;
    expect(call.body).toMatchObject({ protocol: "est", requester: { kind: "est-user", id: EST_USER.name }, names: { dns: ["est-denied.example.com"] } });
    expect(await t.gw.store.getRequest(call.body.requestId)).toMatchObject({ status: "rejected", errorCode: "RA_ERR_AUTHORIZATION_DENIED" });
    expect(await t.gw.store.findCertificates({ name: "est-denied.example.com" })).toEqual([]);
  });

  it("EST: allow with attributes classifies the certificate", async () => {
    receiver.reply = allow({ owner: "netops", application: "branch-router", criticality: "not-a-level" });
    const r = await estEnroll("hooked", "est-allowed");
    expect(r.status, r.body.toString()).toBe(200);
    const { pem } = await pkcs7Certs(dir, "est-allowed", r.body);
    const rec = (await t.gw.store.getCertificate(normalizeSerial(new X509Certificate(pem).serialNumber)))!;
    // environment stays the profile's; an unknown criticality is ignored
    expect(rec).toMatchObject({ owner: "netops", application: "branch-router", environment: "lab" });
    expect(rec.criticality).toBeUndefined();
  });

  it("SCEP: a denial is CertRep FAILURE with failInfo badRequest", async () => {
    receiver.reply = deny("device unknown to the MDM");
    const raCert = await scepRaCert();
    const csr = makeCsr(dir, "scep-denied", { subject: "/CN=scep-denied.example.com", keyKind: "rsa-2048", challengePassword: STATIC_CHALLENGE });
    const self = join(dir, "scep-denied-self.pem");
    openssl(["req", "-x509", "-new", "-key", csr.key, "-subj", "/CN=scep-denied-signer", "-days", "1", "-out", self]);
    const key = createPrivateKey(readFileSync(csr.key));
    const der = buildPkiMessage({
      messageType: 19, transactionId: randomBytes(16).toString("hex"), senderNonce: new Uint8Array(randomBytes(16)),
      content: new Uint8Array(Buffer.from(readFileSync(csr.body, "utf8").replace(/\s+/g, ""), "base64")),
      signerCert: new Uint8Array(new X509Certificate(readFileSync(self)).raw), signerKey: key, recipientCert: raCert, digest: "sha256", contentEncryption: "aes-256-cbc",
    });
    const res = await fetch(`${http}/scep/hooked?operation=PKIOperation`, { method: "POST", headers: { "Content-Type": "application/x-pki-message" }, body: Buffer.from(der) });
    expect(res.status).toBe(200);
    const rep = openCertRep(new Uint8Array(await res.arrayBuffer()), { recipientKey: key, raCert });
    expect(rep).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
    const call = receiver.callsFor("hooked").at(-1)!;
    expect(call.body).toMatchObject({ protocol: "scep", requester: { kind: "scep", id: "hooked:static" }, key: { algorithm: "RSA 2048" } });
    expect(await t.gw.store.getRequest(call.body.requestId)).toMatchObject({ status: "rejected", errorCode: "RA_ERR_AUTHORIZATION_DENIED" });
    const scepEvent = (await events("scep.request")).at(-1)!;
    expect(scepEvent.data).toMatchObject({ decision: "FAILURE", failInfo: "badRequest", reason: "device unknown to the MDM" });
  });

  async function scepRaCert(): Promise<Uint8Array> {
    const res = await fetch(`${http}/scep/hooked?operation=GetCACert`);
    const p7 = join(dir, "scep-cacert.p7");
    writeFileSync(p7, Buffer.from(await res.arrayBuffer()));
    const first = openssl(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs"]).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0];
    return new Uint8Array(new X509Certificate(first).raw);
  }

  /** An openssl cmp ir on the hooked label; the gateway's cmp.request audit event tells the failInfo. */
  async function cmpIr(name: string): Promise<{ code: number; out: string; failInfo: unknown }> {
    const r = await opensslCmp(["-server", `127.0.0.1:${servers.httpPort}`, "-path", ".well-known/cmp/p/hooked", "-ref", CMP_KID, "-secret", `pass:${CMP_SECRET}`,
      "-mac", "hmacWithSHA256", "-cmd", "ir", "-newkey", genKey(dir, name), "-subject", `/CN=${name}.example.com`, "-certout", join(dir, `${name}.pem`)]);
    return { ...r, failInfo: (await events("cmp.request")).at(-1)?.data.failInfo };
  }

  it("CMP: a denial is a rejection with PKIFailureInfo notAuthorized; an unusable webhook is systemUnavail", async () => {
    receiver.reply = deny("certificate quota exceeded for this group");
    const denied = await cmpIr("cmp-denied");
    expect(denied.code).not.toBe(0);
    expect(denied.failInfo).toEqual(["notAuthorized"]);
    expect(denied.out).toContain("certificate quota exceeded for this group");
    expect(receiver.callsFor("hooked").at(-1)!.body).toMatchObject({ protocol: "cmp", requester: { kind: "cmp-kid", id: CMP_KID } });

    receiver.reply = () => ({ status: 500, json: { error: "backend down" } });
    const down = await cmpIr("cmp-down");
    expect(down.code).not.toBe(0);
    expect(down.failInfo).toEqual(["systemUnavail"]);
    expect(await t.gw.store.findCertificates({ name: "cmp-denied.example.com" })).toEqual([]);
    expect(await t.gw.store.findCertificates({ name: "cmp-down.example.com" })).toEqual([]);
  });

  it("a receiver that never answers within timeoutMs: fail closed (EST 503 with Retry-After) by default", async () => {
    receiver.reply = () => "hang";
    const r = await estEnroll("closed", "est-timeout");
    expect(r.status).toBe(503);
    expect(r.headers["x-error-code"]).toBe("RA_ERR_AUTHORIZATION_UNAVAILABLE");
    expect(Number(r.headers["retry-after"])).toBeGreaterThan(0);
    expect(r.body.toString()).toContain("timeout");
    const requestId = receiver.callsFor("hooked-closed").at(-1)!.body.requestId;
    expect((await events("authorization.webhook_failed")).find((e) => e.target === requestId)?.data).toMatchObject({ cause: "timeout", onError: "deny", profile: "hooked-closed" });
    expect(await t.gw.store.getRequest(requestId)).toMatchObject({ status: "rejected", errorCode: "RA_ERR_AUTHORIZATION_UNAVAILABLE" });
    expect(await t.gw.store.findCertificates({ name: "est-timeout.example.com" })).toEqual([]);
  });

  it("… and issued with onError: allow, with an authorization.webhook_failed audit event", async () => {
    receiver.reply = () => "hang";
    const r = await estEnroll("open", "est-failopen");
    expect(r.status, r.body.toString()).toBe(200);
    const requestId = receiver.callsFor("hooked-open").at(-1)!.body.requestId;
    const failed = (await events("authorization.webhook_failed")).find((e) => e.target === requestId)!;
    expect(failed.data).toMatchObject({ cause: "timeout", onError: "allow", protocol: "est" });
    expect(JSON.stringify(failed.data)).not.toContain(SECRET);
    const accepted = (await events("request.accepted")).find((e) => e.target === requestId)!;
    expect(accepted.data.authorization).toEqual({ attributes: {}, failedOpen: "timeout" });
    expect((await t.gw.store.findCertificates({ name: "est-failopen.example.com" })).length).toBe(1);
  });

  it("the signature is verifiable: a receiver with another secret detects it (and the gateway fails closed)", async () => {
    receiver.reply = allow();
    const ok = await estEnroll("hooked", "est-signed");
    expect(ok.status).toBe(200);
    const good = receiver.callsFor("hooked").at(-1)!;
    expect(good.signatureValid).toBe(true);
    expect(good.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(good.timestamp).toMatch(/^\d+$/);

    const bad = await estEnroll("badsecret", "est-badsecret");
    const call = receiver.callsFor("hooked-badsecret").at(-1)!;
    expect(call.signatureValid).toBe(false);
    expect(call.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(bad.status).toBe(503);
    expect((await events("authorization.webhook_failed")).find((e) => e.target === call.body.requestId)?.data.cause).toBe("HTTP 401");
  });

  it("answers outside the strict format are unusable: fail closed", async () => {
    const unusable = [
      { json: { decision: "allow", extra: true } },
      { json: { decision: "maybe" } },
      { json: { decision: "allow", attributes: { owner: 7 } } },
      { json: ["allow"] },
      { text: "allow" },
      { text: JSON.stringify({ decision: "allow", reason: "x".repeat(70 * 1024) }) },
      { status: 204, text: "" },
    ];
    for (const [i, reply] of unusable.entries()) {
      receiver.reply = () => reply;
      const r = await estEnroll("hooked", `est-unusable${i}`);
      expect(r.status, JSON.stringify(reply).slice(0, 80)).toBe(503);
      expect(await t.gw.store.findCertificates({ name: `est-unusable${i}.example.com` })).toEqual([]);
    }
    const causes = (await events("authorization.webhook_failed")).slice(-unusable.length).map((e) => String(e.data.cause));
    expect(causes[5]).toContain("larger than 65536 bytes");
    expect(causes[0]).toContain("unusable answer");
  });

  it("approval profiles: asked before queuing (a denial queues nothing) and asked again at approval time", async () => {
    receiver.reply = deny("not during a change freeze");
    const refused = await estEnroll("approval", "est-appr-denied");
    expect(refused.status).toBe(403);
    expect((await t.gw.store.listRequests("pending")).filter((x) => x.profile === "hooked-approval")).toEqual([]);

    receiver.reply = allow({ owner: "queued-owner" });
    const queued = await estEnroll("approval", "est-appr-later-denied");
    expect(queued.status).toBe(202);
    const first = receiver.callsFor("hooked-approval").at(-1)!.body.requestId;
    expect((await events("request.pending")).find((e) => e.target === first)?.data.authorization).toEqual({ attributes: { owner: "queued-owner" } });
    receiver.reply = deny("device left the compliant group");
    await expect(t.gw.enrollment.approve(first, "admin:test")).rejects.toMatchObject({ code: "RA_ERR_AUTHORIZATION_DENIED" });
    expect(receiver.callsFor("hooked-approval").at(-1)!.body).toMatchObject({ requestId: first, phase: "approve" });
    expect(await t.gw.store.getRequest(first)).toMatchObject({ status: "failed", errorCode: "RA_ERR_AUTHORIZATION_DENIED" });

    receiver.reply = allow({ owner: "enroll-time-owner" });
    expect((await estEnroll("approval", "est-appr-ok")).status).toBe(202);
    const second = receiver.callsFor("hooked-approval").at(-1)!.body.requestId;
    receiver.reply = allow({ owner: "approval-time-owner", environment: "staging" });
    const issued = await t.gw.enrollment.approve(second, "admin:test");
    expect(await t.gw.store.getCertificate(issued.serial)).toMatchObject({ owner: "approval-time-owner", environment: "staging" });
    expect((await events("request.authorized")).find((e) => e.target === second)?.data).toMatchObject({ afterApproval: true, authorization: { attributes: { owner: "approval-time-owner" } } });
  });
});
