// A throw-away PostgreSQL cluster for tests: initdb into a temp dir, start `postgres` on a free loopback port with
// crash-unsafe fast settings, hand back a URL, remove everything on stop. Debian's `postgresql` package provides the
// binaries (test/run-all.sh installs it). Failures throw with a clear message: PostgreSQL tests fail, never skip.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./ports.js";

export interface PgCluster {
  /** Temp directory holding the data directory and the socket; gone after stop(). */
  readonly dir: string;
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres (superuser, maintenance database). */
  readonly url: string;
  /** Fast shutdown, then removes the data directory. Idempotent. */
  stop(): Promise<void>;
  /** A database outage: fast shutdown, data kept (clients see connections refused). */
  halt(): Promise<void>;
  /** Starts the halted server again on the same port and data. */
  resume(): Promise<void>;
}

const MIN_VERSION = 15;
const START_DEADLINE_MS = 20_000;

/** bin directory of the highest installed PostgreSQL ≥ 15 (Debian layout), or PG_BINDIR when set. */
export function findPgBin(): string {
  const override = process.env.PG_BINDIR;
  if (override) {
    if (!existsSync(join(override, "initdb"))) throw new Error(`PG_BINDIR=${override} has no initdb`);
    return override;
  }
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && Number(v) >= MIN_VERSION && existsSync(join(root, v, "bin", "initdb")))
        .map(Number)
        .sort((a, b) => b - a)
    : [];
  if (!versions.length) {
    throw new Error(
      `PostgreSQL >= ${MIN_VERSION} not found under ${root}/<version>/bin: install Debian's postgresql package ` +
        "(npm test does this) or set PG_BINDIR",
    );
  }
  return join(root, String(versions[0]), "bin");
}

/** uid/gid to run the server as: `postgres` when we are root (the server refuses root), else ourselves. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const line = await run("getent", ["passwd", "postgres"]).catch(() => "");
  const [, , uid, gid] = line.trim().split(":");
  if (!uid || !gid) throw new Error("running as root but there is no `postgres` user to run the test cluster as");
  return { uid: Number(uid), gid: Number(gid) };
}

// Minimal environment: no inherited PG* variables or locale surprises reach initdb/postgres.
const childEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C", LC_ALL: "C", TZ: "UTC" };

function run(file: string, args: string[], opts: { uid?: number; gid?: number; cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...opts, env: childEnv, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} failed: ${err.message}\n${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}

/**
 * Starts a fresh cluster. Runs `initdb` and `postgres` directly with the postgres uid/gid (Node's spawn uid/gid,
 * which also drops root's supplementary groups) instead of through runuser, so the child *is* the postmaster and
 * can be signalled. Local socket connections are trusted; TCP needs the random superuser password in the URL, so
 * other local users cannot use the cluster while it runs.
 */
/** `settings` are extra server settings (`-c name=value`), e.g. a production-sized shared_buffers for a bench. */
export async function startPostgres(settings: Record<string, string> = {}): Promise<PgCluster> {
  let dir: string | undefined;
  try {
    const bin = findPgBin();
    const user = await serverUser();
    dir = mkdtempSync(join(tmpdir(), "pg-test-"));
    const data = join(dir, "data");
    const sock = join(dir, "sock");
    mkdirSync(sock);
    const password = randomBytes(18).toString("base64url");
    const pwfile = join(dir, "pw");
    writeFileSync(pwfile, password + "\n", { mode: 0o600 });
    if (user) for (const p of [dir, sock, pwfile]) chownSync(p, user.uid, user.gid);
    const ids = user ? { uid: user.uid, gid: user.gid } : {};
    await run(
      join(bin, "initdb"),
      ["-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`,
        "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"],
      { ...ids, cwd: dir },
    );
    rmSync(pwfile);
    let server: Server | undefined;
    for (let attempt = 0; !server; attempt++) {
      const port = await freePort();
      try {
        server = await startServer(bin, data, sock, port, ids, dir, settings);
      } catch (e) {
        // Another process may have taken the port between freePort() and the bind: try a new one.
        if (attempt < 3 && /could not (bind|create listen)|already in use/i.test((e as Error).message)) continue;
        throw e;
      }
    }
    let s = server;
    const d = dir;
    const url = `postgres://postgres:${password}@127.0.0.1:${s.port}/postgres`;
    let stopping: Promise<void> | undefined;
    return {
      dir: d,
      url,
      stop: () => (stopping ??= s.stop().finally(() => rmSync(d, { recursive: true, force: true }))),
      halt: () => s.stop(),
      resume: async () => {
        s = await startServer(bin, data, sock, s.port, ids, d, settings);
      },
    };
  } catch (e) {
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start a test PostgreSQL cluster: ${(e as Error).message}`);
  }
}

interface Server {
  port: number;
  stop(): Promise<void>;
}

function startServer(
  bin: string,
  data: string,
  sock: string,
  port: number,
  ids: { uid?: number; gid?: number },
  dir: string,
  settings: Record<string, string>,
): Promise<Server> {
  const child = spawn(
    join(bin, "postgres"),
    ["-D", data, "-k", sock, "-p", String(port), "-c", "listen_addresses=127.0.0.1",
      // Throw-away data: skip every durability cost.
      "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
      "-c", "max_connections=200", "-c", "shared_buffers=32MB",
      ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])],
    { ...ids, cwd: dir, env: childEnv, stdio: ["ignore", "ignore", "pipe"] },
  );
  const watchdog = spawnWatchdog(child, dir);
  let log = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return new Promise<Server>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGQUIT");
      watchdog.kill("SIGKILL");
      reject(new Error(`${why}\n${log.slice(-4000)}`.trim()));
    };
    const timer = setTimeout(() => fail(`postgres not ready after ${START_DEADLINE_MS} ms`), START_DEADLINE_MS);
    child.once("error", (e) => fail(`cannot run postgres: ${e.message}`));
    const onExit = (code: number | null, sig: string | null) => fail(`postgres exited during start (${sig ?? code})`);
    child.once("exit", onExit);
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      if (log.length < 64_000) log += chunk;
      // The postmaster logs this once recovery is done and it accepts connections (lc_messages=C from initdb).
      if (!log.includes("database system is ready to accept connections")) return;
      clearTimeout(timer);
      child.removeListener("exit", onExit);
      child.stderr!.removeAllListeners("data").resume(); // keep draining so the server never blocks on its log
      resolve({
        port,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT"); // fast shutdown
          await exited;
          watchdog.kill("SIGKILL");
        },
      });
    });
  });
}

/**
 * Ends the cluster if this process dies without stop() (crash, SIGKILL, vitest killing a worker): a detached shell
 * blocks reading a pipe from us; when we exit, the pipe closes and it sends the postmaster SIGQUIT (immediate
 * shutdown) and removes the directory.
 */
function spawnWatchdog(server: ChildProcess, dir: string): ChildProcess {
  const script =
    'read -r _; kill -QUIT "$1" 2>/dev/null; i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do ' +
    'sleep 0.1; i=$((i+1)); done; rm -rf "$2"';
  const w = spawn("sh", ["-c", script, "sh", String(server.pid), dir], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  w.unref();
  (w.stdin as unknown as { unref?: () => void }).unref?.();
  return w;
}

/** URL of database `name` on the cluster at `url`. */
export function databaseUrl(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = "/" + name;
  return u.toString();
}

/** Creates an empty database with a random name `t_<hex>`; drop() removes it (even with open connections). */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

export async function createDatabase(clusterUrl: string): Promise<TestDatabase> {
  const name = "t_" + randomBytes(8).toString("hex");
  await withClient(clusterUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: databaseUrl(clusterUrl, name),
    drop: () => withClient(clusterUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the run's shared cluster (test/helpers/pg-global-setup.ts); "" when it is not running. */
    pgUrl: string;
    /** Why the shared cluster could not start; "" when it runs. */
    pgError: string;
  }
}

let privateCluster: Promise<PgCluster> | undefined;

/**
 * For test files: a fresh database `t_<hex>` on the run's shared cluster, so files stay isolated while paying
 * initdb once per run. Throws (the test fails) when the cluster could not start. Under a config without the
 * global setup, falls back to one private cluster per test process (ended with the process by its watchdog).
 */
export async function testDatabase(): Promise<TestDatabase> {
  const { inject } = await import("vitest"); // dynamic: this module is also usable outside vitest
  const err = inject("pgError");
  if (err) throw new Error(err);
  const url = inject("pgUrl") || (await (privateCluster ??= startPostgres())).url;
  return createDatabase(url);
}

/**
 * testDatabase() for a whole test file, created on first get(). Call get() inside each test rather than in
 * beforeAll: when PostgreSQL is missing every test then fails with the reason, where a failing beforeAll would
 * leave them counted as skipped. Call drop() in afterAll.
 */
export function lazyTestDatabase(): { get(): Promise<TestDatabase>; drop(): Promise<void> } {
  let db: Promise<TestDatabase> | undefined;
  return {
    get: () => (db ??= testDatabase()),
    drop: async () => {
      const d = await db?.catch(() => undefined);
      await d?.drop();
    },
  };
}

async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}
