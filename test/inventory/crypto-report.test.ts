import { writeFileSync } from "node:fs";
import { join } from "node:path";
import request from "supertest";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derToPem } from "../../src/ca/authority.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { cryptoReportCsv } from "../../src/inventory/crypto-csv.js";
import { buildCryptoReport, type CryptoReport, type ReportGroup } from "../../src/inventory/crypto-report.js";
import { discover } from "../../src/inventory/discover.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { makeCsr, tempDir, type KeyKind } from "../helpers/openssl.js";
import { makeCert } from "./pki.js";

let t: TestGateway;
let app: Express;
let dir: string;
const DAY = 86_400_000;

async function issue(profile: string, key: KeyKind, name: string, days?: number): Promise<{ serial: string; der: Uint8Array }> {
  const notBefore = new Date(Date.now() - 60_000);
  const out = await t.gw.enrollment.enroll({
    requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "test" }, profile,
    csr: makeCsr(dir, name, { key, sans: [`DNS:${name}.example.com`] }).der,
    validity: days ? { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY) } : undefined,
  });
  if (out.status !== "issued") throw new Error("not issued");
  return out.certificate;
}

beforeAll(async () => {
  t = await testGateway();
  app = (await appsFor(t.gw)).https;
  dir = tempDir();
  const tls = [];
  for (let i = 0; i < 3; i++) tls.push(await issue("tls-server", "ec-p256", `ec${i}`));
  for (let i = 0; i < 2; i++) tls.push(await issue("tls-server", "rsa-2048", `rsa${i}`));
  await issue("device", "ec-p256", "dev0", 800);
  await t.gw.revocation.revoke(tls[0].serial, "keyCompromise", "test");
  // Discovered: a weak self-signed leaf, a long-lived P-384 CA, and one of our own (counted as managed only).
  const weak = makeCert(dir, "weak", { subject: "/CN=weak.test", days: 365, key: "rsa-1024", digest: "sha1" });
  const p384 = makeCert(dir, "p384", { subject: "/CN=P384 Test", days: 3650, key: "ec-p384", digest: "sha384", ca: true });
  writeFileSync(join(dir, "found.pem"), weak.pem + p384.pem + derToPem(tls[1].der));
  const r = await discover({ paths: [join(dir, "found.pem")] }, t.gw.store);
  expect(r.recorded).toBe(3);
});
afterAll(async () => t?.gw.close());

const group = (r: CryptoReport, issuer: string, profile: string) => r.groups.find((g) => g.issuer === issuer && g.profile === profile) as ReportGroup;
const zeroLifetimes = { "<=90d": 0, "<=398d": 0, "<=825d": 0, ">825d": 0 };

describe("crypto inventory report", () => {
  it("counts keys, hashes, lifetimes and PQC readiness per issuer and profile", async () => {
    const r = await buildCryptoReport(t.gw);
    expect(r.totals).toEqual({
      certificates: 8, managed: 6, unmanaged: 2, valid: 7, expired: 0, revoked: 1, longLived: 2, quantumVulnerable: 7, quantumSafe: 0, classicallyWeak: 1, groups: 4,
    });
    expect(r.groups.map((g) => [g.issuer, g.profile])).toEqual([
      ["dev-issuing", "device"], ["dev-issuing", "tls-server"], ["CN=P384 Test", "(unmanaged)"], ["CN=weak.test", "(unmanaged)"],
    ]);
    const tls = group(r, "dev-issuing", "tls-server");
    expect(tls).toMatchObject({
      managed: true, total: 5, valid: 4, expired: 0, revoked: 1, keys: { "EC P-256": 3, "RSA 2048": 2 }, signatureHashes: { sha256: 5 },
      lifetimes: { ...zeroLifetimes, "<=90d": 5 }, longLived: 0, quantumVulnerable: 4, classicallyWeak: 0,
    });
    expect(Date.parse(tls.latestNotAfter!)).toBeGreaterThan(Date.now() + 89 * DAY);
    expect(tls.byKey.map((k) => [k.keyAlgorithm, k.count, k.valid, k.revoked])).toEqual([["EC P-256", 3, 2, 1], ["RSA 2048", 2, 2, 0]]);
    expect(group(r, "dev-issuing", "device")).toMatchObject({ total: 1, valid: 1, lifetimes: { ...zeroLifetimes, "<=825d": 1 }, longLived: 1, quantumVulnerable: 1 });
    expect(group(r, "CN=weak.test", "(unmanaged)")).toMatchObject({
      managed: false, total: 1, keys: { "RSA 1024": 1 }, signatureHashes: { sha1: 1 }, lifetimes: { ...zeroLifetimes, "<=398d": 1 }, longLived: 0, quantumVulnerable: 1, classicallyWeak: 1,
    });
    expect(group(r, "CN=P384 Test", "(unmanaged)")).toMatchObject({ keys: { "EC P-384": 1 }, signatureHashes: { sha384: 1 }, lifetimes: { ...zeroLifetimes, ">825d": 1 }, longLived: 1 });

    expect(r.cas.map((c) => [c.name, c.role, c.keyAlgorithm, c.quantumVulnerable, c.dependents]).sort()).toEqual([
      ["dev-issuing", "issuing", "EC P-256", true, 5], ["dev-root", "root", "EC P-256", true, 5],
    ]);
    expect(r.replaceFirst.map((e) => [e.rank, e.kind, e.issuer, e.profile, e.count])).toEqual([
      [1, "ca", "dev-root", undefined, 5],
      [2, "ca", "dev-issuing", undefined, 5],
      [3, "group", "dev-issuing", "device", 1],
      [4, "group", "CN=P384 Test", "(unmanaged)", 1],
      [5, "group", "CN=weak.test", "(unmanaged)", 1],
      [6, "group", "dev-issuing", "tls-server", 4],
    ]);
    expect(r.replaceFirst[0].reason).toMatch(/^root CA with a quantum-vulnerable EC P-256 key/);
    expect(r.replaceFirst[2].reason).toMatch(/^long-lived: 1 valid certificate/);
    expect(r.replaceFirst[4].reason).toMatch(/^classically weak: 1 valid certificate.*keys RSA 1024$/);
    expect(r.replaceFirst[5]).toMatchObject({ keyAlgorithms: ["EC P-256", "RSA 2048"], reason: expect.stringMatching(/^quantum-vulnerable: 4 valid/) });
  });

  it("moves certificates past notAfter to expired and out of the migration counts", async () => {
    const r = await buildCryptoReport(t.gw, new Date(Date.now() + 100 * DAY));
    const tls = group(r, "dev-issuing", "tls-server");
    expect(tls).toMatchObject({ valid: 0, expired: 4, revoked: 1, quantumVulnerable: 0 });
    expect(tls.latestNotAfter).toBeUndefined();
    expect(r.totals).toMatchObject({ valid: 3, expired: 4, revoked: 1, quantumVulnerable: 3 });
    expect(r.replaceFirst.some((e) => e.profile === "tls-server")).toBe(false);
  });

  it("renders one CSV row per group and key algorithm", async () => {
    expect(cryptoReportCsv(await buildCryptoReport(t.gw)).split("\r\n")).toEqual([
      "issuer,profile,keyAlgorithm,signatureHashes,count,valid,expired,revoked,longLived,quantumVulnerable,quantumSafe,classicallyWeak",
      "dev-issuing,device,EC P-256,sha256,1,1,0,0,1,1,0,0",
      "dev-issuing,tls-server,EC P-256,sha256,3,2,0,1,0,2,0,0",
      "dev-issuing,tls-server,RSA 2048,sha256,2,2,0,0,0,2,0,0",
      "CN=P384 Test,(unmanaged),EC P-384,sha384,1,1,0,0,1,1,0,0",
      "CN=weak.test,(unmanaged),RSA 1024,sha1,1,1,0,0,0,1,0,1",
      "",
    ]);
  });

  it("is served by the admin API as JSON and text/csv", async () => {
    const json = await request(app).get("/admin/api/v1/reports/crypto").set("Authorization", `Bearer ${t.token}`);
    expect(json.status).toBe(200);
    expect(json.body.totals.certificates).toBe(8);
    expect(json.body.generatedAt).toMatch(/^\d{4}-/);
    const csv = await request(app).get("/admin/api/v1/reports/crypto").query({ format: "csv" }).set("Authorization", `Bearer ${t.token}`);
    expect(csv.status).toBe(200);
    expect(csv.headers["content-type"]).toMatch(/^text\/csv/);
    expect(csv.text.split("\r\n")).toHaveLength(7);
    const bad = await request(app).get("/admin/api/v1/reports/crypto").query({ format: "xml" }).set("Authorization", `Bearer ${t.token}`);
    expect(bad.status).toBe(400);
  });
});
