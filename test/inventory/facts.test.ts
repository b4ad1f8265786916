import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cryptoReportCsv } from "../../src/inventory/crypto-csv.js";
import type { CryptoReport } from "../../src/inventory/crypto-report.js";
import { certificateFacts } from "../../src/inventory/facts.js";
import { certificatesIn, readCertificatePaths } from "../../src/inventory/files.js";
import { parseTarget } from "../../src/inventory/tls-fetch.js";
import { assess } from "../../src/inventory/weakness.js";
import { openssl, tempDir } from "../helpers/openssl.js";
import { makeCert, pemToDerBytes, type Made } from "./pki.js";

let dir: string;
let root: Made;
let leaf: Made;
let weak: Made;

beforeAll(() => {
  dir = tempDir();
  root = makeCert(dir, "root", { subject: "/CN=Facts Root/O=Example, Inc.", days: 3650, ca: true, key: "ec-p384", digest: "sha384" });
  leaf = makeCert(dir, "leaf", { subject: "/CN=www.example.com", days: 500, issuer: root, sans: "DNS:www.example.com,IP:127.0.0.1,email:a@example.com", serverAuth: true });
  weak = makeCert(dir, "weak", { subject: "/CN=weak.test", days: 365, key: "rsa-1024", digest: "sha1", serverAuth: true });
});

describe("certificate facts", () => {
  it("reads names, serial, validity, key, signature, SANs and flags from OpenSSL output", () => {
    const f = certificateFacts(pemToDerBytes(leaf.pem));
    const text = openssl(["x509", "-in", leaf.cert, "-noout", "-serial", "-fingerprint", "-sha256"]);
    expect(f.serial).toBe(/serial=([0-9A-F]+)/.exec(text)![1].toLowerCase().replace(/^(00)+/, ""));
    expect(f.fingerprint).toBe(/Fingerprint=([0-9A-F:]+)/.exec(text)![1].replace(/:/g, "").toLowerCase());
    expect(f).toMatchObject({
      subject: "CN=www.example.com", issuer: "CN=Facts Root, O=Example\\, Inc.", keyAlgorithm: "EC P-256", keyFamily: "ec", keySize: 256,
      signatureAlgorithm: "ecdsa-with-SHA256", signatureHash: "sha256", isCa: false, selfSigned: false, serverAuth: true, lifetimeDays: 500,
      sans: ["dns:www.example.com", "ip:127.0.0.1", "email:a@example.com"],
    });
    const r = certificateFacts(pemToDerBytes(root.pem));
    expect(r).toMatchObject({ keyAlgorithm: "EC P-384", keySize: 384, isCa: true, selfSigned: true, signatureHash: "sha384" });
  });

  it("names RSA-1024 / SHA-1, Ed25519 and RSA-PSS", () => {
    expect(certificateFacts(pemToDerBytes(weak.pem))).toMatchObject({ keyAlgorithm: "RSA 1024", keyFamily: "rsa", keySize: 1024, signatureAlgorithm: "sha1WithRSAEncryption", signatureHash: "sha1", selfSigned: true });
    const ed = makeCert(dir, "ed", { subject: "/CN=ed.test", days: 30, key: "ed25519" });
    expect(certificateFacts(pemToDerBytes(ed.pem))).toMatchObject({ keyAlgorithm: "Ed25519", keyFamily: "eddsa", signatureAlgorithm: "Ed25519", signatureHash: "eddsa" });
    const k = join(dir, "pss.key");
    openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k]);
    openssl(["req", "-x509", "-new", "-key", k, "-subj", "/CN=pss.test", "-days", "30", "-sha384", "-sigopt", "rsa_padding_mode:pss", "-out", join(dir, "pss.pem")]);
    const pss = openssl(["x509", "-in", join(dir, "pss.pem"), "-outform", "PEM"]);
    expect(certificateFacts(pemToDerBytes(pss))).toMatchObject({ keyAlgorithm: "RSA 2048", signatureAlgorithm: "RSASSA-PSS (sha384)", signatureHash: "sha384" });
  });

  it("refuses what is not a certificate", () => {
    expect(() => certificateFacts(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow();
  });
});

describe("weakness rules", () => {
  const now = new Date();
  it("flags weak keys and hashes, self-signed leaves, long TLS validity, expiry", () => {
    expect(assess(certificateFacts(pemToDerBytes(weak.pem)), { now, warnDays: 30 })).toEqual(["weak-key", "weak-signature", "self-signed"]);
    expect(assess(certificateFacts(pemToDerBytes(leaf.pem)), { now, warnDays: 30 })).toEqual(["long-validity"]);
    expect(assess(certificateFacts(pemToDerBytes(root.pem)), { now, warnDays: 30 })).toEqual([]);
    const in400 = new Date(now.getTime() + 400 * 86_400_000);
    expect(assess(certificateFacts(pemToDerBytes(weak.pem)), { now: in400, warnDays: 30 })[0]).toBe("expired");
    const in340 = new Date(now.getTime() + 340 * 86_400_000);
    expect(assess(certificateFacts(pemToDerBytes(weak.pem)), { now: in340, warnDays: 30 })[0]).toBe("expiring");
  });
});

describe("file reader", () => {
  it("reads PEM bundles and DER, recursively, skips what is not a certificate, notes unreadable and oversized files", () => {
    const d = join(dir, "tree");
    mkdirSync(join(d, "sub", "deeper"), { recursive: true });
    writeFileSync(join(d, "bundle.pem"), `junk before\n${leaf.pem}comment\n${root.pem}`);
    writeFileSync(join(d, "sub", "deeper", "weak.der"), pemToDerBytes(weak.pem));
    writeFileSync(join(d, "sub", "readme.txt"), "hello");
    openssl(["pkey", "-in", leaf.key, "-outform", "DER", "-out", join(d, "sub", "key.der")]);
    writeFileSync(join(d, "big.pem"), Buffer.alloc(8192, 0x41));
    symlinkSync(d, join(d, "sub", "loop"));
    const scan = readCertificatePaths([d, join(dir, "missing.pem")], { maxFileBytes: 4096, maxFiles: 100 });
    expect(scan.certificates.map((c) => c.location.replace(d, "D"))).toEqual(["file:D/bundle.pem", "file:D/bundle.pem", "file:D/sub/deeper/weak.der"]);
    expect(scan.files).toBe(5);
    expect(scan.notes.some((n) => n.includes("big.pem") && n.includes("over 4096"))).toBe(true);
    expect(scan.notes.some((n) => n.includes("missing.pem") && n.includes("ENOENT"))).toBe(true);
    const capped = readCertificatePaths([d], { maxFileBytes: 1024 * 1024, maxFiles: 2 });
    expect(capped.files).toBe(2);
    expect(capped.notes).toContain("stopped after 2 files");
    expect(certificatesIn(Buffer.from("no certificate"))).toEqual([]);
  });
});

describe("targets and CSV", () => {
  it("parses host:port forms", () => {
    expect(parseTarget("Example.com:8443")).toEqual({ host: "example.com", port: 8443, location: "tls://example.com:8443" });
    expect(parseTarget("example.com").port).toBe(443);
    expect(parseTarget("[::1]:444").location).toBe("tls://[::1]:444");
    for (const bad of ["", "a b:1", "host:99999", "http://x:1", "[zz]:1"]) expect(() => parseTarget(bad)).toThrow();
  });

  it("quotes cells and defuses spreadsheet formulas", () => {
    const report = {
      groups: [{ issuer: "=HYPERLINK(\"x\")", profile: "CN=a, O=b", byKey: [{ keyAlgorithm: "EC P-256", count: 1, valid: 1, expired: 0, revoked: 0, longLived: 0, quantumVulnerable: 1, quantumSafe: 0, classicallyWeak: 0, signatureHashes: { sha256: 1 } }] }],
    } as unknown as CryptoReport;
    expect(cryptoReportCsv(report).split("\r\n")[1]).toBe(`"'=HYPERLINK(""x"")","CN=a, O=b",EC P-256,sha256,1,1,0,0,0,1,0,0`);
  });
});
