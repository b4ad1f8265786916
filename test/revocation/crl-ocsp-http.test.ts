import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { derToPem } from "../../src/ca/authority.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import type { RunningServers } from "../../src/server/listen.js";
import { makeCsr, openssl, opensslAsync, opensslStatus, tempDir } from "../helpers/openssl.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";

let t: TestGateway;
let servers: RunningServers;
let dir: string;
let base: string;
const certs: Record<string, { path: string; serial: string }> = {};

beforeAll(async () => {
  t = await testGateway({ crl: { rebuildDelaySeconds: 0 } });
  const { startServers } = await import("../../src/server/listen.js");
  servers = await startServers(t.gw);
  base = `http://127.0.0.1:${servers.httpPort}`;
  dir = tempDir();
  writeFileSync(join(dir, "root.pem"), derToPem(t.gw.cas.all.find((c) => c.role === "root")!.certDer));
  writeFileSync(join(dir, "issuing.pem"), derToPem(t.gw.cas.issuing[0].certDer));
  writeFileSync(join(dir, "chain.pem"), derToPem(t.gw.cas.issuing[0].certDer) + derToPem(t.gw.cas.all.find((c) => c.role === "root")!.certDer));
  for (const name of ["good", "revoked", "held"]) {
    const { der } = makeCsr(dir, name, { sans: [`DNS:${name}.example.com`] });
    const out = await t.gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "t" }, profile: "tls-server", csr: der });
    if (out.status !== "issued") throw new Error("not issued");
    const path = join(dir, `${name}.pem`);
    writeFileSync(path, derToPem(out.certificate.der));
    certs[name] = { path, serial: out.certificate.serial };
  }
  await t.gw.revocation.revoke(certs.revoked.serial, "keyCompromise", "admin:test");
  await t.gw.revocation.revoke(certs.held.serial, "certificateHold", "admin:test");
  await t.gw.crls.settled(); // revocation schedules the CRL rebuild (crl-schedule.test.ts); wait for it here
});
afterAll(async () => {
  await servers?.close();
  await t?.gw.close();
});

async function fetchTo(url: string, file: string): Promise<Response> {
  const res = await fetch(url);
  writeFileSync(join(dir, file), Buffer.from(await res.arrayBuffer()));
  return res;
}

describe("CRL over HTTP", () => {
  it("is signed by the issuing CA, numbered, and lists revocations with reasons", async () => {
    const res = await fetchTo(`${base}/crl/dev-issuing.crl`, "issuing.crl");
    expect(res.headers.get("content-type")).toContain("application/pkix-crl");
    const out = openssl(["crl", "-inform", "DER", "-in", join(dir, "issuing.crl"), "-CAfile", join(dir, "chain.pem"), "-verify", "-noout", "-text"]);
    expect(out).toMatch(/verify OK/);
    expect(out).toMatch(/X509v3 CRL Number:\s+\d+/);
    expect(out).toContain("X509v3 Authority Key Identifier");
    expect(out).toContain("Next Update");
    expect(out.toUpperCase()).toContain(certs.revoked.serial.toUpperCase());
    expect(out).toContain("Key Compromise");
    expect(out).toContain("Certificate Hold");
    expect(out.toUpperCase()).not.toContain(certs.good.serial.toUpperCase());
  });

  it("openssl verify -crl_check rejects the revoked certificate and accepts the good one", () => {
    openssl(["crl", "-inform", "DER", "-in", join(dir, "issuing.crl"), "-out", join(dir, "issuing-crl.pem")]);
    const args = (p: string) => ["verify", "-crl_check", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "issuing.pem"), "-CRLfile", join(dir, "issuing-crl.pem"), p];
    expect(opensslStatus(args(certs.good.path)).out).toContain(": OK");
    const bad = opensslStatus(args(certs.revoked.path));
    expect(bad.code).not.toBe(0);
    expect(bad.out).toContain("certificate revoked");
  });

  it("the CRL number grows with each regeneration; unknown CAs get 404", async () => {
    const before = openssl(["crl", "-inform", "DER", "-in", join(dir, "issuing.crl"), "-noout", "-crlnumber"]);
    await t.gw.crls.publish(t.gw.cas.issuing[0]);
    await fetchTo(`${base}/crl/dev-issuing.crl`, "issuing2.crl");
    const after = openssl(["crl", "-inform", "DER", "-in", join(dir, "issuing2.crl"), "-noout", "-crlnumber"]);
    expect(parseInt(after.split("=")[1], 16)).toBeGreaterThan(parseInt(before.split("=")[1], 16)); // time-floored: gaps allowed
    expect((await fetch(`${base}/crl/nope.crl`)).status).toBe(404);
  });

  it("serves the root CRL and CA certificates", async () => {
    await fetchTo(`${base}/crl/dev-root.crl`, "root.crl");
    expect(openssl(["crl", "-inform", "DER", "-in", join(dir, "root.crl"), "-CAfile", join(dir, "root.pem"), "-verify", "-noout"])).toMatch(/verify OK/);
    const ca = await fetchTo(`${base}/ca/dev-issuing.crt`, "issuing.der");
    expect(ca.headers.get("content-type")).toContain("application/pkix-cert");
    expect(openssl(["x509", "-inform", "DER", "-in", join(dir, "issuing.der"), "-noout", "-subject"])).toContain("Dev Issuing CA");
  });
});

describe("HTTPS listener", () => {
  it("serves the generated TLS certificate and its issuing CA: a client trusting only the root verifies localhost", async () => {
    const r = await opensslAsync(["s_client", "-connect", `127.0.0.1:${servers.httpsPort}`, "-servername", "localhost", "-verify_hostname", "localhost",
      "-CAfile", join(dir, "root.pem"), "-verify_return_error", "-brief"], 15_000);
    expect(r.out).toMatch(/Verification: OK/);
    const res = await new Promise<number>((resolve, reject) => {
      const q = httpsRequest({ host: "127.0.0.1", port: servers.httpsPort, path: "/healthz", servername: "localhost", ca: readFileSync(join(dir, "root.pem")) }, (s) => resolve(s.statusCode ?? 0));
      q.on("error", reject);
      q.end();
    });
    expect(res).toBe(200);
  });
});

describe("OCSP over HTTP (openssl ocsp as the client)", () => {
  const ocsp = (cert: string, extra: string[] = []) =>
    opensslAsync(["ocsp", "-timeout", "10", "-issuer", join(dir, "issuing.pem"), "-cert", cert, "-url", `${base}/ocsp`, "-CAfile", join(dir, "root.pem"), ...extra]);

  it("good", async () => {
    const r = await ocsp(certs.good.path);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toContain(`${certs.good.path}: good`);
  });

  it("revoked, with reason and time", async () => {
    const r = await ocsp(certs.revoked.path);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toContain(`${certs.revoked.path}: revoked`);
    expect(r.out).toContain("Reason: keyCompromise");
    expect(r.out).toContain("Revocation Time");
  });

  it("unknown serial", async () => {
    const r = await opensslAsync(["ocsp", "-timeout", "10", "-issuer", join(dir, "issuing.pem"), "-serial", "0x0123456789abcdef", "-url", `${base}/ocsp`, "-CAfile", join(dir, "root.pem")]);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toContain("0x0123456789abcdef: unknown");
  });

  it("echoes the nonce (openssl checks it) and answers GET requests", async () => {
    const withNonce = await ocsp(certs.good.path, ["-resp_text"]);
    expect(withNonce.out).toContain("OCSP Nonce");
    expect(withNonce.out).not.toContain("WARNING: no nonce");
    openssl(["ocsp", "-issuer", join(dir, "issuing.pem"), "-cert", certs.revoked.path, "-no_nonce", "-reqout", join(dir, "req.der")]);
    const b64 = encodeURIComponent(readFileSync(join(dir, "req.der")).toString("base64"));
    await fetchTo(`${base}/ocsp/${b64}`, "get-resp.der");
    const r = opensslStatus(["ocsp", "-respin", join(dir, "get-resp.der"), "-issuer", join(dir, "issuing.pem"), "-cert", certs.revoked.path, "-CAfile", join(dir, "root.pem"), "-no_nonce"]);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toContain(": revoked");
  });

  it("garbage gets a malformedRequest response, not a crash", async () => {
    const res = await fetch(`${base}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: new Uint8Array([0x30, 0x84, 1, 2]) });
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED malformedRequest(1) }
    expect(Array.from(body)).toEqual([0x30, 0x03, 0x0a, 0x01, 0x01]);
  });
});
