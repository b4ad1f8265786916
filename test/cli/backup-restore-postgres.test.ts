import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { pgDump, pgEnvFromUrl } from "../../src/store/postgres/dump.js";
import { runGatewayCli } from "../helpers/cli.js";
import { makeCsr } from "../helpers/csr.js";
import { ROOT } from "../helpers/gateway.js";
import { opensslAsync, tempDir } from "../helpers/openssl.js";
import { freePort } from "../helpers/ports.js";
import { lazyTestDatabase } from "../helpers/postgres.js";

// `gateway backup` / `restore` / `db after-restore` on PostgreSQL, with real gateway processes, pg_dump/pg_restore
// and openssl: the same story as backup-restore.test.ts (SQLite).
const USER = { name: "router1", password: "router1-Secret-pass" };
const dir = tempDir("pgbackup-");
const data = join(dir, "data");
const config = join(dir, "config.yaml");
const rootPem = join(data, "cas", "dev-root", "cert.pem");
const issuingPem = join(data, "cas", "dev-issuing", "cert.pem");
const testDb = lazyTestDatabase();
let env: Record<string, string> = {};
let https = "";
let http = "";

async function serve(): Promise<{ proc: ChildProcess; exited: Promise<unknown> }> {
  const log = join(dir, `serve-${Date.now()}.log`);
  const fd = openSync(log, "a");
  const proc = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "serve", "--config", config], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", fd, fd] });
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

async function estEnroll(name: string, user: string, password: string): Promise<{ status: number; body: string }> {
  const csr = makeCsr(dir, name, { subject: `/CN=${name}.example.com` });
  return curl(["-u", `${user}:${password}`, "-H", "Content-Type: application/pkcs10", "--data-binary", `@${csr.body}`, `${https}/.well-known/est/simpleenroll`]);
}

/** EST enrollment; returns the serial (lower-case hex) and the PEM file of the certificate. */
async function enroll(name: string): Promise<{ serial: string; pem: string }> {
  const r = await estEnroll(name, USER.name, USER.password);
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

async function sql<R = Record<string, unknown>>(text: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: (await testDb.get()).url });
  await c.connect();
  try {
    return (await c.query(text)).rows as R[];
  } finally {
    await c.end();
  }
}

const cli = (...args: string[]) => runGatewayCli([...args, "--config", config], env);

describe("gateway backup / restore on PostgreSQL (real processes)", () => {
  let gw: { proc: ChildProcess; exited: Promise<unknown> } | undefined;
  beforeAll(async () => {
    [https, http] = [`https://localhost:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    writeFileSync(config, stringify({
      dataDir: data, profilesDir: join(ROOT, "profiles"),
      store: { kind: "postgres", url: { env: "GW_TEST_DB_URL" } },
      listen: { https: { host: "127.0.0.1", port: Number(new URL(https).port) }, http: { host: "127.0.0.1", port: Number(new URL(http).port) } },
      log: { level: "info" },
      est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [USER] } }] },
    }));
  });
  afterAll(async () => {
    if (gw?.proc.exitCode === null) gw.proc.kill("SIGKILL");
    await testDb.drop();
  });

  it("pg_dump while serving; pg_restore of a destroyed database keeps audit, OCSP, serials and CRL numbers", async () => {
    env = { GW_TEST_DB_URL: (await testDb.get()).url };
    gw = await serve();
    const before = [await enroll("a"), await enroll("b")];
    await revoke(before[1].serial);
    const crlInBackup = await publishCrl();
    const secret = await cli("secret", "create", "--profile", "device", "--protocols", "est");
    expect(secret.code, secret.stderr).toBe(0);
    const minted = JSON.parse(secret.stdout) as { id: string; secret: string };

    const file = join(dir, "gw.dump");
    const b = await cli("backup", "--to", file);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain(file);
    expect(b.stdout).toMatch(/audit head seq\s+at least \d+/);
    const magic = Buffer.alloc(5);
    const fd = openSync(file, "r");
    readSync(fd, magic, 0, 5, 0);
    closeSync(fd);
    expect(magic.toString("latin1")).toBe("PGDMP");
    expect(statSync(file).mode & 0o777).toBe(0o600); // token hashes, sealed secrets
    const again = await cli("backup", "--to", file);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("--force");
    expect((await sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE type = 'store.backup'"))[0].n).toBe(1);

    // After the backup: one more certificate and a newer CRL the backup does not know.
    const after = await enroll("c");
    const crlAfterBackup = await publishCrl();
    expect(crlAfterBackup).toBeGreaterThan(crlInBackup);

    const busy = await cli("restore", "--from", file);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain("stop the gateways first");
    gw.proc.kill("SIGTERM");
    await gw.exited;

    await sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"); // the data is lost
    const junk = join(dir, "junk.dump");
    writeFileSync(junk, "x".repeat(4096));
    const refused = await cli("restore", "--from", junk);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("not a pg_dump custom-format file");

    const r = await cli("restore", "--from", file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("audit chain     intact");
    expect(r.stdout).toContain("enrollmentSecretsRetired=1"); // unused in the backup, maybe spent since: expired
    expect((await sql<{ n: number }>("SELECT count(*)::int AS n FROM acme_nonce_keys"))[0].n).toBe(0);
    expect((await sql<{ n: number }>("SELECT count(*)::int AS n FROM job_leases"))[0].n).toBe(0);
    const last = (await sql<{ type: string }>("SELECT type FROM audit_events ORDER BY seq DESC LIMIT 1"))[0];
    expect(last.type).toBe("store.restored");
    const v = await cli("audit", "verify");
    expect(v.stdout, v.stderr).toContain("audit chain intact");

    gw = await serve();
    expect(await ocspStatus(before[0].pem)).toBe("good");
    expect(await ocspStatus(before[1].pem)).toBe("revoked");
    const fresh = await enroll("d");
    expect([...before, after].map((c) => c.serial)).not.toContain(fresh.serial);
    expect(await publishCrl()).toBeGreaterThan(crlAfterBackup);
    expect((await estEnroll("e", minted.id, minted.secret)).status).toBe(401);
    gw.proc.kill("SIGTERM");
    await gw.exited;

    // A restore by other means (PITR, a snapshot): after-restore verifies, clears and records it.
    const a = await cli("db", "after-restore");
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain("audit chain     intact");
    expect(a.stdout).toMatch(/acmeNonceKeys=\d+/);
    expect((await sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE type = 'store.restored'"))[0].n).toBe(2);
    expect((await cli("audit", "verify")).stdout).toContain("audit chain intact");

    // A database at a newer schema than the dump: --clean would leave the newer objects behind, so refused untouched.
    await sql("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'x')");
    const newer = await cli("restore", "--from", file);
    expect(newer.code).not.toBe(0);
    expect(newer.stderr).toContain("restore it into an empty database");
    await sql("DELETE FROM schema_migrations WHERE version = 999");
    // Over a live (not destroyed) database: --clean replaces its objects in the one transaction.
    const over = await cli("restore", "--from", file);
    expect(over.code, over.stderr).toBe(0);
    expect((await sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE type = 'store.restored'"))[0].n).toBe(1);
    expect((await cli("audit", "verify")).stdout).toContain("audit chain intact");

    // Data restored by other means with a tampered chain: after-restore says it must not be served.
    await sql("ALTER TABLE audit_events DISABLE TRIGGER audit_no_update; UPDATE audit_events SET actor = 'mallory' WHERE seq = 2");
    const broken = await cli("db", "after-restore");
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toContain("audit chain broken at event 2");
    expect(broken.stderr).toContain("must not be served");
  }, 300_000);
});

describe("pg_dump / pg_restore connection environment", () => {
  it("takes host, port, user, password, database and sslmode from the URL into PG* variables, never argv", () => {
    const e = pgEnvFromUrl("postgresql://gw%40x:p%40ss%3Aw0rd@[::1]:6543/gate%20way?sslmode=verify-full&application_name=x", { PATH: "/bin", PGHOST: "elsewhere", PGSERVICE: "svc" });
    expect(e).toMatchObject({ PGHOST: "::1", PGPORT: "6543", PGUSER: "gw@x", PGPASSWORD: "p@ss:w0rd", PGDATABASE: "gate way", PGSSLMODE: "verify-full", PATH: "/bin" });
    expect(e.PGSERVICE).toBeUndefined();
    const plain = pgEnvFromUrl("postgres://db.example.com/gw", {});
    expect(plain).toEqual({ PGHOST: "db.example.com", PGDATABASE: "gw" });
    expect(() => pgEnvFromUrl("mysql://u:secretpw@h/d", {})).toThrow(/postgres/);
    expect(() => pgEnvFromUrl("not a url secretpw", {})).toThrow(expect.objectContaining({ message: expect.not.stringContaining("secretpw") as string }) as Error);
  });

  it("pg_dump gets the password in its environment, never in its arguments", async () => {
    // A stand-in pg_dump (GATEWAY_PG_BIN) that records what it was given, as `ps` and /proc would show it.
    const bin = tempDir("fakepg-");
    const seen = join(bin, "seen");
    writeFileSync(join(bin, "pg_dump"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${seen}.argv\nenv > ${seen}.env\nfor a; do case "$a" in --file=*) printf PGDMP > "\${a#--file=}";; esac; done\n`, { mode: 0o755 });
    const saved = process.env.GATEWAY_PG_BIN;
    process.env.GATEWAY_PG_BIN = bin;
    try {
      await pgDump("postgres://gw:Pa55-w0rd-x@127.0.0.1:5999/gwdb?sslmode=require", join(bin, "out.dump"), false);
    } finally {
      if (saved === undefined) delete process.env.GATEWAY_PG_BIN;
      else process.env.GATEWAY_PG_BIN = saved;
    }
    const argv = readFileSync(`${seen}.argv`, "utf8");
    expect(argv).toContain("--format=custom");
    expect(argv).not.toContain("Pa55-w0rd-x");
    expect(argv).not.toContain("postgres://");
    const childEnv = readFileSync(`${seen}.env`, "utf8");
    for (const kv of ["PGPASSWORD=Pa55-w0rd-x", "PGUSER=gw", "PGHOST=127.0.0.1", "PGPORT=5999", "PGDATABASE=gwdb", "PGSSLMODE=require"]) expect(childEnv).toContain(kv);
    expect(readFileSync(join(bin, "out.dump"), "utf8")).toBe("PGDMP");
  });
});
