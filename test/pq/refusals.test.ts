// ML-DSA requests the gateway must refuse (RFC 9881 encodings, profile key rules): each refused by the policy layer
// with its own code and a message that names the fault, and the same through POST /admin/api/v1/enroll, where the
// client sees the HTTP status and the code. Nothing refused is ever stored as a certificate.
import request from "supertest";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { GatewayError } from "../../src/errors.js";
import { parseCsr } from "../../src/policy/csr.js";
import type { EnrollmentRequest } from "../../src/policy/request.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { mlDsaCsr, mlDsaKeys, type MlDsaCsrOptions } from "../helpers/ml-dsa.js";

const profile = (name: string, keys: string) => `name: ${name}
issuer: default
protocols: [admin]
keys:
${keys}
names:
  dns: { suffixes: [example.com] }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [serverAuth]
`;
const PROFILES = {
  "pq-any": profile("pq-any", "  - { type: ml-dsa }"),
  "pq-87": profile("pq-87", "  - { type: ml-dsa, levels: [87] }"),
  "ec-only": profile("ec-only", "  - { type: ec, curves: [P-256] }"),
};

let t: TestGateway;
let app: Express;
beforeAll(async () => {
  t = await testGateway({}, PROFILES);
  app = (await appsFor(t.gw)).https as Express;
});
afterAll(async () => t?.gw.close());

interface Case {
  what: string;
  csr: Omit<MlDsaCsrOptions, "cn" | "dns">;
  profile: string;
  code: string;
  status: number;
  message: RegExp;
}
const CASES: Case[] = [
  { what: "a bad self-signature", csr: { level: 65, broken: "signature" }, profile: "pq-any", code: "RA_ERR_BAD_CSR_SIGNATURE", status: 400, message: /^CSR signature does not verify/ },
  { what: "a public key one byte short", csr: { level: 44, broken: "key-length" }, profile: "pq-any", code: "RA_ERR_KEY_WEAK", status: 403, message: /^ML-DSA-44 public key is 1311 bytes, not 1312$/ },
  {
    what: "NULL parameters in the key's AlgorithmIdentifier", csr: { level: 65, broken: "key-parameters" }, profile: "pq-any", code: "RA_ERR_MALFORMED", status: 400,
    message: /^ML-DSA-65 public key: the AlgorithmIdentifier must have no parameters \(RFC 9881\)$/,
  },
  {
    what: "NULL parameters in the signature AlgorithmIdentifier", csr: { level: 87, broken: "signature-parameters" }, profile: "pq-any", code: "RA_ERR_MALFORMED", status: 400,
    message: /^CSR signature algorithm: an ML-DSA AlgorithmIdentifier must have no parameters \(RFC 9881\)$/,
  },
  {
    what: "a signature OID of another level than the key", csr: { level: 44, broken: "wrong-level-oid" }, profile: "pq-any", code: "RA_ERR_BAD_CSR_SIGNATURE", status: 400,
    message: /^CSR signature algorithm is ML-DSA-65 but its public key is ML-DSA-44$/,
  },
  {
    what: "a valid ML-DSA-65 request under a profile without ML-DSA", csr: { level: 65 }, profile: "ec-only", code: "RA_ERR_KEY_NOT_ALLOWED", status: 403,
    message: /^ML-DSA-65 keys are not allowed by this profile \(it allows EC P-256\)$/,
  },
  {
    what: "a valid ML-DSA-44 request under a profile allowing only ML-DSA-87", csr: { level: 44 }, profile: "pq-87", code: "RA_ERR_KEY_NOT_ALLOWED", status: 403,
    message: /^ML-DSA-44 keys are not allowed by this profile \(it allows ML-DSA-87\)$/,
  },
];

const csrFor = (c: Case, cn: string) => mlDsaCsr({ ...c.csr, cn, dns: [cn] });
const req = (csr: Uint8Array, profile: string): EnrollmentRequest =>
  ({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "test" }, profile, csr });

describe("ML-DSA refusals in the policy layer", () => {
  it.each(CASES)("$what: $code", async (c) => {
    const before = (await t.gw.store.findCertificates({})).length;
    const r = req(csrFor(c, "policy.example.com").der, c.profile);
    const e = await t.gw.enrollment.enroll(r).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe(c.code);
    expect((e as GatewayError).message).toMatch(c.message);
    expect((await t.gw.store.findCertificates({})).length).toBe(before);
  });

  it("the well-formed requests of those cases are accepted: each refusal is the fault's, not ML-DSA's", async () => {
    for (const level of [44, 65, 87] as const) {
      const out = await t.gw.enrollment.enroll(req(mlDsaCsr({ level, cn: `ok${level}.example.com`, dns: [`ok${level}.example.com`] }).der, "pq-any"));
      expect(out.status).toBe("issued");
    }
    expect((await t.gw.enrollment.enroll(req(mlDsaCsr({ level: 87, cn: "ok.example.com", dns: ["ok.example.com"] }).der, "pq-87"))).status).toBe("issued");
  });

  it("the CSR parser alone says the same, before any profile is looked at", () => {
    const keys = mlDsaKeys(65);
    expect(() => parseCsr(mlDsaCsr({ level: 65, cn: "x", keys, broken: "signature" }).der)).toThrow(/^CSR signature does not verify/);
    expect(parseCsr(mlDsaCsr({ level: 65, cn: "x", keys }).der).publicKey.asymmetricKeyType).toBe("ml-dsa-65");
  });
});

describe("ML-DSA refusals through POST /admin/api/v1/enroll", () => {
  it.each(CASES)("$what: HTTP $status $code", async (c) => {
    const res = await request(app).post("/admin/api/v1/enroll").set({ authorization: `Bearer ${t.token}` })
      .send({ profile: c.profile, csr: csrFor(c, "http.example.com").pem });
    expect(res.status, JSON.stringify(res.body)).toBe(c.status);
    expect(res.body.error).toMatchObject({ code: c.code, message: expect.stringMatching(c.message) });
    expect(res.body.certificate).toBeUndefined();
  });
});
