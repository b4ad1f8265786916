// The crypto inventory report with ML-DSA: certificates issued here with ML-DSA keys count as quantum-safe, next to the
// quantum-vulnerable P-256 ones, in the totals, per group, per key, per CA and in the CSV, read through the admin API.
import { join } from "node:path";
import request from "supertest";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCaPair } from "../../src/ca/init.js";
import { buildCryptoReport, type CryptoReport, type ReportGroup } from "../../src/inventory/crypto-report.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { mlDsaCsr, pqProfile, type Level } from "../helpers/ml-dsa.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";

const PQ_PROFILE = (name: string, issuer: string) => pqProfile({ name, issuer, keys: ["{ type: ml-dsa }"] });

let t: TestGateway;
let app: Express;
const auth = () => ({ authorization: `Bearer ${t.token}` });

async function enroll(profile: string, csr: string): Promise<string> {
  const res = await request(app).post("/admin/api/v1/enroll").set(auth()).send({ profile, csr });
  expect(res.status, JSON.stringify(res.body.error)).toBe(201);
  return res.body.serial as string;
}
const revoke = async (serial: string) =>
  expect((await request(app).post(`/admin/api/v1/certificates/${serial}/revoke`).set(auth()).send({ reason: "superseded" })).status).toBe(200);
const pq = (level: Level, cn: string) => mlDsaCsr({ level, cn, dns: [cn] }).pem;

beforeAll(async () => {
  // An EC P-256 root and issuing CA, and an ML-DSA-87 root with an ML-DSA-65 issuing CA, in one gateway.
  const dataDir = join(tempDir("pq-report-"), "data");
  const common = { casDir: join(dataDir, "cas"), httpBase: "http://127.0.0.1:8080" };
  await initCaPair({ ...common, rootName: "dev-root", rootSubject: "CN=Report EC Root", issuingName: "dev-issuing", issuingSubject: "CN=Report EC Issuing", keyAlgorithm: "ec-p256" });
  await initCaPair({
    ...common, rootName: "pq-root", rootSubject: "CN=Report ML-DSA Root", issuingName: "pq-issuing", issuingSubject: "CN=Report ML-DSA Issuing",
    keyAlgorithm: "ml-dsa-65", rootKeyAlgorithm: "ml-dsa-87",
  });
  t = await testGateway({ dataDir }, { "pq-server": PQ_PROFILE("pq-server", "pq-issuing"), "pq-under-ec": PQ_PROFILE("pq-under-ec", "dev-issuing") });
  app = (await appsFor(t.gw)).https as Express;

  const dir = tempDir();
  // Classical: two P-256 leaves from the EC CA, one of them revoked.
  await enroll("tls-server", makeCsr(dir, "a", { sans: ["DNS:a.example.com"] }).pem);
  await revoke(await enroll("tls-server", makeCsr(dir, "b", { sans: ["DNS:b.example.com"] }).pem));
  // Post-quantum: one leaf per level from the ML-DSA CA plus a revoked ML-DSA-65 one, and an ML-DSA-65 leaf from the EC CA.
  for (const level of [44, 65, 87] as const) await enroll("pq-server", pq(level, `pq${level}.example.com`));
  await revoke(await enroll("pq-server", pq(65, "gone.example.com")));
  await enroll("pq-under-ec", pq(65, "mixed.example.com"));
});
afterAll(async () => t?.gw.close());

const group = (r: CryptoReport, issuer: string, profile: string) => r.groups.find((g) => g.issuer === issuer && g.profile === profile) as ReportGroup;

describe("crypto report with ML-DSA certificates", () => {
  it("counts valid ML-DSA certificates as quantum-safe and P-256 ones as quantum-vulnerable, revoked ones as neither", async () => {
    const r = (await request(app).get("/admin/api/v1/reports/crypto").set(auth())).body as CryptoReport;
    expect(r.totals).toMatchObject({ certificates: 7, managed: 7, valid: 5, revoked: 2, quantumVulnerable: 1, quantumSafe: 4, classicallyWeak: 0 });

    const pqGroup = group(r, "pq-issuing", "pq-server");
    expect(pqGroup).toMatchObject({
      total: 4, valid: 3, revoked: 1, quantumVulnerable: 0, quantumSafe: 3, keys: { "ML-DSA-44": 1, "ML-DSA-65": 2, "ML-DSA-87": 1 }, signatureHashes: { "ml-dsa": 4 },
    });
    expect(pqGroup.byKey.map((k) => [k.keyAlgorithm, k.count, k.valid, k.revoked, k.quantumSafe, k.quantumVulnerable])).toEqual([
      ["ML-DSA-65", 2, 1, 1, 1, 0], ["ML-DSA-44", 1, 1, 0, 1, 0], ["ML-DSA-87", 1, 1, 0, 1, 0],
    ]);
    // The key decides: an ML-DSA leaf is quantum-safe even when its (ECDSA) CA is not; the CA is listed for that.
    expect(group(r, "dev-issuing", "pq-under-ec")).toMatchObject({ valid: 1, quantumSafe: 1, quantumVulnerable: 0, signatureHashes: { sha256: 1 } });
    expect(group(r, "dev-issuing", "tls-server")).toMatchObject({ valid: 1, revoked: 1, quantumSafe: 0, quantumVulnerable: 1, keys: { "EC P-256": 2 } });

    expect(r.cas.map((c) => [c.name, c.keyAlgorithm, c.signatureAlgorithm, c.quantumSafe, c.quantumVulnerable, c.dependents]).sort()).toEqual([
      ["dev-issuing", "EC P-256", "ecdsa-with-SHA256", false, true, 2],
      ["dev-root", "EC P-256", "ecdsa-with-SHA256", false, true, 2],
      ["pq-issuing", "ML-DSA-65", "ML-DSA-87", true, false, 3],
      ["pq-root", "ML-DSA-87", "ML-DSA-87", true, false, 3],
    ]);
    // Migrate first: the classical CAs and the classical group, never what is already post-quantum.
    expect(r.replaceFirst.map((e) => [e.kind, e.issuer, e.profile])).toEqual([
      ["ca", "dev-root", undefined], ["ca", "dev-issuing", undefined], ["group", "dev-issuing", "tls-server"],
    ]);
  });

  it("has a quantumSafe CSV column next to quantumVulnerable", async () => {
    const res = await request(app).get("/admin/api/v1/reports/crypto").query({ format: "csv" }).set(auth());
    expect(res.status).toBe(200);
    expect(res.text.split("\r\n")).toEqual([
      "issuer,profile,keyAlgorithm,signatureHashes,count,valid,expired,revoked,longLived,quantumVulnerable,quantumSafe,classicallyWeak",
      "dev-issuing,pq-under-ec,ML-DSA-65,sha256,1,1,0,0,0,0,1,0",
      "dev-issuing,tls-server,EC P-256,sha256,2,1,0,1,0,1,0,0",
      "pq-issuing,pq-server,ML-DSA-65,ml-dsa,2,1,0,1,0,0,1,0",
      "pq-issuing,pq-server,ML-DSA-44,ml-dsa,1,1,0,0,0,0,1,0",
      "pq-issuing,pq-server,ML-DSA-87,ml-dsa,1,1,0,0,0,0,1,0",
      "",
    ]);
  });

  it("expired ML-DSA certificates leave the quantum-safe count like any other", async () => {
    const r = await buildCryptoReport(t.gw, new Date(Date.now() + 100 * 86_400_000));
    expect(r.totals).toMatchObject({ valid: 0, expired: 5, revoked: 2, quantumSafe: 0, quantumVulnerable: 0 });
  });
});
