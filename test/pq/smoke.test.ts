// ML-DSA end to end through the admin API: an ML-DSA-65 dev PKI issues to an ML-DSA-44 key.
import { X509Certificate } from "node:crypto";
import request from "supertest";
import { afterAll, describe, expect, it } from "vitest";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { mlDsaCsr, pqProfile } from "../helpers/ml-dsa.js";

const PROFILE = pqProfile({ name: "pq-server", issuer: "default", protocols: ["acme", "est", "cmp", "admin"] });

let t: TestGateway;
afterAll(async () => t?.gw.close());

describe("ML-DSA smoke", () => {
  it("issues an ML-DSA-44 leaf from an ML-DSA-65 CA and the signature verifies", async () => {
    t = await testGateway({ devPki: { keyAlgorithm: "ml-dsa-65" } }, { "pq-server": PROFILE });
    const app = (await appsFor(t.gw)).https;
    const { pem } = mlDsaCsr({ level: 44, cn: "pq.example.com", dns: ["pq.example.com"] });
    const res = await request(app).post("/admin/api/v1/enroll").set({ authorization: `Bearer ${t.token}` }).send({ profile: "pq-server", csr: pem });
    expect(res.status, res.body.error?.message).toBe(201);
    const leaf = new X509Certificate(res.body.certificate);
    const ca = t.gw.cas.issuing[0];
    expect(leaf.publicKey.asymmetricKeyType).toBe("ml-dsa-44");
    expect(leaf.verify(ca.cert.publicKey)).toBe(true);
    expect(ca.cert.publicKey.asymmetricKeyType).toBe("ml-dsa-65");
  });
});
