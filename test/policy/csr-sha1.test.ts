import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { GatewayError } from "../../src/errors.js";
import { parseCsr } from "../../src/policy/csr.js";
import type { EnrollmentRequest, Protocol } from "../../src/policy/request.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { genKey, makeCsr, openssl, tempDir } from "../helpers/openssl.js";

// SHA-1 CSR signatures: refused everywhere, except where a front-end passes the explicit
// allowSha1CsrSignature (a SCEP endpoint with legacyAlgorithms). MD5 stays refused even then.

const APPROVAL_PROFILE = `
name: legacy-approval
protocols: [scep]
approval: true
keys: [{ type: rsa, minBits: 2048 }, { type: ec, curves: [P-256] }]
subject: { commonName: fromCsr }
names: { dns: { suffixes: [example.com] }, requireSan: false }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [clientAuth]
`;

let t: TestGateway;
let dir: string;
beforeAll(async () => {
  t = await testGateway({}, { "legacy-approval": APPROVAL_PROFILE });
  dir = tempDir("csr-sha1-");
});
afterAll(async () => t?.gw.close());

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return (e as GatewayError).code;
  }
  return "accepted";
}

function request(csr: Uint8Array, protocol: Protocol, extra: Partial<EnrollmentRequest> = {}): EnrollmentRequest {
  return { requestId: EnrollmentService.newRequestId(), protocol, requester: { kind: protocol, id: "test" }, profile: "device", csr, ...extra };
}

async function outcome(r: EnrollmentRequest): Promise<string> {
  try {
    return (await t.gw.enrollment.enroll(r)).status;
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return (e as GatewayError).code;
  }
}

describe("parseCsr and SHA-1", () => {
  it("refuses sha1WithRSAEncryption and ecdsa-with-SHA1 unless asked; MD5 never; the signature is still verified", () => {
    const rsa = makeCsr(dir, "rsa-sha1", { key: "rsa-2048", digest: "sha1", subject: "/CN=old.example.com" }).der;
    const ec = makeCsr(dir, "ec-sha1", { digest: "sha1", subject: "/CN=old-ec.example.com" }).der;
    for (const der of [rsa, ec]) {
      expect(codeOf(() => parseCsr(der))).toBe("RA_ERR_WEAK_SIGNATURE_ALG");
      const parsed = parseCsr(der, undefined, { allowSha1Signature: true });
      expect(parsed.sha1Signature).toBe(true);
      // A parse that accepted SHA-1 is never handed to a caller that did not ask for it.
      expect(codeOf(() => parseCsr(der))).toBe("RA_ERR_WEAK_SIGNATURE_ALG");
      const tampered = Uint8Array.from(der);
      tampered[tampered.length - 5] ^= 0x01;
      expect(codeOf(() => parseCsr(tampered, undefined, { allowSha1Signature: true }))).toBe("RA_ERR_BAD_CSR_SIGNATURE");
    }
    expect(parseCsr(makeCsr(dir, "sha256", { subject: "/CN=new.example.com" }).der, undefined, { allowSha1Signature: true }).sha1Signature).toBe(false);
    // md5WithRSAEncryption, made by OpenSSL's req -md5.
    const md5File = join(dir, "rsa-md5.csr.der");
    openssl(["req", "-new", "-md5", "-key", genKey(dir, "rsa-md5", "rsa-2048"), "-subj", "/CN=older.example.com", "-outform", "DER", "-out", md5File]);
    const md5 = new Uint8Array(readFileSync(md5File));
    expect(openssl(["req", "-inform", "DER", "-in", md5File, "-noout", "-text"])).toContain("md5WithRSAEncryption");
    expect(codeOf(() => parseCsr(md5, undefined, { allowSha1Signature: true }))).toBe("RA_ERR_WEAK_SIGNATURE_ALG");
  });
});

describe("the enrollment core and SHA-1 CSRs", () => {
  it("every protocol is refused without the explicit option; with it the request issues", async () => {
    for (const protocol of ["est", "cmp", "acme", "admin", "scep"] as const) {
      const { der } = makeCsr(dir, `p-${protocol}`, { key: "rsa-2048", digest: "sha1", subject: `/CN=${protocol}-sha1.example.com` });
      expect(await outcome(request(der, protocol)), protocol).toBe("RA_ERR_WEAK_SIGNATURE_ALG");
    }
    const { der } = makeCsr(dir, "scep-legacy", { key: "rsa-2048", digest: "sha1", subject: "/CN=scep-legacy.example.com" });
    const out = await t.gw.enrollment.enroll(request(der, "scep", { allowSha1CsrSignature: true }));
    expect(out.status).toBe("issued");
    if (out.status !== "issued") return;
    // The certificate itself is signed by the CA's own algorithm, whatever the CSR used.
    expect(new X509Certificate(out.certificate.der).subject).toContain("CN=scep-legacy.example.com");
    expect(new X509Certificate(out.certificate.der).verify(new X509Certificate(out.certificate.ca.certDer).publicKey)).toBe(true);
  });

  it("a request waiting for approval keeps the option: the approval decides it again and issues", async () => {
    const { der } = makeCsr(dir, "pending", { key: "rsa-2048", digest: "sha1", subject: "/CN=pending-sha1.example.com" });
    const first = await t.gw.enrollment.enroll(request(der, "scep", { profile: "legacy-approval", allowSha1CsrSignature: true }));
    expect(first.status).toBe("pending");
    const issued = await t.gw.enrollment.approve(first.requestId, "admin:test");
    expect(new X509Certificate(issued.der).subject).toContain("CN=pending-sha1.example.com");
  });
});
