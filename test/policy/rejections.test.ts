import { beforeAll, afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { GatewayError } from "../../src/errors.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import type { EnrollmentRequest } from "../../src/policy/request.js";
import { makeCsr, openssl, tempDir } from "../helpers/openssl.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";

let t: TestGateway;
let dir: string;

beforeAll(async () => {
  t = await testGateway();
  dir = tempDir();
});
afterAll(async () => t?.gw.close());

function req(csr: Uint8Array, extra: Partial<EnrollmentRequest> = {}): EnrollmentRequest {
  return { requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "test" }, profile: "tls-server", csr, ...extra };
}

async function rejection(r: EnrollmentRequest): Promise<GatewayError> {
  try {
    await t.gw.enrollment.enroll(r);
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error("expected the request to be rejected");
}

describe("policy rejections, each with its own code", () => {
  it("bad CSR signature", async () => {
    const { der } = makeCsr(dir, "badsig", { sans: ["DNS:www.example.com"] });
    const tampered = Uint8Array.from(der);
    tampered[tampered.length - 5] ^= 0x01; // flip a bit inside the signature
    expect((await rejection(req(tampered))).code).toBe("RA_ERR_BAD_CSR_SIGNATURE");
  });

  it("RSA-1024 key", async () => {
    const { der } = makeCsr(dir, "rsa1024", { key: "rsa-1024", sans: ["DNS:www.example.com"] });
    expect((await rejection(req(der))).code).toBe("RA_ERR_KEY_WEAK");
  });

  it("SHA-1 signed CSR", async () => {
    const { der } = makeCsr(dir, "sha1", { digest: "sha1", sans: ["DNS:www.example.com"] });
    expect((await rejection(req(der))).code).toBe("RA_ERR_WEAK_SIGNATURE_ALG");
  });

  it("disallowed name", async () => {
    const { der } = makeCsr(dir, "evil", { sans: ["DNS:www.evil.invalid"] });
    const e = await rejection(req(der));
    expect(e.code).toBe("RA_ERR_NAME_NOT_ALLOWED");
    expect(e.message).toContain("www.evil.invalid");
  });

  it("too many SANs", async () => {
    const sans = Array.from({ length: 11 }, (_, i) => `DNS:h${i}.example.com`);
    const { der } = makeCsr(dir, "many", { sans });
    expect((await rejection(req(der))).code).toBe("RA_ERR_TOO_MANY_NAMES");
  });

  it("validity above the profile maximum", async () => {
    const { der } = makeCsr(dir, "long", { sans: ["DNS:long.example.com"] });
    const now = new Date();
    const e = await rejection(req(der, { validity: { notBefore: now, notAfter: new Date(now.getTime() + 400 * 86_400_000) } }));
    expect(e.code).toBe("RA_ERR_VALIDITY_TOO_LONG");
  });

  it("unknown profile", async () => {
    const { der } = makeCsr(dir, "unknown", { sans: ["DNS:x.example.com"] });
    expect((await rejection(req(der, { profile: "no-such-profile" }))).code).toBe("RA_ERR_UNKNOWN_PROFILE");
  });

  it("key type the profile does not allow", async () => {
    const { der } = makeCsr(dir, "ed", { key: "ed25519", sans: ["DNS:ed.example.com"] });
    expect((await rejection(req(der))).code).toBe("RA_ERR_KEY_NOT_ALLOWED");
  });

  it("protocol the profile is not offered over", async () => {
    const { der } = makeCsr(dir, "proto", { sans: ["DNS:p.example.com"] });
    expect((await rejection(req(der, { protocol: "scep" }))).code).toBe("RA_ERR_PROFILE_NOT_ALLOWED");
  });

  it("every rejection is stored and audited with its code", async () => {
    const events = await t.gw.store.queryAudit({ type: "request.rejected", limit: 100 });
    const codes = new Set(events.map((e) => e.data.code));
    for (const c of ["RA_ERR_BAD_CSR_SIGNATURE", "RA_ERR_KEY_WEAK", "RA_ERR_WEAK_SIGNATURE_ALG", "RA_ERR_NAME_NOT_ALLOWED", "RA_ERR_TOO_MANY_NAMES", "RA_ERR_VALIDITY_TOO_LONG", "RA_ERR_UNKNOWN_PROFILE"]) {
      expect(codes).toContain(c);
    }
    expect((await t.gw.store.findCertificates({})).length).toBe(0);
  });

  it("CSR asking for cA=TRUE is issued without it: CSR extensions are never copied", async () => {
    const { der } = makeCsr(dir, "ca", {
      sans: ["DNS:ca-wannabe.example.com"],
      extraExt: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign", "extendedKeyUsage=codeSigning", "1.2.3.4=ASN1:UTF8String:smuggled"],
    });
    const out = await t.gw.enrollment.enroll(req(der));
    if (out.status !== "issued") throw new Error("expected issuance");
    const certPath = join(dir, "ca-wannabe.pem");
    writeFileSync(certPath, Buffer.from(out.certificate.der));
    const text = openssl(["x509", "-inform", "DER", "-in", certPath, "-noout", "-text"]);
    expect(text).toContain("CA:FALSE");
    expect(text).not.toContain("CA:TRUE");
    expect(text).not.toContain("Certificate Sign");
    expect(text).not.toContain("Code Signing");
    expect(text).not.toContain("1.2.3.4");
    expect(text).toContain("TLS Web Server Authentication");
    const accepted = await t.gw.store.queryAudit({ type: "request.accepted", target: out.requestId });
    expect(accepted[0].data.ignoredExtensions).toEqual(expect.arrayContaining(["2.5.29.19", "2.5.29.15", "2.5.29.37", "1.2.3.4"]));
  });
});
