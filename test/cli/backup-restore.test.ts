import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { runGatewayCli } from "../helpers/cli.js";
import { makeCsr } from "../helpers/csr.js";
import { ROOT } from "../helpers/gateway.js";
import { opensslAsync, tempDir } from "../helpers/openssl.js";
import { freePort } from "../helpers/ports.js";

const USER = { name: "router1", password: "router1-Secret-pass" };
const dir = tempDir("backup-");
const data = join(dir, "data");
const dbPath = join(data, "gateway.db");
const config = join(dir, "config.yaml");
const rootPem = join(data, "cas", "dev-root", "cert.pem");
const issuingPem = join(data, "cas", "dev-issuing", "cert.pem");
let https = "";
let http = "";

/** `gateway serve` in its own process; resolves once it printed its banner. */
async function serve(): Promise<{ proc: ChildProcess; exited: Promise<unknown> }> {
  const log = join(dir, `serve-${Date.now()}.log`);
  const fd = openSync(log, "a");
  const proc = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "serve", "--config", config], { cwd: ROOT, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const exited = new Promise((r) => proc.once("exit", r));
  await vi.waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`gateway exited:\n${readFileSync(log, "utf8")}`);
    expect(readFileSync(log, "utf8")).toContain("enrollment gateway ready");
  }, { timeout: 90_000, interval: 200 });
  return { proc, exited };
}

function curl(args: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-sS", "--cacert", rootPem, "-w", "\n%{http_code}", ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl ${args.join(" ")}: ${stderr}`));
      const i = stdout.lastIndexOf("\n");
      resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) });
    });
  });
}

const admin = (method: string, path: string) =>
  curl(["-X", method, "-H", `Authorization: Bearer ${readFileSync(join(data, "admin-token"), "utf8").trim()}`, "-H", "Content-Type: application/json", "--data", "{}", `${https}/admin/api/v1${path}`]);

/** EST enrollment; returns the serial (lower-case hex) and the PEM file of the certificate. */
async function enroll(name: string): Promise<{ serial: string; pem: string }> {
  const csr = makeCsr(dir, name, { subject: `/CN=${name}.example.com` });
  const r = await curl(["-u", `${USER.name}:${USER.password}`, "-H", "Content-Type: application/pkcs10", "--data-binary", `@${csr.body}`, `${https}/.well-known/est/simpleenroll`]);
  expect(r.status, r.body).toBe(200);
  const p7 = join(dir, `${name}.p7`);
  writeFileSync(p7, Buffer.from(r.body.replace(/\s+/g, ""), "base64"));
  const pem = join(dir, `${name}.pem`);
  expect((await opensslAsync(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs", "-out", pem])).code).toBe(0);
  const s = await opensslAsync(["x509", "-in", pem, "-noout", "-serial"]);
  return { serial: s.out.trim().replace(/^serial=/, "").toLowerCase(), pem };
}

async function revoke(serial: string): Promise<void> {
  const r = await admin("POST", `/certificates/${serial}/revoke`);
  expect(r.status, r.body).toBe(200);
}

async function publishCrl(): Promise<number> {
  const r = await admin("POST", "/cas/dev-issuing/crl");
  expect(r.status, r.body).toBe(200);
  return (JSON.parse(r.body) as { number: number }).number;
}

async function ocspStatus(pem: string): Promise<string> {
  const r = await opensslAsync(["ocsp", "-timeout", "10", "-issuer", issuingPem, "-cert", pem, "-url", `${http}/ocsp`, "-CAfile", rootPem]);
  expect(r.out).toContain("Response verify OK");
  return /: (good|revoked|unknown)/.exec(r.out)?.[1] ?? r.out;
}

const cli = (...args: string[]) => runGatewayCli([...args, "--config", config]);

describe("gateway backup / restore (real processes)", () => {
  let gw: { proc: ChildProcess; exited: Promise<unknown> } | undefined;
  beforeAll(async () => {
    [https, http] = [`https://localhost:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    writeFileSync(config, stringify({
      dataDir: data, profilesDir: join(ROOT, "profiles"),
      listen: { https: { host: "127.0.0.1", port: Number(new URL(https).port) }, http: { host: "127.0.0.1", port: Number(new URL(http).port) } },
      log: { level: "info" },
      est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [USER] } }] },
    }));
  });
  afterAll(() => {
    if (gw?.proc.exitCode === null) gw.proc.kill("SIGKILL");
  });

  it("backs up while serving; restores a destroyed database with audit, OCSP, serials and CRL numbers intact", async () => {
    gw = await serve();
    const before = [await enroll("a"), await enroll("b"), await enroll("c")];
    await revoke(before[1].serial);
    const crlInBackup = await publishCrl();
    const secret = await cli("secret", "create", "--profile", "device");
    expect(secret.code, secret.stderr).toBe(0);

    const file = join(dir, "gw.backup");
    const b = await cli("backup", "--to", file);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain(file);
    expect(b.stdout).toMatch(/audit head seq\s+\d+/);
    expect(b.stdout).toMatch(/schema version\s+\d+/);
    expect(b.stdout).toContain("not included: the data dir's key material");
    const again = await cli("backup", "--to", file);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("--force");
    const forced = await cli("backup", "--to", file, "--force");
    expect(forced.code, forced.stderr).toBe(0);
    expect(existsSync(`${file}-wal`)).toBe(false);
    const headSeq = Number(/audit head seq\s+(\d+)/.exec(forced.stdout)![1]);
    const bk = new Database(file, { readonly: true });
    expect((bk.prepare("SELECT max(number) AS n FROM crls").get() as { n: number }).n).toBe(crlInBackup);
    expect((bk.prepare("SELECT count(*) AS n FROM acme_nonce_keys").get() as { n: number }).n).toBeGreaterThanOrEqual(0);
    bk.close();

    // After the backup: more issuance, a revocation and a newer CRL the backup does not know.
    const after = [await enroll("d"), await enroll("e")];
    await revoke(after[0].serial);
    const crlAfterBackup = await publishCrl();
    expect(crlAfterBackup).toBeGreaterThan(crlInBackup);
    // The live chain recorded the backups.
    const live = new Database(dbPath, { readonly: true });
    expect((live.prepare("SELECT count(*) AS n FROM audit_events WHERE type = 'store.backup'").get() as { n: number }).n).toBe(2);
    live.close();

    const busy = await cli("restore", "--from", file);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain("stop it first");

    gw.proc.kill("SIGTERM");
    await gw.exited;
    for (const s of ["", "-wal", "-shm"]) rmSync(`${dbPath}${s}`, { force: true });
    writeFileSync(dbPath, "destroyed"); // the disk lost it

    // Refused: not a database; a tampered audit chain. Nothing is replaced.
    const junk = join(dir, "junk.db");
    writeFileSync(junk, "x".repeat(4096));
    const r1 = await cli("restore", "--from", junk);
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain("not an SQLite database");
    const tampered = join(dir, "tampered.db");
    copyFileSync(file, tampered);
    const t = new Database(tampered);
    t.exec("DROP TRIGGER audit_no_update");
    t.prepare("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2").run();
    const r3 = await cli("restore", "--from", tampered);
    expect(r3.code).not.toBe(0);
    expect(r3.stderr).toContain("append-only triggers are missing");
    t.exec("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END");
    t.close();
    const r2 = await cli("restore", "--from", tampered);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain("audit chain broken at event 2");
    expect(readFileSync(dbPath, "utf8")).toBe("destroyed");

    const r = await cli("restore", "--from", file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("audit chain     intact");
    expect(r.stdout).toContain("enrollmentSecretsRetired=1"); // unused in the backup, maybe spent since: expired
    expect(r.stdout).toContain("previous db     kept as");
    expect(existsSync(`${dbPath}-wal`)).toBe(false);
    const db = new Database(dbPath, { readonly: true });
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    expect(count("SELECT count(*) AS n FROM acme_nonce_keys")).toBe(0);
    expect(count("SELECT count(*) AS n FROM acme_used_nonces")).toBe(0);
    expect(count("SELECT count(*) AS n FROM job_leases")).toBe(0);
    const last = db.prepare("SELECT seq, type FROM audit_events ORDER BY seq DESC LIMIT 1").get() as { seq: number; type: string };
    expect(last.type).toBe("store.restored");
    expect(last.seq).toBe(headSeq + 1); // appended right after the backed-up chain
    db.close();
    const v = await cli("audit", "verify");
    expect(v.stdout, v.stderr).toContain("audit chain intact");

    gw = await serve();
    expect(await ocspStatus(before[0].pem)).toBe("good");
    expect(await ocspStatus(before[1].pem)).toBe("revoked");
    const fresh = await enroll("f");
    expect([...before, ...after].map((c) => c.serial)).not.toContain(fresh.serial);
    expect(await publishCrl()).toBeGreaterThan(crlAfterBackup);
    gw.proc.kill("SIGTERM");
    await gw.exited;
    const v2 = await cli("audit", "verify");
    expect(v2.stdout, v2.stderr).toContain("audit chain intact");
  }, 300_000);
});

describe("CRL numbers", () => {
  it("never go below the time floor, stay increasing across an older restore, and the newest `keep` are kept", async () => {
    const store = new SqliteStore(join(tempDir("crlnum-"), "g.db"));
    try {
      const save = (number: number) => store.crl.save({ caName: "ca", number, thisUpdate: "t", nextUpdate: "n", der: new Uint8Array([number & 0xff]) }, 3);
      expect(await store.crl.nextNumber("ca", 1_000)).toBe(1_000);
      for (const n of [1_000, 1_001, 5_000, 5_001, 9_000]) await save(n);
      expect(store.raw.prepare("SELECT number FROM crls ORDER BY number").all().map((r) => (r as { number: number }).number)).toEqual([5_000, 5_001, 9_000]);
      expect(await store.crl.nextNumber("ca", 2_000)).toBe(9_001); // a clock behind the stored numbers: still above them
      expect(await store.crl.nextNumber("ca", 20_000)).toBe(20_000); // an older database (restored): the clock keeps it ahead
      expect(await store.crl.nextNumber("other")).toBeGreaterThan(1_700_000_000_000);
    } finally {
      await store.close();
    }
  });
});
