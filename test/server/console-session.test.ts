import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import type { Express } from "express";
import { makeCsr, tempDir } from "../helpers/openssl.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";

/** The console's server side: token → session cookie, CSRF on changes, static files under a strict CSP, the console's reads. */
let t: TestGateway;
let app: Express;
beforeAll(async () => {
  t = await testGateway();
  app = (await appsFor(t.gw)).https;
});
afterAll(async () => t?.gw.close());

async function login(): Promise<{ cookie: string; csrf: string }> {
  const res = await request(app).post("/console/api/login").send({ token: t.token });
  expect(res.status).toBe(200);
  const set = String(res.headers["set-cookie"]);
  expect(set).toMatch(/gw_console=[A-Za-z0-9_-]{43}; HttpOnly; Secure; SameSite=Strict; Path=\//);
  return { cookie: set.split(";")[0], csrf: res.body.csrfToken };
}

describe("console sessions", () => {
  it("a wrong token gets 401 and is audited; a session reads the admin API and changes it only with the CSRF token", async () => {
    expect((await request(app).post("/console/api/login").send({ token: "gw_nope" })).status).toBe(401);
    expect(await t.gw.store.queryAudit({ type: "console.login_failed" })).toHaveLength(1);
    const { cookie, csrf } = await login();
    expect((await request(app).get("/console/api/session").set("Cookie", cookie)).body.csrfToken).toBe(csrf);
    expect((await request(app).get("/admin/api/v1/dashboard").set("Cookie", cookie)).status).toBe(200);
    const without = await request(app).post("/admin/api/v1/lifecycle/scan").set("Cookie", cookie).send({});
    expect(without.status).toBe(403);
    expect(without.body.error.code).toBe("RA_ERR_CSRF");
    expect((await request(app).post("/admin/api/v1/lifecycle/scan").set("Cookie", cookie).set("X-CSRF-Token", `${csrf}x`).send({})).status).toBe(403);
    expect((await request(app).post("/admin/api/v1/lifecycle/scan").set("Cookie", cookie).set("X-CSRF-Token", csrf).send({})).status).toBe(200);
    // Logged out, the cookie is worth nothing.
    expect((await request(app).post("/console/api/logout").set("Cookie", cookie).set("X-CSRF-Token", csrf)).status).toBe(204);
    expect((await request(app).get("/admin/api/v1/dashboard").set("Cookie", cookie)).status).toBe(401);
    expect((await request(app).get("/console/api/session").set("Cookie", cookie)).status).toBe(401);
  });

  it("serves the page and its libraries from the gateway under a CSP that admits only the import map inline", async () => {
    const page = await request(app).get("/console/");
    expect(page.status).toBe(200);
    expect(page.text).toContain('<script type="importmap">');
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]{44}'/);
    expect(csp).toContain("frame-ancestors 'none'");
    for (const f of ["preact.mjs", "hooks.mjs", "htm.mjs"]) {
      const lib = await request(app).get(`/console/vendor/${f}`);
      expect(lib.status).toBe(200);
      expect(lib.headers["content-type"]).toContain("text/javascript");
    }
    expect((await request(app).get("/console/vendor/evil.mjs")).status).toBe(404);
  });

  it("details decode a certificate's extensions with its request and audit history; approvals carry names and key; the dashboard counts", async () => {
    const { pem } = makeCsr(tempDir(), "console", { sans: ["DNS:console.example.com"], key: "rsa-2048" });
    const issued = await request(app).post("/admin/api/v1/enroll").set("Authorization", `Bearer ${t.token}`).send({ profile: "tls-server", csr: pem });
    const d = await request(app).get(`/admin/api/v1/certificates/${issued.body.serial}/details`).set("Authorization", `Bearer ${t.token}`);
    expect(d.status).toBe(200);
    const ext = Object.fromEntries(d.body.decoded.extensions.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(ext.subjectAltName).toBe("dns:console.example.com");
    expect(ext.keyUsage).toContain("digitalSignature");
    expect(ext.extendedKeyUsage).toBe("serverAuth");
    expect(ext.basicConstraints).toBe("CA:FALSE");
    expect(d.body.decoded.publicKey).toMatchObject({ algorithm: "RSA 2048", size: 2048 });
    expect(d.body.request).toMatchObject({ protocol: "admin", profile: "tls-server", status: "issued" });
    expect(d.body.audit.map((e: { type: string }) => e.type)).toContain("certificate.issued");
    expect(d.body.chainPem).toContain("BEGIN CERTIFICATE");

    const { pem: signing } = makeCsr(tempDir(), "approval", { subject: "/CN=Release Signing", sans: ["email:release@example.com"] });
    await request(app).post("/admin/api/v1/enroll").set("Authorization", `Bearer ${t.token}`).send({ profile: "code-signing", csr: signing });
    const approvals = await request(app).get("/admin/api/v1/approvals").set("Authorization", `Bearer ${t.token}`);
    expect(approvals.body.approvals.at(-1).summary).toMatchObject({ key: "EC P-256", names: ["email:release@example.com"], subject: "CN=Release Signing" });

    const dash = await request(app).get("/admin/api/v1/dashboard?weeks=20").set("Authorization", `Bearer ${t.token}`);
    expect(dash.body.totals).toMatchObject({ valid: 1, pendingApprovals: 1 });
    expect(dash.body.expiringByWeek).toHaveLength(20);
    expect(dash.body.expiringByWeek.reduce((n: number, w: { count: number }) => n + w.count, 0)).toBe(1);
    expect(dash.body.byProfile).toEqual([{ profile: "tls-server", valid: 1, expiringSoon: 0 }]);
  });
});
