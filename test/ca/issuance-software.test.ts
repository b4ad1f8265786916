import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { derToPem } from "../../src/ca/authority.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { makeCsr, openssl, tempDir } from "../helpers/openssl.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { normalizeSerial } from "../../src/ca/serial.js";

let t: TestGateway;
let dir: string;

beforeAll(async () => {
  t = await testGateway();
  dir = tempDir();
  const root = t.gw.cas.all.find((c) => c.role === "root")!;
  const issuing = t.gw.cas.issuing[0];
  writeFileSync(join(dir, "root.pem"), derToPem(root.certDer));
  writeFileSync(join(dir, "issuing.pem"), derToPem(issuing.certDer));
});
afterAll(async () => t?.gw.close());

async function issue(profile: string, name: string, csrOpts: Parameters<typeof makeCsr>[2]) {
  const { der } = makeCsr(dir, name, csrOpts);
  const out = await t.gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "t" }, profile, csr: der });
  if (out.status !== "issued") throw new Error("not issued");
  const path = join(dir, `${name}.pem`);
  writeFileSync(path, derToPem(out.certificate.der));
  return { path, out };
}

describe("issuance through the software signer (dev PKI, ECDSA P-256)", () => {
  it("a start before the issuing CA's own is moved up to it, not refused by the lint", async () => {
    const issuing = t.gw.cas.issuing[0];
    const caFrom = new Date(issuing.cert.validFrom);
    const { der } = makeCsr(dir, "early", { sans: ["DNS:early.example.com"], key: "ec-p256" });
    const out = await t.gw.enrollment.enroll({
      requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "t" }, profile: "tls-server", csr: der,
      validity: { notBefore: new Date(caFrom.getTime() - 30 * 60_000) },
    });
    expect(out.status).toBe("issued");
    if (out.status !== "issued") return;
    const path = join(dir, "early.pem");
    writeFileSync(path, derToPem(out.certificate.der));
    expect(new Date(openssl(["x509", "-in", path, "-noout", "-startdate"]).trim().replace("notBefore=", "")).getTime()).toBe(caFrom.getTime());
    expect(openssl(["verify", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "issuing.pem"), path])).toContain(": OK");
  });

  it("tls-server: verifies against the chain and carries the profile's extensions", async () => {
    const { path, out } = await issue("tls-server", "web", { sans: ["DNS:www.example.com", "DNS:api.example.com", "IP:10.1.2.3"], key: "ec-p256" });
    expect(openssl(["verify", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "issuing.pem"), "-purpose", "sslserver", path])).toContain(": OK");
    const text = openssl(["x509", "-in", path, "-noout", "-text"]);
    expect(text).toMatch(/Subject: CN ?= ?www\.example\.com/);
    expect(text).toContain("DNS:www.example.com, DNS:api.example.com, IP Address:10.1.2.3");
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toContain("X509v3 Subject Key Identifier");
    expect(text).toContain("X509v3 Authority Key Identifier");
    expect(text).toContain("URI:http://127.0.0.1:8080/crl/dev-issuing.crl");
    expect(text).toContain("OCSP - URI:http://127.0.0.1:8080/ocsp");
    expect(text).toContain("ecdsa-with-SHA256");
    // ≥ 128-bit positive serial, recorded in the inventory as issued.
    const serial = openssl(["x509", "-in", path, "-noout", "-serial"]).trim().split("=")[1];
    expect(serial.length).toBeGreaterThanOrEqual(32);
    // Regression: the stored form keeps whole octets ("0f…"), so compare through normalizeSerial.
    expect(normalizeSerial(serial)).toBe(out.certificate.serial);
    const rec = (await t.gw.store.getCertificate(out.certificate.serial))!;
    expect(rec.stage).toBe("issued");
    expect(rec.sans).toEqual(["dns:www.example.com", "dns:api.example.com", "ip:10.1.2.3"]);
    // Validity: 90 days default (+ 60 s backdate).
    const days = (new Date(rec.notAfter).getTime() - new Date(rec.notBefore).getTime()) / 86_400_000;
    expect(days).toBeCloseTo(90, 2);
    expect(await t.gw.store.queryAudit({ type: "certificate.issued", target: out.certificate.serial })).toHaveLength(1);
  });

  it("tls-client with an RSA-2048 key: subject from the CSR plus fixed RDNs, clientAuth", async () => {
    const { path } = await issue("tls-client", "alice", { subject: "/CN=alice/O=Ignored Org", sans: ["email:alice@example.com"], key: "rsa-2048" });
    expect(openssl(["verify", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "issuing.pem"), "-purpose", "sslclient", path])).toContain(": OK");
    const text = openssl(["x509", "-in", path, "-noout", "-text", "-nameopt", "RFC2253"]);
    expect(text).toContain("Subject: CN=alice,O=Enrollment Gateway");
    expect(text).not.toContain("Ignored Org");
    expect(text).toContain("email:alice@example.com");
    expect(text).toMatch(/TLS Web Client Authentication/);
    expect(text).toContain("Public-Key: (2048 bit)");
  });

  it("device profile: URI SAN and both EKUs", async () => {
    const { path } = await issue("device", "router", { subject: "/CN=router-17", sans: ["URI:urn:dev:serial:ABC123", "DNS:router-17.lan"], key: "ec-p384" });
    expect(openssl(["verify", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "issuing.pem"), path])).toContain(": OK");
    const text = openssl(["x509", "-in", path, "-noout", "-text"]);
    expect(text).toContain("URI:urn:dev:serial:ABC123");
    expect(text).toMatch(/TLS Web Client Authentication, TLS Web Server Authentication/);
    expect(text).toContain("Public-Key: (384 bit)");
  });
});
