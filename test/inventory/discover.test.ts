import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import type { Server } from "node:tls";
import { join } from "node:path";
import request from "supertest";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discover, type DiscoveredItem } from "../../src/inventory/discover.js";
import { certificateFacts } from "../../src/inventory/facts.js";
import { appsFor, ROOT, testGateway, type TestGateway } from "../helpers/gateway.js";
import { tempDir } from "../helpers/openssl.js";
import { makeCert, pemToDerBytes, tlsServer, type Made } from "./pki.js";

let t: TestGateway;
let app: Express;
let dir: string;
let certDir: string;
const pki: Record<string, Made> = {};
const fp: Record<string, string> = {};
const servers: Array<Server | TcpServer> = [];
const target: Record<string, string> = {};
const auth = () => ({ Authorization: `Bearer ${t.token}` });

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args, "--data-dir", t.config.dataDir], { cwd: ROOT },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

beforeAll(async () => {
  t = await testGateway();
  app = (await appsFor(t.gw)).https;
  dir = tempDir();
  pki.root = makeCert(dir, "root", { subject: "/CN=Discovery Root", days: 3650, ca: true });
  pki.inter = makeCert(dir, "inter", { subject: "/CN=Discovery Intermediate", days: 1825, ca: true, issuer: pki.root });
  pki.healthy = makeCert(dir, "healthy", { subject: "/CN=healthy.test", days: 90, issuer: pki.inter, sans: "DNS:healthy.test", serverAuth: true });
  pki.expiring = makeCert(dir, "expiring", { subject: "/CN=expiring.test", days: 3, issuer: pki.inter, sans: "DNS:expiring.test", serverAuth: true });
  pki.weak = makeCert(dir, "weak", { subject: "/CN=weak.test", days: 365, key: "rsa-1024", digest: "sha1", sans: "DNS:weak.test", serverAuth: true });
  pki.long = makeCert(dir, "long", { subject: "/CN=long.test", days: 700, issuer: pki.inter, sans: "DNS:long.test", serverAuth: true });
  for (const [k, v] of Object.entries(pki)) fp[k] = certificateFacts(pemToDerBytes(v.pem)).fingerprint;

  for (const [name, leaf, chain] of [["healthy", pki.healthy, [pki.inter, pki.root]], ["expiring", pki.expiring, [pki.inter]], ["weak", pki.weak, []]] as const) {
    const s = await tlsServer(leaf, [...chain]);
    servers.push(s.server);
    target[name] = s.target;
  }
  // Accepts TCP and never speaks TLS: the fetch must give up on its own.
  const silent = createTcpServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
  servers.push(silent);
  target.silent = `127.0.0.1:${(silent.address() as { port: number }).port}`;
  const closed = createTcpServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
  target.closed = `127.0.0.1:${(closed.address() as { port: number }).port}`;
  await new Promise<void>((r) => closed.close(() => r()));

  certDir = join(dir, "certs");
  mkdirSync(join(certDir, "nested"), { recursive: true });
  writeFileSync(join(certDir, "bundle.pem"), pki.root.pem + pki.inter.pem);
  writeFileSync(join(certDir, "nested", "long.der"), pemToDerBytes(pki.long.pem));
  writeFileSync(join(certDir, "nested", "notes.txt"), "not a certificate");
});

afterAll(async () => {
  for (const s of servers) s.close();
  await t?.gw.close();
});

const flagsOf = (items: DiscoveredItem[], fingerprint: string, location?: string) =>
  items.find((i) => i.fingerprint === fingerprint && (!location || i.location === location))?.flags;

describe("discover", () => {
  it("records leaf and chain certificates from TLS endpoints and files, and flags problems", async () => {
    const now = new Date();
    const r = await discover({ targets: [target.healthy, target.expiring, target.weak, target.closed, target.silent], paths: [certDir], timeoutMs: 1500, warnDays: 30, now }, t.gw.store);
    expect(r.endpoints).toEqual({ scanned: 5, failed: 2 });
    expect(r.errors.map((e) => e.location).sort()).toEqual([`tls://${target.closed}`, `tls://${target.silent}`].sort());
    expect(r.errors.find((e) => e.location === `tls://${target.silent}`)?.error).toMatch(/timed out after 1500 ms/);
    expect(r.files.scanned).toBe(3);
    expect(r.recorded).toBe(6);

    const healthyChain = r.certificates.filter((c) => c.location === `tls://${target.healthy}`);
    expect(healthyChain.map((c) => [c.position, c.fingerprint])).toEqual([["leaf", fp.healthy], ["chain", fp.inter], ["chain", fp.root]]);
    expect(healthyChain.every((c) => c.flags.length === 0)).toBe(true);
    expect(flagsOf(r.certificates, fp.expiring)).toEqual(["expiring"]);
    expect(flagsOf(r.certificates, fp.weak)).toEqual(["weak-key", "weak-signature", "self-signed"]);
    expect(flagsOf(r.certificates, fp.long)).toEqual(["long-validity"]);
    expect(r.findings.map((f) => f.fingerprint).sort()).toEqual([fp.expiring, fp.weak, fp.long].sort());

    const d = t.gw.store.discovery;
    expect(await d.count()).toBe(6);
    const root = (await d.get(fp.root))!;
    expect(root.locations).toEqual([`file:${join(certDir, "bundle.pem")}`, `tls://${target.healthy}`]);
    expect((await d.get(fp.inter))!.locations).toEqual([`file:${join(certDir, "bundle.pem")}`, ...[`tls://${target.expiring}`, `tls://${target.healthy}`].sort()]);
    const weak = (await d.get(fp.weak))!;
    expect(weak).toMatchObject({ subject: "CN=weak.test", issuer: "CN=weak.test", keyAlgorithm: "RSA 1024", keySize: 1024, signatureAlgorithm: "sha1WithRSAEncryption", sans: ["dns:weak.test"], firstSeen: now.toISOString(), lastSeen: now.toISOString() });
    expect(Buffer.from(weak.der).equals(Buffer.from(pemToDerBytes(pki.weak.pem)))).toBe(true);
    expect((await d.list({ weak: true })).map((c) => c.fingerprint)).toEqual([fp.weak]);
    expect((await d.list({ expiringBefore: new Date(now.getTime() + 10 * 86_400_000).toISOString() })).map((c) => c.fingerprint)).toEqual([fp.expiring]);
    expect(await d.count({ issuer: "discovery intermediate" })).toBe(3);
    expect((await d.list({ limit: 2 })).map((c) => c.fingerprint)).toEqual([fp.expiring, fp.healthy]);
  });

  it("a second run merges locations, updates last_seen and keeps one row per fingerprint", async () => {
    const before = (await t.gw.store.discovery.get(fp.root))!;
    const later = new Date(Date.parse(before.lastSeen) + 3_600_000);
    const other = join(dir, "other");
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, "root.crt"), pki.root.pem);
    const r = await discover({ targets: [target.healthy], paths: [other], now: later }, t.gw.store);
    expect(r.recorded).toBe(3);
    expect(await t.gw.store.discovery.count()).toBe(6);
    const root = (await t.gw.store.discovery.get(fp.root))!;
    expect(root.firstSeen).toBe(before.firstSeen);
    expect(root.lastSeen).toBe(later.toISOString());
    expect(root.locations).toEqual([`file:${join(certDir, "bundle.pem")}`, `file:${join(other, "root.crt")}`, `tls://${target.healthy}`]);
    expect((await t.gw.store.discovery.get(fp.weak))!.lastSeen).toBe(before.lastSeen);
  });

  it("recognizes certificates this gateway issued", async () => {
    const { makeCsr } = await import("../helpers/openssl.js");
    const { EnrollmentService } = await import("../../src/enrollment/service.js");
    const { derToPem } = await import("../../src/ca/authority.js");
    const out = await t.gw.enrollment.enroll({
      requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "test" }, profile: "tls-server",
      csr: makeCsr(dir, "own", { sans: ["DNS:own.example.com"] }).der,
    });
    if (out.status !== "issued") throw new Error("not issued");
    const p = join(dir, "own.crt");
    writeFileSync(p, derToPem(out.certificate.der));
    const r = await discover({ paths: [p] }, t.gw.store);
    expect(r.certificates[0].managedSerial).toBe(out.certificate.serial);
    expect((await t.gw.store.discovery.get(r.certificates[0].fingerprint))!.managedSerial).toBe(out.certificate.serial);
  });
});

describe("admin API", () => {
  it("lists discovered certificates with filters and flags", async () => {
    const all = await request(app).get("/admin/api/v1/discovered").set(auth());
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(7);
    expect(all.body.discovered[0].der).toBeUndefined();
    const weak = await request(app).get("/admin/api/v1/discovered").query({ weak: "true" }).set(auth());
    expect(weak.body.total).toBe(1);
    expect(weak.body.discovered[0]).toMatchObject({ fingerprint: fp.weak, flags: ["weak-key", "weak-signature", "self-signed"] });
    const soon = await request(app).get("/admin/api/v1/discovered").query({ expiringDays: 10, limit: 5 }).set(auth());
    expect(soon.body.discovered.map((c: { fingerprint: string }) => c.fingerprint)).toEqual([fp.expiring]);
    expect(soon.body.discovered[0].flags).toEqual(["expiring"]);
    expect((await request(app).get("/admin/api/v1/discovered").query({ limit: 0 }).set(auth())).status).toBe(400);
    expect((await request(app).get("/admin/api/v1/discovered")).status).toBe(401);
  });

  it("scans network targets on request and refuses files, too many or malformed targets", async () => {
    const res = await request(app).post("/admin/api/v1/discover").set(auth()).send({ targets: [target.healthy, target.weak], timeoutMs: 3000 });
    expect(res.status).toBe(200);
    expect(res.body.recorded).toBe(4);
    expect(res.body.findings.map((f: DiscoveredItem) => f.fingerprint)).toEqual([fp.weak]);
    const audit = await t.gw.store.queryAudit({ type: "inventory.discovered" });
    expect(audit.at(-1)).toMatchObject({ actor: "admin:bootstrap", data: { targets: 2, recorded: 4, findings: 1, failed: 0 } });
    for (const body of [{ targets: [] }, { targets: Array.from({ length: 101 }, (_, i) => `h${i}.test:443`) }, { targets: ["bad target"] }, { targets: [target.healthy], paths: ["/etc"] }, { targets: [target.healthy], timeoutMs: 10 }]) {
      const bad = await request(app).post("/admin/api/v1/discover").set(auth()).send(body);
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe("RA_ERR_MALFORMED");
    }
  });
});

describe("CLI", () => {
  it("gateway discover prints a findings table, or JSON, and records what it saw", async () => {
    const tf = join(dir, "targets.txt");
    writeFileSync(tf, `# endpoints\n${target.expiring}\n\n${target.closed}\n`);
    const out = await cli(["discover", "--target", target.weak, "--targets-file", tf, "--path", join(certDir, "nested"), "--warn-days", "30", "--timeout-ms", "2000"]);
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^LOCATION\s+SUBJECT\s+ISSUER\s+NOT AFTER\s+KEY\s+SIGNATURE\s+FLAGS$/);
    expect(lines.find((l) => l.startsWith(`tls://${target.weak} `))).toMatch(/CN=weak\.test\s+CN=weak\.test\s+\d{4}-\d\d-\d\d\s+RSA 1024\s+sha1WithRSAEncryption\s+weak-key,weak-signature,self-signed$/);
    expect(lines.find((l) => l.startsWith(`tls://${target.expiring} `))).toMatch(/EC P-256\s+ecdsa-with-SHA256\s+expiring$/);
    expect(lines.find((l) => l.startsWith("file:"))).toMatch(/CN=long\.test\s+CN=Discovery Intermediate.*long-validity$/);
    expect(lines.at(-1)).toBe("3 finding(s); recorded 4 certificate(s) from 2/3 endpoint(s) and 2 file(s)");
    expect(out.stderr).toContain(`error tls://${target.closed}:`);

    const json = await cli(["discover", "--target", target.healthy, "--json"]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { recorded: number; certificates: DiscoveredItem[] };
    expect(parsed.recorded).toBe(3);
    expect((await t.gw.store.discovery.get(fp.healthy))!.locations).toContain(`tls://${target.healthy}`);
    expect((await cli(["discover"])).code).toBe(2);
  });

  it("gateway report crypto writes JSON and CSV", async () => {
    const csvPath = join(dir, "crypto.csv");
    const csv = await cli(["report", "crypto", "--format", "csv", "--out", csvPath]);
    expect(csv.code).toBe(0);
    const text = readFileSync(csvPath, "utf8");
    expect(text.split("\r\n")[0]).toBe("issuer,profile,keyAlgorithm,signatureHashes,count,valid,expired,revoked,longLived,quantumVulnerable,quantumSafe,classicallyWeak");
    expect(text).toContain("CN=weak.test,(unmanaged),RSA 1024,sha1,1,1,0,0,0,1,0,1");
    const json = await cli(["report", "crypto"]);
    expect(JSON.parse(json.stdout).totals.unmanaged).toBe(6);
    expect((await cli(["report", "crypto", "--format", "xml"])).code).toBe(2);
  });
});
