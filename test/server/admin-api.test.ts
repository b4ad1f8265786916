import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import type { Express } from "express";
import { makeCsr, tempDir } from "../helpers/openssl.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";

let t: TestGateway;
let app: Express;
let dir: string;
const auth = () => ({ Authorization: `Bearer ${t.token}` });

beforeAll(async () => {
  t = await testGateway();
  app = (await appsFor(t.gw)).https;
  dir = tempDir();
});
afterAll(async () => t?.gw.close());

describe("admin API", () => {
  it("refuses missing and wrong tokens with 401 and WWW-Authenticate", async () => {
    const none = await request(app).get("/admin/api/v1/certificates");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(none.body.error.code).toBe("RA_ERR_UNAUTHORIZED");
    const wrong = await request(app).get("/admin/api/v1/certificates").set("Authorization", "Bearer gw_wrong");
    expect(wrong.status).toBe(401);
  });

  it("enrolls, finds the certificate by search, serves PEM and DER, revokes once", async () => {
    const { pem } = makeCsr(dir, "api", { sans: ["DNS:api.example.com"] });
    const res = await request(app).post("/admin/api/v1/enroll").set(auth()).send({ profile: "tls-server", csr: pem });
    expect(res.status).toBe(201);
    expect(res.body.certificate).toContain("BEGIN CERTIFICATE");
    const serial = res.body.serial as string;

    const search = await request(app).get("/admin/api/v1/certificates").query({ name: "api.example", status: "valid", profile: "tls-server", protocol: "admin" }).set(auth());
    expect(search.body.certificates.map((c: { serial: string }) => c.serial)).toEqual([serial]);
    const expiring = await request(app).get("/admin/api/v1/certificates").query({ expiringWithinDays: 91 }).set(auth());
    expect(expiring.body.certificates.length).toBe(1);
    const notYet = await request(app).get("/admin/api/v1/certificates").query({ expiringWithinDays: 30 }).set(auth());
    expect(notYet.body.certificates.length).toBe(0);

    const der = await request(app).get(`/admin/api/v1/certificates/${serial}`).query({ format: "der" }).set(auth()).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on("data", (c: Buffer) => chunks.push(c));
      r.on("end", () => cb(null, Buffer.concat(chunks)));
    });
    expect(der.headers["content-type"]).toContain("application/pkix-cert");
    expect((der.body as Buffer)[0]).toBe(0x30);

    const bad = await request(app).post(`/admin/api/v1/certificates/${serial}/revoke`).set(auth()).send({ reason: "removeFromCRL" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("RA_ERR_BAD_REVOCATION_REASON");
    const rev = await request(app).post(`/admin/api/v1/certificates/${serial}/revoke`).set(auth()).send({ reason: "keyCompromise" });
    expect(rev.status).toBe(200);
    expect(rev.body.reason).toBe("keyCompromise");
    const again = await request(app).post(`/admin/api/v1/certificates/${serial}/revoke`).set(auth()).send({ reason: "keyCompromise" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("RA_ERR_ALREADY_REVOKED");
    const revoked = await request(app).get("/admin/api/v1/certificates").query({ status: "revoked" }).set(auth());
    expect(revoked.body.certificates[0].revocationReason).toBe(1);
  });

  it("policy rejections come back as 4xx with the stable code", async () => {
    const { pem } = makeCsr(dir, "apibad", { sans: ["DNS:www.not-allowed.invalid"] });
    const res = await request(app).post("/admin/api/v1/enroll").set(auth()).send({ profile: "tls-server", csr: pem });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("RA_ERR_NAME_NOT_ALLOWED");
    const garbage = await request(app).post("/admin/api/v1/enroll").set(auth()).send({ profile: "tls-server", csr: Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).toString("base64") });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error.code).toBe("RA_ERR_DER_LIMIT");
  });

  it("caps request bodies", async () => {
    const res = await request(app).post("/admin/api/v1/enroll").set(auth()).set("content-type", "application/json").send(JSON.stringify({ csr: "A".repeat(200_000) }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("RA_ERR_BODY_TOO_LARGE");
  });

  it("approval flow: pending, listed, approved by an admin, issued; reject path; no double decision", async () => {
    const { pem } = makeCsr(dir, "signer", { subject: "/CN=Release Signing", sans: ["email:release@example.com"] });
    const res = await request(app).post("/admin/api/v1/enroll").set(auth()).send({ profile: "code-signing", csr: pem });
    expect(res.status).toBe(202);
    const id = res.body.requestId as string;
    const list = await request(app).get("/admin/api/v1/approvals").set(auth());
    expect(list.body.approvals.map((a: { id: string }) => a.id)).toContain(id);
    const metrics = await request(app).get("/metrics");
    expect(metrics.text).toMatch(/gateway_pending_approvals 1/);

    const ok = await request(app).post(`/admin/api/v1/approvals/${id}/approve`).set(auth()).send({ comment: "release 1.2" });
    expect(ok.status).toBe(200);
    expect(ok.body.certificate).toContain("BEGIN CERTIFICATE");
    const twice = await request(app).post(`/admin/api/v1/approvals/${id}/approve`).set(auth()).send({});
    expect(twice.status).toBe(409);
    const rec = await request(app).get(`/admin/api/v1/approvals/${id}`).set(auth());
    expect(rec.body.approval).toMatchObject({ status: "issued", decidedBy: "admin:bootstrap", certificateSerial: ok.body.serial });

    const { pem: pem2 } = makeCsr(dir, "signer2", { subject: "/CN=Nightly", sans: ["email:nightly@example.com"] });
    const res2 = await request(app).post("/admin/api/v1/enroll").set(auth()).send({ profile: "code-signing", csr: pem2 });
    const rej = await request(app).post(`/admin/api/v1/approvals/${res2.body.requestId}/reject`).set(auth()).send({ reason: "not a release" });
    expect(rej.status).toBe(200);
    const types = (await request(app).get("/admin/api/v1/audit").query({ target: res2.body.requestId }).set(auth())).body.events.map((e: { type: string }) => e.type);
    expect(types).toEqual(["request.pending", "request.rejected"]);
  });

  it("mints one-time enrollment secrets shown once and redeemable once", async () => {
    const res = await request(app).post("/admin/api/v1/enrollment-secrets").set(auth()).send({ profile: "device", subject: "router-9", protocols: ["est"], ttlMinutes: 10 });
    expect(res.status).toBe(201);
    const { id, secret } = res.body;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    const stored = (await t.gw.store.getSecret(id))!;
    expect(stored.secretHash).not.toContain(secret);
    const apps = await appsFor(t.gw);
    await expect(apps.secrets.redeem(id, "wrong", "est")).rejects.toThrow(/not valid/);
    await expect(apps.secrets.redeem(id, secret, "scep")).rejects.toThrow(/not valid/);
    expect((await apps.secrets.redeem(id, secret, "est")).subject).toBe("router-9");
    await expect(apps.secrets.redeem(id, secret, "est")).rejects.toThrow(/not valid/);
  });

  it("refuses a one-time secret for a protocol its profile refuses or does not know; by default mints for what the profile offers", async () => {
    const refused = await request(app).post("/admin/api/v1/enrollment-secrets").set(auth()).send({ profile: "code-signing", protocols: ["scep"] });
    expect(refused.status, JSON.stringify(refused.body)).toBe(400);
    expect(refused.body.error.message).toContain("not offered over scep");
    const unknown = await request(app).post("/admin/api/v1/enrollment-secrets").set(auth()).send({ profile: "device", protocols: ["acme"] });
    expect(unknown.status).toBe(400);
    const byDefault = await request(app).post("/admin/api/v1/enrollment-secrets").set(auth()).send({ profile: "code-signing" });
    expect(byDefault.status).toBe(201);
    const offered = t.gw.profiles.get("code-signing").protocols;
    expect(byDefault.body.protocols.length).toBeGreaterThan(0);
    for (const p of byDefault.body.protocols) expect(offered).toContain(p);
    expect(byDefault.body.protocols).not.toContain("scep");
  });

  it("audit verify, health, readiness and metrics", async () => {
    expect((await request(app).get("/admin/api/v1/audit/verify").set(auth())).body.ok).toBe(true);
    expect((await request(app).get("/healthz")).status).toBe(200);
    const ready = await request(app).get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toMatchObject({ database: true, "signer:dev-issuing": true });
    const m = (await request(app).get("/metrics")).text;
    expect(m).toMatch(/gateway_issuances_total\{protocol="admin",profile="tls-server"\} 1/);
    expect(m).toMatch(/gateway_enrollment_requests_total\{protocol="admin",profile="tls-server",result="rejected"\} [1-9]/);
    expect(m).toContain("gateway_issuance_duration_seconds_bucket");
    expect(m).toContain("gateway_signer_duration_seconds_bucket");
    expect(m).toMatch(/gateway_certificates_expiring \d/);
  });

  it("logs carry a request id, echoed in X-Request-Id", async () => {
    const res = await request(app).get("/healthz").set("X-Request-Id", "abc-123");
    expect(res.headers["x-request-id"]).toBe("abc-123");
    const res2 = await request(app).get("/healthz").set("X-Request-Id", "bad id with spaces");
    expect(res2.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});
