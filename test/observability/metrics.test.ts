import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { rawRequest, type Raw } from "../est/front-compare.js";
import { basicUser, curl, estEnv, makeCsr, pkcs10, pkcs7Certs, EST_USER, type EstEnv } from "../est/setup.js";
import { opensslAsync } from "../helpers/openssl.js";
import { ROOT } from "../helpers/gateway.js";
import { promqlMetricNames, scrapedNames, seriesOf } from "./promql.js";

/*
 * A real gateway (HTTPS and HTTP listeners) driven by real clients: curl enrolls over EST, openssl asks OCSP,
 * the admin API revokes and publishes a CRL. Then /metrics must hold every metric the shipped Grafana dashboard
 * and Prometheus alert rules query, with route labels that are templates; the request id a client sent must come
 * back in X-Request-Id and sit in the audit event of the enrollment it made; access lines carry the full path,
 * the client address and the id, and no secret.
 */

let env: EstEnv;
let ca: string;
const logLines: Array<Record<string, unknown>> = [];
let logText = "";

beforeAll(async () => {
  env = await estEnv();
  ca = readFileSync(env.rootPem, "utf8");
  // The access lines of this gateway, captured (the test gateway logs nothing by default).
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logText += chunk.toString();
      for (const l of chunk.toString().split("\n")) if (l.trim()) logLines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  env.t.gw.log = pino({ level: "info" }, sink);
  // The listeners were started with the silent logger: restart them so the requests log to the capture.
  await env.servers.close();
  const { startServers } = await import("../../src/server/listen.js");
  env.servers = await startServers(env.t.gw);
  env.base = `https://localhost:${env.servers.httpsPort}/.well-known/est`;
  env.adminBase = `https://localhost:${env.servers.httpsPort}/admin/api/v1`;
}, 120_000);
afterAll(async () => {
  // env.close() would close the listeners estEnv started (closed above), not these.
  await env?.servers.close();
  await env?.t.gw.close();
});

const admin = (path: string, method = "GET", body?: unknown): Promise<Raw> =>
  rawRequest(`${env.adminBase}${path}`, {
    method, headers: { Authorization: `Bearer ${env.t.token}`, "Content-Type": "application/json", "X-Request-Id": `obs-admin-${method.toLowerCase()}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  }, ca);

async function ocspStatus(leaf: string): Promise<string> {
  const r = await opensslAsync(["ocsp", "-issuer", env.issuingPem, "-cert", leaf, "-url", `http://127.0.0.1:${env.servers.httpPort}/ocsp`, "-noverify", "-no_nonce"]);
  if (r.code !== 0) throw new Error(`openssl ocsp failed:\n${r.out}`);
  return r.out;
}

describe("metrics, request ids and access lines of a real gateway", () => {
  let serial = "";
  let leaf = "";
  let metrics = "";

  it("drives an enrollment, a refusal, OCSP, a revocation and a CRL through real clients", async () => {
    const csr = makeCsr(env.dir, "obs-ok", { subject: "/CN=obs-ok.example.com", sans: "DNS:obs-ok.example.com" });
    const ok = await curl(env, [...basicUser, ...pkcs10, "-H", "X-Request-Id: obs-enroll-1", "--data-binary", `@${csr.body}`, `${env.base}/simpleenroll`]);
    expect(ok.status).toBe(200);
    expect(ok.headers["x-request-id"]).toBe("obs-enroll-1");
    const certs = await pkcs7Certs(env.dir, "obs-ok", ok.body);
    leaf = join(env.dir, "obs-ok-leaf.pem");
    writeFileSync(leaf, certs.pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/)![0]);
    const r = await opensslAsync(["x509", "-in", leaf, "-noout", "-serial"]);
    serial = r.out.trim().replace(/^serial=/, "").toLowerCase();
    expect(serial).toMatch(/^[0-9a-f]{16,}$/);

    // A name outside the profile: refused with a code, and a generated id comes back.
    const bad = makeCsr(env.dir, "obs-bad", { subject: "/CN=obs-bad.invalid", sans: "DNS:obs-bad.invalid" });
    const refused = await curl(env, [...basicUser, ...pkcs10, "-H", "X-Request-Id: not a sane id!", "--data-binary", `@${bad.body}`, `${env.base}/simpleenroll`]);
    expect(refused.status).toBe(403);
    expect(refused.headers["x-error-code"]).toBe("RA_ERR_NAME_NOT_ALLOWED");
    expect(refused.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);

    expect(await ocspStatus(leaf)).toMatch(/: good/);
    const rev = await admin(`/certificates/${serial}/revoke`, "POST", { reason: "keyCompromise" });
    expect(rev.status).toBe(200);
    expect(rev.headers["x-request-id"]).toBe("obs-admin-post");
    expect(await ocspStatus(leaf)).toMatch(/: revoked/);
    expect((await admin("/cas/dev-issuing/crl", "POST", {})).status).toBeLessThan(300);
    // A raw OCSP GET (its DER in the path) and a request nobody serves, for the route label checks below.
    expect((await rawRequest(`http://127.0.0.1:${env.servers.httpPort}/ocsp/MAMCAQA%3D`)).status).toBe(200);
    expect((await rawRequest(`https://localhost:${env.servers.httpsPort}/no/such/${serial}`, {}, ca)).status).toBe(404);

    // ACME and SCEP: a directory, a nonce, a refused JWS and a GetCACaps, for their labels.
    const https = `https://localhost:${env.servers.httpsPort}`;
    expect((await rawRequest(`${https}/acme/directory`, {}, ca)).status).toBe(200);
    expect((await rawRequest(`${https}/acme/new-nonce`, { method: "HEAD" }, ca)).status).toBe(200);
    const jws = await rawRequest(`${https}/acme/new-order`, { method: "POST", headers: { "Content-Type": "application/jose+json" }, body: "{}" }, ca);
    expect(jws.status).toBe(400);
    expect((await rawRequest(`http://127.0.0.1:${env.servers.httpPort}/scep?operation=GetCACaps`)).status).toBe(200);
    // CMP refuses in-band: HTTP 200 with an error PKIMessage, still a refusal.
    const cmp = await rawRequest(`http://127.0.0.1:${env.servers.httpPort}/.well-known/cmp`, { method: "POST", headers: { "Content-Type": "application/pkixcmp" }, body: Buffer.from("3003020101", "hex") });
    expect(cmp.status).toBe(200);

    const scrape = await rawRequest(`https://localhost:${env.servers.httpsPort}/metrics`, {}, ca);
    expect(scrape.status).toBe(200);
    metrics = scrape.body.toString();
  }, 120_000);

  it("every metric the dashboard and the alert rules query is exported", () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, "docs/monitoring/grafana-dashboard.json"), "utf8")) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(15);
    const alerts = parseYaml(readFileSync(join(ROOT, "docs/monitoring/alerts.yaml"), "utf8")) as { groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; for?: string }> }> };
    expect(alerts.groups.map((g) => g.name)).toEqual(["gateway-availability", "gateway-pki", "gateway-events"]);
    const rules = new Map(alerts.groups.flatMap((g) => g.rules.map((r) => [r.alert, r] as const)));
    for (const name of ["GatewayDown", "GatewayNotReady", "GatewayCaCertificateExpiring", "GatewayCaCertificateExpiryCritical", "GatewayRenewalMissed", "GatewaySignerErrors", "GatewayOutboxDeadLetters"]) {
      expect(rules.has(name), name).toBe(true);
    }
    expect(rules.get("GatewayCaCertificateExpiring")!.expr).toContain("< 30 * 86400");
    expect(rules.get("GatewayCaCertificateExpiryCritical")!.expr).toContain("< 7 * 86400");
    expect(rules.get("GatewayNotReady")).toMatchObject({ for: "2m" });
    expect(rules.get("GatewayDown")).toMatchObject({ for: "2m" });

    const exported = scrapedNames(metrics);
    const queried = new Set([...exprs, ...[...rules.values()].map((r) => r.expr)].flatMap(promqlMetricNames));
    expect(queried.size).toBeGreaterThan(15);
    const missing = [...queried].filter((n) => !exported.has(n));
    expect(missing, "queried but not in /metrics").toEqual([]);
  });

  it("counts by protocol, route template, outcome, refusal code, OCSP status, revocation reason and CRL", () => {
    const http = seriesOf(metrics, "gateway_http_request_duration_seconds_count");
    const routes = new Set(http.map((s) => s.labels.route));
    expect(routes).toContain("/.well-known/est/simpleenroll");
    expect(routes).toContain("/ocsp");
    expect(routes).toContain("/ocsp/:request");
    expect(routes).toContain("/admin/api/v1/certificates/:serial/revoke");
    expect(routes).toContain("/admin/api/v1/cas/:name/crl");
    expect(routes).toContain("unmatched");
    expect(routes).toContain("/acme/directory");
    expect(routes).toContain("/acme/new-nonce");
    expect(routes).toContain("/acme/new-order");
    expect(routes).toContain("/scep");
    expect(routes).toContain("/.well-known/cmp");
    for (const r of routes) expect(r, "a route label is a template, not a raw path").not.toMatch(/[0-9a-fA-F]{12,}|MAMCAQA|obs-|%/);
    const est = http.filter((s) => s.labels.protocol === "est" && s.labels.route === "/.well-known/est/simpleenroll");
    expect(est.find((s) => s.labels.outcome === "success" && s.labels.method === "POST")?.value).toBeGreaterThanOrEqual(1);
    expect(est.find((s) => s.labels.outcome === "client_error")?.value).toBeGreaterThanOrEqual(1);
    expect(http.find((s) => s.labels.protocol === "other" && s.labels.route === "unmatched")?.labels.outcome).toBe("client_error");

    const value = (name: string, labels: Record<string, string>) => seriesOf(metrics, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value("gateway_refusals_total", { protocol: "est", code: "RA_ERR_NAME_NOT_ALLOWED" })).toBe(1);
    expect(seriesOf(metrics, "gateway_refusals_total").filter((x) => x.labels.protocol === "acme").map((x) => x.value)).toEqual([1]);
    expect(seriesOf(metrics, "gateway_refusals_total").filter((x) => x.labels.protocol === "cmp").map((x) => [x.labels.code, x.value])).toEqual([["RA_ERR_MALFORMED", 1]]);
    expect(value("gateway_issuances_total", { protocol: "est", profile: "device" })).toBe(1);
    expect(value("gateway_ocsp_responses_total", { status: "good" })).toBe(1);
    expect(value("gateway_ocsp_responses_total", { status: "revoked" })).toBe(1);
    expect(value("gateway_ocsp_responses_total", { status: "malformedRequest" })).toBe(1);
    expect(value("gateway_revocations_total", { reason: "keyCompromise" })).toBe(1);
    expect(value("gateway_crls_generated_total", { ca: "dev-issuing" })).toBeGreaterThanOrEqual(1);
    expect(value("gateway_ready", {})).toBe(1);
    expect(value("gateway_signer_duration_seconds_count", { signer: "dev-issuing" })).toBeGreaterThanOrEqual(2); // the certificate and the CRL
    expect(value("gateway_signer_duration_seconds_count", { signer: "ocsp:dev-issuing" })).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/gateway_signer_duration_seconds_bucket\{le="5",signer="dev-issuing"\}/);
    const days = (v: number | undefined) => (v ?? 0) / 86400;
    expect(days(value("gateway_ca_certificate_expiry_seconds", { ca: "dev-issuing" }))).toBeGreaterThan(300);
    expect(days(value("gateway_ca_certificate_expiry_seconds", { ca: "dev-root" }))).toBeGreaterThan(300);
    expect(days(value("gateway_signer_certificate_expiry_seconds", { signer: "ocsp:dev-issuing" }))).toBeGreaterThan(30);
    expect(days(value("gateway_signer_certificate_expiry_seconds", { signer: "tls" }))).toBeGreaterThan(1);
  });

  it("the request id is returned and recorded in the audit event of the enrollment it made", async () => {
    const issued = await env.t.gw.store.queryAudit({ type: "certificate.issued", target: serial });
    expect(issued).toHaveLength(1);
    expect(issued[0].data.httpRequestId).toBe("obs-enroll-1");
    // The enrollment's own request id (the requests table) stays where it was.
    expect(issued[0].data.requestId).toEqual(expect.any(String));
    const revoked = await env.t.gw.store.queryAudit({ type: "certificate.revoked", target: serial });
    expect(revoked[0].data.httpRequestId).toBe("obs-admin-post");
    // The chain still verifies with the id inside the hashed data.
    expect(await env.t.gw.audit.verify()).toMatchObject({ ok: true });
  });

  it("access lines carry the full path with its router prefix, the client, the status and the id; never a secret", () => {
    const access = logLines.filter((l) => l.msg === "request");
    const enroll = access.find((l) => l.reqId === "obs-enroll-1");
    expect(enroll).toMatchObject({ method: "POST", path: "/.well-known/est/simpleenroll", route: "/.well-known/est/simpleenroll", status: 200, listener: "https" });
    expect(String(enroll?.client)).toMatch(/127\.0\.0\.1|::1/);
    expect(enroll?.ms).toEqual(expect.any(Number));
    // An express route below a router mount: the prefix is in the path (it used to be cut to /certificates/…).
    const revoke = access.find((l) => l.reqId === "obs-admin-post" && String(l.path).endsWith("/revoke"));
    expect(revoke).toMatchObject({ path: `/admin/api/v1/certificates/${serial}/revoke`, route: "/admin/api/v1/certificates/:serial/revoke", status: 200 });
    expect(access.some((l) => l.path === "/ocsp" && l.status === 200)).toBe(true);
    expect(logText).not.toContain(EST_USER.password);
    expect(logText).not.toContain(env.t.token);
    expect(logText).not.toContain(Buffer.from(`${EST_USER.name}:${EST_USER.password}`).toString("base64"));
  });
});
