import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { derToPem } from "../../src/ca/authority.js";
import { initCaPair } from "../../src/ca/init.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { decide } from "../../src/policy/decide.js";
import { lintEndEntity } from "../../src/ca/lint.js";
import { EndEntityTemplates } from "../../src/ca/template.js";
import { newSerial } from "../../src/ca/serial.js";
import type { EnrollmentRequest } from "../../src/policy/request.js";
import { makeCsr, openssl, tempDir } from "../helpers/openssl.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";

const SECOND_CA_PROFILE = `
name: tls-server-b
issuer: issuing-b
protocols: [admin]
keys: [{ type: ec }]
names: { dns: { suffixes: [example.com] } }
validity: { default: 30d, max: 60d }
keyUsage: [digitalSignature]
extendedKeyUsage: [serverAuth]
`;
const BROKEN_PROFILE = `
name: misconfigured
protocols: [admin]
keys: [{ type: ec }]
names: { dns: { suffixes: [example.com] } }
validity: { default: 30d, max: 60d }
keyUsage: [digitalSignature, keyCertSign]
`;

let t: TestGateway;
let dir: string;

beforeAll(async () => {
  dir = tempDir();
  // A second issuing CA (RSA-2048 root and issuing) next to the dev PKI, as `gateway ca init` would make it.
  const first = await testGateway({}, { "tls-server-b": SECOND_CA_PROFILE, misconfigured: BROKEN_PROFILE }).catch((e) => e as Error);
  expect(first).toBeInstanceOf(Error); // issuer-b does not exist yet: refused at start, naming the profile
  expect((first as Error).message).toMatch(/profile tls-server-b: issuer issuing-b is not a configured CA/);
  t = await testGateway({}, { misconfigured: BROKEN_PROFILE });
  await t.gw.close();
  await initCaPair({
    casDir: join(t.config.dataDir, "cas"), rootName: "root-b", issuingName: "issuing-b", rootSubject: "CN=Root B", issuingSubject: "CN=Issuing B",
    keyAlgorithm: "rsa-2048", httpBase: "http://127.0.0.1:8080",
  });
  writeFileSync(join(t.config.profilesDir, "tls-server-b.yaml"), SECOND_CA_PROFILE);
  const { openGateway } = await import("../../src/gateway.js");
  const pino = (await import("pino")).default;
  t.gw = await openGateway(t.config, pino({ level: "silent" }));
});
afterAll(async () => t?.gw.close());

const req = (csr: Uint8Array, profile: string, extra: Partial<EnrollmentRequest> = {}): EnrollmentRequest =>
  ({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "t" }, profile, csr, ...extra });

describe("several issuing CAs: the profile names which one signs", () => {
  it("issues tls-server-b from issuing-b and tls-server from the dev CA", async () => {
    const { der } = makeCsr(dir, "b", { sans: ["DNS:b.example.com"] });
    const b = await t.gw.enrollment.enroll(req(der, "tls-server-b"));
    const a = await t.gw.enrollment.enroll(req(der, "tls-server"));
    if (a.status !== "issued" || b.status !== "issued") throw new Error("not issued");
    expect(b.certificate.ca.name).toBe("issuing-b");
    expect(a.certificate.ca.name).toBe("dev-issuing");
    writeFileSync(join(dir, "b.pem"), derToPem(b.certificate.der));
    writeFileSync(join(dir, "b-chain.pem"), b.certificate.chain.map((d) => derToPem(d)).join(""));
    writeFileSync(join(dir, "b-root.pem"), derToPem(t.gw.cas.get("root-b").certDer));
    expect(openssl(["verify", "-CAfile", join(dir, "b-root.pem"), "-untrusted", join(dir, "b-chain.pem"), join(dir, "b.pem")])).toContain(": OK");
    expect(openssl(["x509", "-in", join(dir, "b.pem"), "-noout", "-text"])).toContain("sha256WithRSAEncryption");
    expect((await t.gw.store.getCertificate(b.certificate.serial))!.caName).toBe("issuing-b");
  });
});

describe("renewal", () => {
  it("marks the old certificate as replaced by the new one", async () => {
    const { der } = makeCsr(dir, "r", { sans: ["DNS:renew.example.com"] });
    const first = await t.gw.enrollment.enroll(req(der, "tls-server"));
    if (first.status !== "issued") throw new Error("not issued");
    const second = await t.gw.enrollment.enroll(req(der, "tls-server", { renewalOf: first.certificate.serial }));
    if (second.status !== "issued") throw new Error("not issued");
    expect((await t.gw.store.getCertificate(first.certificate.serial))!.replacedBy).toBe(second.certificate.serial);
    expect((await t.gw.store.getCertificate(second.certificate.serial))!.renewalOf).toBe(first.certificate.serial);
  });
});

describe("pre-signing lint", () => {
  it("a profile that would give an end entity keyCertSign is stopped by the lint: audited, nothing signed", async () => {
    const before = (await t.gw.store.findCertificates({})).length;
    const { der } = makeCsr(dir, "m", { sans: ["DNS:m.example.com"] });
    const r = req(der, "misconfigured");
    await expect(t.gw.enrollment.enroll(r)).rejects.toMatchObject({ code: "RA_ERR_LINT_FAILED" });
    expect((await t.gw.store.findCertificates({})).length).toBe(before);
    const ev = await t.gw.store.queryAudit({ type: "issuance.lint_failed", target: r.requestId });
    expect(ev[0].data.findings).toEqual(["CA key usage in an end-entity certificate"]);
    expect((await t.gw.store.getRequest(r.requestId))!.status).toBe("failed");
  });

  it("flags tampered TBS fields", () => {
    const { der } = makeCsr(dir, "l", { sans: ["DNS:l.example.com"] });
    const d = decide(req(der, "tls-server"), { profiles: t.gw.profiles, defaultProfile: "tls-server" });
    if (d.decision !== "issue") throw new Error("expected issue");
    const ca = t.gw.cas.get("dev-issuing");
    const templates = new EndEntityTemplates({ http: "http://127.0.0.1:8080" });
    const good = templates.prepare(d.plan, ca, newSerial());
    expect(lintEndEntity(good, d.plan, ca)).toEqual([]);
    const lint = (patch: Partial<typeof good>) => lintEndEntity({ ...good, ...patch }, d.plan, ca);
    expect(lint({ serial: Uint8Array.of(1, 2, 3) })).toContain("serial carries fewer than 128 bits");
    expect(lint({ serial: Uint8Array.from([0x80, ...new Uint8Array(16)]) })).toContain("serial is negative");
    expect(lint({ notAfter: new Date(good.notBefore.getTime() + 500 * 86_400_000) })).toContain("validity exceeds the profile maximum");
    expect(lint({ extensions: good.extensions.map((e) => (e.oid === "2.5.29.19" ? { ...e, value: Uint8Array.of(0x30, 0x03, 0x01, 0x01, 0xff) } : e)) }))
      .toContain("cA=TRUE in an end-entity certificate");
    expect(lint({ extensions: good.extensions.filter((e) => e.oid !== "2.5.29.17") })).toContain("subjectAltName missing");
    const other = templates.prepare({ ...d.plan, sans: { dns: ["other.example.com"], ip: [], email: [], uri: [] } }, ca, newSerial());
    expect(lint({ extensions: other.extensions })).toContain("subjectAltName differs from the approved names");
    expect(lint({ extensions: [...good.extensions, good.extensions[0]] })).toContain("duplicate extension");
    expect(lint({ der: Uint8Array.of(0x30, 0x80, 0, 0) })[0]).toMatch(/TBS encoding/);
  });
});

