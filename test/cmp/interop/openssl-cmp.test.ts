import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeSerial } from "../../../src/ca/serial.js";
import { genKey, opensslAsync } from "../../helpers/openssl.js";
import type { AuditEvent } from "../../../src/store/types.js";
import { auditEvent, CMP_KID, CMP_SECRET, cmpEnv, opensslCmp, type CmpEnv } from "../env.js";

let env: CmpEnv;
beforeAll(async () => {
  env = await cmpEnv();
});
afterAll(async () => {
  await env?.close();
});

/** The last cmp.request audit events, to show why a client failed. */
const lastEvents = async () => JSON.stringify((await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 })).slice(-3).map((e) => e.data));

const mac = () => ["-server", env.server, "-path", ".well-known/cmp", "-ref", CMP_KID, "-secret", `pass:${CMP_SECRET}`, "-mac", "hmacWithSHA256"];

async function verified(path: string): Promise<X509Certificate> {
  const v = await opensslAsync(["verify", "-CAfile", env.rootPem, "-untrusted", env.issuingPem, path]);
  expect(v.out).toContain(": OK");
  return new X509Certificate(readFileSync(path));
}

describe("openssl cmp with a shared secret (MAC)", () => {
  it("ir with stock flags (PasswordBasedMac, HMAC-SHA1 by default): enrolls, confirms, and the certificate verifies", async () => {
    const key = genKey(env.dir, "ir1");
    const out = join(env.dir, "ir1.pem");
    const r = await opensslCmp([...mac().slice(0, -2), "-cmd", "ir", "-newkey", key, "-subject", "/CN=ir1.example.com", "-sans", "ir1.example.com", "-certout", out]);
    expect(r.code, r.out).toBe(0);
    const cert = await verified(out);
    expect(cert.subject).toContain("CN=ir1.example.com");
    const rec = (await env.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber)))!;
    expect(rec.protocol).toBe("cmp");
    const events = await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 100 });
    expect(events.some((e) => e.data.bodyType === "certConf" && e.data.decision === "confirmed")).toBe(true);
  });
});

/** An ir over MAC: the certificate and key files, to use for signature protection next. */
async function enrolled(name: string, extra: string[] = []): Promise<{ cert: string; key: string; x: X509Certificate }> {
  const key = genKey(env.dir, name);
  const cert = join(env.dir, `${name}.pem`);
  const r = await opensslCmp([...mac(), "-cmd", "ir", "-newkey", key, "-subject", `/CN=${name}.example.com`, "-certout", cert, ...extra]);
  expect(r.code, `${r.out}\n${await lastEvents()}`).toBe(0);
  return { cert, key, x: await verified(cert) };
}

const sig = (c: { cert: string; key: string }) => ["-server", env.server, "-path", ".well-known/cmp", "-cert", c.cert, "-key", c.key, "-trusted", env.rootPem];

describe("openssl cmp, more commands", () => {
  it("ir with -implicit_confirm: no certConf is needed", async () => {
    const c = await enrolled("implicit1", ["-implicit_confirm"]);
    const ev = (await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 })).filter((e) => e.data.serial === normalizeSerial(c.x.serialNumber));
    expect(ev[0].data).toMatchObject({ bodyType: "ir", decision: "accepted", implicitConfirm: true });
  });

  it("cr signed with our certificate (-cert/-key), answered with the responder's signature", async () => {
    const first = await enrolled("sig1");
    const key = genKey(env.dir, "cr1");
    const out = join(env.dir, "cr1.pem");
    const r = await opensslCmp([...sig(first), "-cmd", "cr", "-newkey", key, "-subject", "/CN=cr1.example.com", "-certout", out]);
    expect(r.code, `${r.out}\n${await lastEvents()}`).toBe(0);
    expect((await verified(out)).subject).toContain("CN=cr1.example.com");
  });

  it("p10cr with -csr", async () => {
    const key = genKey(env.dir, "p10");
    const csr = join(env.dir, "p10.csr");
    await opensslAsync(["req", "-new", "-key", key, "-subj", "/CN=p10.example.com", "-addext", "subjectAltName=DNS:p10.example.com", "-out", csr]);
    const out = join(env.dir, "p10.pem");
    const r = await opensslCmp([...mac(), "-cmd", "p10cr", "-csr", csr, "-certout", out]);
    expect(r.code, `${r.out}\n${await lastEvents()}`).toBe(0);
    expect((await verified(out)).subjectAltName).toContain("DNS:p10.example.com");
  });

  it("kur signed with the certificate being updated; the old one is recorded as replaced", async () => {
    const old = await enrolled("kur1");
    const key = genKey(env.dir, "kur1-new");
    const out = join(env.dir, "kur1-new.pem");
    const r = await opensslCmp([...sig(old), "-cmd", "kur", "-newkey", key, "-certout", out]);
    expect(r.code, `${r.out}\n${await lastEvents()}`).toBe(0);
    const renewed = await verified(out);
    expect(renewed.subject).toBe(old.x.subject);
    expect((await env.t.gw.store.getCertificate(normalizeSerial(old.x.serialNumber)))!.replacedBy).toBe(normalizeSerial(renewed.serialNumber));
  });

  it("rr signed with the certificate: revoked, and OCSP-visible in the inventory", async () => {
    const c = await enrolled("rr1");
    const r = await opensslCmp([...sig(c), "-cmd", "rr", "-oldcert", c.cert, "-revreason", "1"]);
    expect(r.code, `${r.out}\n${await lastEvents()}`).toBe(0);
    const rec = (await env.t.gw.store.getCertificate(normalizeSerial(c.x.serialNumber)))!;
    expect(rec.revokedAt).toBeDefined();
    expect(rec.revocationReason).toBe(1);
  });

  it("genm is answered with genp, including signKeyPairTypes", async () => {
    const r = await opensslCmp([...mac(), "-cmd", "genm", "-infotype", "signKeyPairTypes"]);
    expect(r.code, `${r.out}\n${await lastEvents()}`).toBe(0);
    expect(r.out).toContain("GENP");
    const ev = (await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 })).filter((e) => e.data.bodyType === "genm").at(-1)!;
    expect(ev.data.infoTypes).toEqual(["1.3.6.1.5.5.7.4.2"]);
  });

  it("a pending profile: openssl cmp polls until an operator approves", async () => {
    const key = genKey(env.dir, "pend1");
    const out = join(env.dir, "pend1.pem");
    const cmpRequest = (e: AuditEvent, bodyType: string, decision: string) => e.type === "cmp.request" && e.data.label === "approve" && e.data.bodyType === bodyType && e.data.decision === decision;
    const running = opensslCmp(["-server", env.server, "-path", ".well-known/cmp/p/approve", "-ref", CMP_KID, "-secret", `pass:${CMP_SECRET}`, "-mac", "hmacWithSHA256",
      "-cmd", "ir", "-newkey", key, "-subject", "/CN=pend1.example.com", "-certout", out, "-total_timeout", "40"]);
    const waiting = await auditEvent(env.t.gw, (e) => cmpRequest(e, "ir", "waiting"), running);
    // The operator decides only once a pollReq was answered with pollRep: openssl then waits checkAfter and polls again.
    const transactionId = waiting.data.transactionId;
    await auditEvent(env.t.gw, (e) => cmpRequest(e, "pollReq", "pollRep") && e.data.transactionId === transactionId, running);
    await env.t.gw.enrollment.approve(String(waiting.data.requestId), "admin:test");
    const r = await running;
    expect(r.code, `${r.out}\n${await lastEvents()}`).toBe(0);
    const cert = await verified(out);
    expect((await env.t.gw.store.getRequest(String(waiting.data.requestId)))?.certificateSerial).toBe(normalizeSerial(cert.serialNumber));
    const events = (await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 })).filter((e) => e.data.transactionId === transactionId);
    expect(events.find((e) => e.data.bodyType === "pollReq" && e.data.decision === "accepted")?.data.serial).toBe(normalizeSerial(cert.serialNumber));
  });
});

describe("openssl cmp with a one-time secret from the admin API", () => {
  it("enrolls once; the same secret is refused the second time", async () => {
    const minted = await new Promise<{ id: string; secret: string }>((resolve, reject) => execFile("curl", ["-sS", "--cacert", env.rootPem,
      "-H", `Authorization: Bearer ${env.t.token}`, "-H", "Content-Type: application/json", "-d", JSON.stringify({ profile: "device", protocols: ["cmp"] }),
      `https://localhost:${env.servers.httpsPort}/admin/api/v1/enrollment-secrets`], (e, out) => (e ? reject(e) : resolve(JSON.parse(out) as { id: string; secret: string }))));
    const once = (name: string) => opensslCmp(["-server", env.server, "-path", ".well-known/cmp", "-ref", minted.id, "-secret", `pass:${minted.secret}`,
      "-cmd", "ir", "-newkey", genKey(env.dir, name), "-subject", `/CN=${name}.example.com`, "-certout", join(env.dir, `${name}.pem`)]);
    const first = await once("otp1");
    expect(first.code, `${first.out}\n${await lastEvents()}`).toBe(0);
    const rec = (await env.t.gw.store.getCertificate(normalizeSerial((await verified(join(env.dir, "otp1.pem"))).serialNumber)))!;
    expect(rec).toMatchObject({ requesterKind: "enrollment-secret", requesterId: minted.id });
    const second = await once("otp2");
    expect(second.code).not.toBe(0);
    expect(JSON.stringify(await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 }))).not.toContain(minted.secret);
  });
});

describe("openssl cmp, refusals", () => {
  it("wrong secret and wrong -ref fail, audited as badMessageCheck", async () => {
    const key = genKey(env.dir, "bad1");
    const wrong = await opensslCmp(["-server", env.server, "-path", ".well-known/cmp", "-ref", CMP_KID, "-secret", "pass:not-the-secret", "-mac", "hmacWithSHA256", "-cmd", "ir", "-newkey", key, "-subject", "/CN=bad1.example.com", "-certout", join(env.dir, "bad1.pem")]);
    expect(wrong.code).not.toBe(0);
    const ref = await opensslCmp(["-server", env.server, "-path", ".well-known/cmp", "-ref", "nobody", "-secret", `pass:${CMP_SECRET}`, "-mac", "hmacWithSHA256", "-cmd", "ir", "-newkey", key, "-subject", "/CN=bad1.example.com", "-certout", join(env.dir, "bad1.pem")]);
    expect(ref.code).not.toBe(0);
    const ev = (await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 })).filter((e) => e.actor === "cmp:unauthenticated");
    expect(ev.filter((e) => (e.data.failInfo as string[])?.includes("badMessageCheck")).length).toBeGreaterThanOrEqual(2);
  });

  it("kur signed by a foreign certificate is refused", async () => {
    const key = genKey(env.dir, "foreign");
    const cert = join(env.dir, "foreign.pem");
    await opensslAsync(["req", "-x509", "-new", "-key", key, "-subj", "/CN=foreign.example.com", "-days", "2", "-out", cert]);
    const r = await opensslCmp([...sig({ cert, key }), "-cmd", "kur", "-newkey", genKey(env.dir, "foreign-new"), "-certout", join(env.dir, "foreign-new.pem")]);
    expect(r.code).not.toBe(0);
    const last = (await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 })).at(-1)!;
    expect(last.data).toMatchObject({ bodyType: "kur", decision: "error" });
    expect(last.actor).toBe("cmp:unauthenticated");
    expect(await env.t.gw.store.findCertificates({ name: "foreign.example.com" })).toEqual([]);
  });
});
