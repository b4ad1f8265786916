// Profile rules for ML-DSA keys: RFC 9881 section 5 forbids the encipherment and key-agreement keyUsage bits with an
// ML-DSA subject key. Such a profile is refused when profiles load (check-config lists it, the gateway does not start);
// the pre-signing lint finds the same on a certificate if a profile ever got past that. A profile can also require ML-DSA.
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import request from "supertest";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lintEndEntity } from "../../src/ca/lint.js";
import { newSerial } from "../../src/ca/serial.js";
import { EndEntityTemplates } from "../../src/ca/template.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { decide } from "../../src/policy/decide.js";
import { checkProfile, KEY_USAGES, ML_DSA_FORBIDDEN_KEY_USAGES, type Profile } from "../../src/policy/profile.js";
import type { EnrollmentRequest } from "../../src/policy/request.js";
import { runGatewayCli } from "../helpers/cli.js";
import { appsFor, ROOT, testGateway, type TestGateway } from "../helpers/gateway.js";
import { mlDsaCsr } from "../helpers/ml-dsa.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";

const yamlProfile = (name: string, keys: string, keyUsage: string) => `name: ${name}
issuer: default
protocols: [admin]
keys: ${keys}
names:
  dns: { suffixes: [example.com] }
validity: { default: 30d, max: 90d }
keyUsage: ${keyUsage}
`;
const raw = (keys: unknown[], keyUsage: string[]) => ({
  name: "p", protocols: ["admin"], keys, names: { dns: { suffixes: ["example.com"] } }, validity: { default: "30d", max: "90d" }, keyUsage,
});
const ML_DSA = { type: "ml-dsa" };
const EC = { type: "ec" };

describe("profiles load: ML-DSA keys with a keyUsage RFC 9881 forbids", () => {
  it.each(ML_DSA_FORBIDDEN_KEY_USAGES)("%s with an ml-dsa key rule is refused, saying why", (ku) => {
    const r = checkProfile(raw([ML_DSA], ["digitalSignature", ku]));
    expect(r.profile).toBeUndefined();
    expect(r.problems).toEqual([
      `keyUsage ${ku} cannot be given to the ML-DSA keys this profile allows (RFC 9881 section 5: ML-DSA keys only sign; `
      + "use digitalSignature or nonRepudiation, or put the ml-dsa key rule in a profile of its own)",
    ]);
  });

  it("also when the profile allows classical keys beside ML-DSA (the ML-DSA certificates would carry the bit); all bits are named", () => {
    const r = checkProfile(raw([EC, { type: "ml-dsa", levels: [87] }], ["digitalSignature", "keyEncipherment", "keyAgreement"]));
    expect(r.problems).toEqual([expect.stringMatching(/^keyUsage keyEncipherment, keyAgreement cannot be given to the ML-DSA keys/)]);
  });

  it("the signing bits are accepted with ML-DSA, and encipherment stays allowed for classical keys alone", () => {
    const signing = KEY_USAGES.filter((u) => !ML_DSA_FORBIDDEN_KEY_USAGES.includes(u));
    expect(signing).toEqual(["digitalSignature", "nonRepudiation", "keyCertSign", "cRLSign"]);
    expect(checkProfile(raw([ML_DSA], ["digitalSignature", "nonRepudiation"])).problems).toEqual([]);
    expect(checkProfile(raw([EC, { type: "rsa" }], ["digitalSignature", "keyEncipherment"])).problems).toEqual([]);
  });

  it("gateway check-config lists the profile with its file and the reason (exit 2); the gateway refuses to start", async () => {
    const dir = tempDir("pq-profiles-");
    cpSync(join(ROOT, "profiles"), join(dir, "profiles"), { recursive: true });
    const file = join(dir, "profiles", "pq-encipher.yaml");
    writeFileSync(file, yamlProfile("pq-encipher", "[{ type: ml-dsa, levels: [65] }]", "[digitalSignature, keyEncipherment]"));
    const cfg = join(dir, "gateway.yaml");
    writeFileSync(cfg, "dataDir: ./data\nprofilesDir: ./profiles\nlog: { level: silent }\n");
    const r = await runGatewayCli(["check-config", "--config", cfg]);
    expect(r.code, r.stderr).toBe(2);
    const problems = r.stderr.split("\n").filter((l) => l.startsWith("  - ")).map((l) => l.slice(4));
    expect(problems).toEqual([`profile ${file}: keyUsage keyEncipherment cannot be given to the ML-DSA keys this profile allows `
      + "(RFC 9881 section 5: ML-DSA keys only sign; use digitalSignature or nonRepudiation, or put the ml-dsa key rule in a profile of its own)"]);

    const start = await testGateway({}, { "pq-encipher": yamlProfile("pq-encipher", "[{ type: ml-dsa }]", "[digitalSignature, dataEncipherment]") })
      .then(async (t) => t.gw.close(), (e: unknown) => e);
    expect(String((start as Error)?.message)).toMatch(/pq-encipher\.yaml: keyUsage dataEncipherment cannot be given to the ML-DSA keys/);
  });
});

const REQUIRE_ML_DSA = yamlProfile("pq-only", "[{ type: ml-dsa }]", "[digitalSignature]");
/** Allows both kinds: the lint test widens its keyUsage after loading, as if the load check had been bypassed. */
const MIXED = yamlProfile("mixed", "[{ type: ec }, { type: ml-dsa }]", "[digitalSignature]");

let t: TestGateway;
let app: Express;
beforeAll(async () => {
  t = await testGateway({}, { "pq-only": REQUIRE_ML_DSA, mixed: MIXED });
  app = (await appsFor(t.gw)).https as Express;
});
afterAll(async () => t?.gw.close());

const req = (csr: Uint8Array, profile: string): EnrollmentRequest =>
  ({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "test" }, profile, csr });

describe("a profile that requires ML-DSA", () => {
  it("refuses a P-256 request with RA_ERR_KEY_NOT_ALLOWED, in the engine and over the admin API, and issues to ML-DSA", async () => {
    const ec = makeCsr(tempDir(), "p256", { sans: ["DNS:classic.example.com"] });
    await expect(t.gw.enrollment.enroll(req(ec.der, "pq-only"))).rejects.toMatchObject({
      code: "RA_ERR_KEY_NOT_ALLOWED", message: "EC P-256 keys are not allowed by this profile (it allows ML-DSA-44, ML-DSA-65, ML-DSA-87)",
    });
    const res = await request(app).post("/admin/api/v1/enroll").set({ authorization: `Bearer ${t.token}` }).send({ profile: "pq-only", csr: ec.pem });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("RA_ERR_KEY_NOT_ALLOWED");
    const ok = await request(app).post("/admin/api/v1/enroll").set({ authorization: `Bearer ${t.token}` })
      .send({ profile: "pq-only", csr: mlDsaCsr({ level: 65, cn: "pq.example.com", dns: ["pq.example.com"] }).pem });
    expect(ok.status, JSON.stringify(ok.body.error)).toBe(201);
  });
});

describe("the pre-signing lint, should such a profile get past loading", () => {
  const widened = (p: Profile): Profile => ({ ...p, keyUsage: ["digitalSignature", "keyEncipherment", "keyAgreement"] });

  it("finds the forbidden bits on an ML-DSA certificate, not on a P-256 one under the same profile", () => {
    const ca = t.gw.cas.get("dev-issuing");
    const templates = new EndEntityTemplates({ http: "http://127.0.0.1:8080" });
    const plan = (csr: Uint8Array) => {
      const d = decide(req(csr, "mixed"), { profiles: t.gw.profiles, defaultProfile: "tls-server" });
      if (d.decision !== "issue") throw new Error(`expected issue, got ${d.decision}`);
      return { ...d.plan, profile: widened(d.plan.profile) };
    };
    const pq = plan(mlDsaCsr({ level: 65, cn: "l.example.com", dns: ["l.example.com"] }).der);
    expect(lintEndEntity(templates.prepare(pq, ca, newSerial()), pq, ca))
      .toEqual(["keyUsage keyEncipherment, keyAgreement with an ML-DSA-65 key (RFC 9881 allows signing uses only)"]);
    const ec = plan(makeCsr(tempDir(), "lint", { sans: ["DNS:l.example.com"] }).der);
    expect(lintEndEntity(templates.prepare(ec, ca, newSerial()), ec, ca)).toEqual([]);
  });

  it("stops the issuance in the engine: lint failure audited, nothing signed", async () => {
    const loaded = t.gw.profiles.get("mixed");
    const before = (await t.gw.store.findCertificates({})).length;
    loaded.keyUsage.push("keyEncipherment"); // the load check refuses this; here it is done behind its back
    try {
      const r = req(mlDsaCsr({ level: 44, cn: "e.example.com", dns: ["e.example.com"] }).der, "mixed");
      await expect(t.gw.enrollment.enroll(r)).rejects.toMatchObject({ code: "RA_ERR_LINT_FAILED" });
      const ev = await t.gw.store.queryAudit({ type: "issuance.lint_failed", target: r.requestId });
      expect(ev[0].data.findings).toEqual(["keyUsage keyEncipherment with an ML-DSA-44 key (RFC 9881 allows signing uses only)"]);
      expect((await t.gw.store.findCertificates({})).length).toBe(before);
    } finally {
      loaded.keyUsage.pop();
    }
  });
});
