import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { runGatewayCli } from "../helpers/cli.js";
import { makeCsr } from "../helpers/csr.js";
import { initSoftHsmToken } from "../../src/signers/softhsm-dev.js";
import { ROOT } from "../helpers/gateway.js";
import { opensslAsync, tempDir } from "../helpers/openssl.js";
import { freePort } from "../helpers/ports.js";
import { lazyTestDatabase } from "../helpers/postgres.js";
import pg from "pg";

const USER = { name: "router1", password: "router1-Secret-pass" };

interface Served {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  dir: string;
  config: string;
  logPath: string;
  https: string;
  http: string;
  rootPem: string;
}

/** `gateway serve --workers N` in its own process, logging at info (access lines carry the worker's pid) to a file. */
async function serveWorkers(workers: string, o: { env?: Record<string, string>; prepare?: (config: string) => Promise<void>; root?: string } = {}): Promise<Served> {
  const dir = tempDir("workers-");
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const config = join(dir, "config.yaml");
  writeFileSync(config, stringify({
    dataDir: join(dir, "data"), profilesDir: join(ROOT, "profiles"),
    listen: { https: { host: "127.0.0.1", port: httpsPort }, http: { host: "127.0.0.1", port: httpPort } },
    log: { level: "info" },
    est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [USER] } }] },
  }));
  await o.prepare?.(config);
  const logPath = join(dir, "gateway.log");
  const fd = openSync(logPath, "a");
  const proc = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "serve", "--config", config, "--workers", workers], {
    cwd: ROOT, stdio: ["ignore", fd, fd], env: { ...process.env, NODE_ENV: "production", ...o.env },
  });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once("exit", (code, signal) => r({ code, signal })));
  return { proc, exited, dir, config, logPath, https: `https://localhost:${httpsPort}`, http: `http://127.0.0.1:${httpPort}`, rootPem: join(dir, "data", "cas", o.root ?? "dev-root", "cert.pem") };
}

function logLines(s: Served): Array<Record<string, unknown>> {
  return readFileSync(s.logPath, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Pids of workers the primary has reported ready, in order. */
function readyPids(s: Served): number[] {
  return logLines(s).filter((l) => l.msg === "worker ready").map((l) => l.workerPid as number);
}

function curl(s: Served, args: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-sS", "--cacert", s.rootPem, "-w", "\n%{http_code}", ...args], { timeout: 60_000, maxBuffer: 1 << 22 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl ${args.join(" ")}: ${stderr}`));
      const i = stdout.lastIndexOf("\n");
      resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) });
    });
  });
}

async function enroll(s: Served, name: string): Promise<{ status: number; body: string }> {
  const csr = makeCsr(s.dir, name, { subject: `/CN=${name}.example.com` });
  return curl(s, ["-u", `${USER.name}:${USER.password}`, "-H", "Content-Type: application/pkcs10", "--data-binary", `@${csr.body}`, `${s.https}/.well-known/est/simpleenroll`]);
}

/** The serial of the certificate in an EST certs-only answer. */
async function serialOf(s: Served, name: string, body: string): Promise<string> {
  const p7 = join(s.dir, `${name}.p7`);
  writeFileSync(p7, Buffer.from(body.replace(/\s+/g, ""), "base64"));
  const pem = join(s.dir, `${name}.pem`);
  expect((await opensslAsync(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs", "-out", pem])).code).toBe(0);
  const r = await opensslAsync(["x509", "-in", pem, "-noout", "-serial"]);
  return r.out.trim().replace(/^serial=/, "").toLowerCase();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The primary prints the banner once every worker is ready. */
async function allReady(s: Served, n: number): Promise<void> {
  await vi.waitFor(() => {
    if (s.proc.exitCode !== null) throw new Error(`gateway exited:\n${readFileSync(s.logPath, "utf8")}`);
    expect(readFileSync(s.logPath, "utf8")).toContain(`workers        ${n} processes`);
  }, { timeout: 90_000, interval: 200 });
}

function killAll(s: Served | undefined): void {
  if (!s) return;
  if (s.proc.exitCode === null) s.proc.kill("SIGKILL");
  for (const pid of readyPids(s)) if (alive(pid)) process.kill(pid, "SIGKILL");
}

describe("gateway serve --workers 2", () => {
  let s: Served;
  beforeAll(async () => {
    s = await serveWorkers("2");
    await allReady(s, 2);
  });
  afterAll(() => killAll(s));

  it("answers from both workers; concurrent EST issuances keep one intact audit chain and distinct serials", async () => {
    const pids = readyPids(s);
    expect(pids).toHaveLength(2);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(s.proc.pid); // the primary serves nothing itself

    const N = 32;
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => enroll(s, `dev${i}`)));
    for (const a of answers) expect(a.status, a.body).toBe(200);
    const serials = await Promise.all(answers.map((a, i) => serialOf(s, `dev${i}`, a.body)));
    expect(new Set(serials).size).toBe(N);

    const served = logLines(s).filter((l) => l.msg === "request" && String(l.path).endsWith("/simpleenroll") && l.status === 200);
    expect(served).toHaveLength(N);
    expect(new Set(served.map((l) => l.pid))).toEqual(new Set(pids));

    // A scrape of either worker shows every worker's series, apart under their `worker` label.
    const metrics = await (await fetch(`${s.http}/metrics`)).text();
    const perWorker = [...metrics.matchAll(/^gateway_issuances_total\{protocol="est",profile="device",worker="(\d)"\} (\d+)$/gm)];
    expect(perWorker.map((m) => m[1]).sort()).toEqual(["1", "2"]);
    expect(perWorker.reduce((n, m) => n + Number(m[2]), 0)).toBe(N);
    expect(metrics.match(/^gateway_pending_approvals\{worker="\d"\} 0$/gm)).toHaveLength(2);

    // Both workers wrote to the one database: every issuance is in it once, each with its audit event.
    const db = new Database(join(s.dir, "data", "gateway.db"), { readonly: true });
    try {
      const rows = db.prepare("SELECT serial, stage FROM certificates WHERE protocol = 'est'").all() as Array<{ serial: string; stage: string }>;
      expect(rows.map((r) => r.serial.toLowerCase()).sort()).toEqual([...serials].sort());
      expect(rows.every((r) => r.stage === "issued")).toBe(true);
      const issued = db.prepare("SELECT target FROM audit_events WHERE type = 'certificate.issued'").all() as Array<{ target: string }>;
      expect(new Set(issued.map((r) => r.target.toLowerCase()))).toEqual(new Set(serials));
      // First-start material was made once, by the primary, before the workers existed.
      const created = db.prepare("SELECT type FROM audit_events WHERE type IN ('ca.initialized', 'scep.ra.created', 'cmp.responder.created')").all();
      expect(created).toHaveLength(3);
    } finally {
      db.close();
    }
    const verify = await runGatewayCli(["audit", "verify", "--config", s.config]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain("audit chain intact");
  });

  it("a worker killed with SIGKILL is replaced and the service keeps answering", async () => {
    const [victim, other] = readyPids(s);
    process.kill(victim, "SIGKILL");
    await vi.waitFor(() => expect(readyPids(s).length).toBe(3), { timeout: 90_000, interval: 200 });
    const replacement = readyPids(s)[2];
    expect([victim, other]).not.toContain(replacement);
    expect(alive(victim)).toBe(false);
    const died = logLines(s).find((l) => l.msg === "worker died; replacing it");
    expect(died).toMatchObject({ workerPid: victim, signal: "SIGKILL" });

    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => enroll(s, `after${i}`)));
    for (const a of answers) expect(a.status, a.body).toBe(200);
    const served = logLines(s).filter((l) => l.msg === "request" && String(l.path).endsWith("/simpleenroll") && l.status === 200);
    expect(served.slice(-8).every((l) => l.pid === replacement || l.pid === other)).toBe(true);
  });

  it("SIGTERM to the primary stops every worker and exits 0", async () => {
    const pids = readyPids(s).slice(-2);
    s.proc.kill("SIGTERM");
    expect(await s.exited).toEqual({ code: 0, signal: null });
    await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]), { timeout: 30_000, interval: 100 });
    const verify = await runGatewayCli(["audit", "verify", "--config", s.config]);
    expect(verify.code, verify.stderr).toBe(0);
  });
});

describe("gateway serve --workers 2 with the CA keys in a PKCS#11 token", () => {
  let s: Served;
  let env: Record<string, string>;
  beforeAll(async () => {
    const tokens = tempDir("workers-hsm-");
    const token = initSoftHsmToken({ label: "gw-workers", soPin: "workers-so-pin", userPin: "workers-user-pin", tokensDir: join(tokens, "tokens") });
    const pinFile = join(tokens, "pin");
    writeFileSync(pinFile, "workers-user-pin\n", { mode: 0o600 });
    env = { SOFTHSM2_CONF: token.confPath };
    s = await serveWorkers("2", {
      env, root: "hsm-root",
      async prepare(config) {
        const r = await runGatewayCli(["ca", "init", "--config", config, "--pkcs11", "--module", token.modulePath, "--token", "gw-workers", "--pin-file", pinFile,
          "--key", "ec-p256", "--root-name", "hsm-root", "--issuing-name", "hsm-issuing"], env);
        expect(r.code, r.stderr).toBe(0);
      },
    });
    await allReady(s, 2);
  });
  afterAll(() => killAll(s));

  it("each worker signs through its own session: concurrent issuances from both succeed", async () => {
    const N = 16;
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => enroll(s, `hsm${i}`)));
    for (const a of answers) expect(a.status, a.body).toBe(200);
    expect(new Set(await Promise.all(answers.map((a, i) => serialOf(s, `hsm${i}`, a.body)))).size).toBe(N);
    const served = logLines(s).filter((l) => l.msg === "request" && String(l.path).endsWith("/simpleenroll") && l.status === 200);
    expect(new Set(served.map((l) => l.pid))).toEqual(new Set(readyPids(s)));
    s.proc.kill("SIGTERM");
    expect(await s.exited).toEqual({ code: 0, signal: null });
    const verify = await runGatewayCli(["audit", "verify", "--config", s.config], env);
    expect(verify.code, verify.stderr).toBe(0);
  });
});

describe("gateway serve --workers 2 on PostgreSQL", () => {
  const testDb = lazyTestDatabase();
  let s: Served;
  let env: Record<string, string>;
  beforeAll(async () => {
    env = { GW_TEST_DB_URL: (await testDb.get()).url };
    s = await serveWorkers("2", {
      env,
      prepare: async (config) => writeFileSync(config, readFileSync(config, "utf8") + stringify({ store: { kind: "postgres", url: { env: "GW_TEST_DB_URL" }, poolSize: 4 } })),
    });
    await allReady(s, 2);
  });
  afterAll(async () => {
    killAll(s);
    await testDb.drop();
  });

  it("both workers issue into the one database; distinct serials; one intact audit chain", async () => {
    const pids = readyPids(s);
    const N = 16;
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => enroll(s, `pgdev${i}`)));
    for (const a of answers) expect(a.status, a.body).toBe(200);
    const serials = await Promise.all(answers.map((a, i) => serialOf(s, `pgdev${i}`, a.body)));
    expect(new Set(serials).size).toBe(N);
    const served = logLines(s).filter((l) => l.msg === "request" && String(l.path).endsWith("/simpleenroll") && l.status === 200);
    expect(new Set(served.map((l) => l.pid))).toEqual(new Set(pids));
    const c = new pg.Client({ connectionString: env.GW_TEST_DB_URL });
    await c.connect();
    try {
      const rows = (await c.query("SELECT serial, stage FROM certificates WHERE protocol = 'est'")).rows as Array<{ serial: string; stage: string }>;
      expect(rows.map((r) => r.serial).sort()).toEqual([...serials].sort());
      expect(rows.every((r) => r.stage === "issued")).toBe(true);
    } finally {
      await c.end();
    }
    const verify = await runGatewayCli(["audit", "verify", "--config", s.config], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain("audit chain intact");
  });
});
