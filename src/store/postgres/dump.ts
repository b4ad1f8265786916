import { execFile } from "node:child_process";
import { chmodSync, closeSync, existsSync, linkSync, openSync, readdirSync, readSync, renameSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, delimiter, dirname, join, resolve } from "node:path";
import { GatewayError } from "../../errors.js";

/**
 * `pg_dump` / `pg_restore` for `gateway backup` / `restore` on PostgreSQL. The tools run as child processes with
 * argument arrays (no shell); the connection comes from the store URL through PG* environment variables of the
 * child only, so the password never appears in an argument list (`ps` shows those to every local user) or a log.
 */

export type PgTool = "pg_dump" | "pg_restore";

/** Connection-target variables of the parent that must not redirect the tools elsewhere than the configured URL. */
const TARGET_VARS = ["PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "DATABASE_URL"];

/** URL query parameters libpq understands, and the variable that carries each. */
const QUERY_VARS: Record<string, string> = {
  host: "PGHOST", hostaddr: "PGHOSTADDR", port: "PGPORT", sslmode: "PGSSLMODE", sslrootcert: "PGSSLROOTCERT", sslcert: "PGSSLCERT",
  sslkey: "PGSSLKEY", sslcrl: "PGSSLCRL", connect_timeout: "PGCONNECT_TIMEOUT", target_session_attrs: "PGTARGETSESSIONATTRS",
  gssencmode: "PGGSSENCMODE", channel_binding: "PGCHANNELBINDING",
};

/** The child's environment for the store URL: `base` without its own connection target, plus the URL's parts. */
export function pgEnvFromUrl(url: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new GatewayError("RA_ERR_CONFIG", "store.url is not a valid URL"); // never echo it: it may hold a password
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new GatewayError("RA_ERR_CONFIG", "store.url must be a postgres:// or postgresql:// URL");
  const env: NodeJS.ProcessEnv = { ...base };
  for (const k of TARGET_VARS) delete env[k];
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1"); // IPv6 literals come bracketed
  if (host) env.PGHOST = decodeURIComponent(host);
  if (u.port) env.PGPORT = u.port;
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (db) env.PGDATABASE = db;
  for (const [k, v] of u.searchParams) {
    const name = QUERY_VARS[k];
    if (name) env[name] = v;
  }
  return env;
}

/** The tool: in GATEWAY_PG_BIN when set, else on PATH, else in the newest /usr/lib/postgresql/<major>/bin. */
export function findPgTool(tool: PgTool, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.GATEWAY_PG_BIN;
  if (dir) {
    if (!existsSync(join(dir, tool))) throw new GatewayError("RA_ERR_CONFIG", `GATEWAY_PG_BIN=${dir} has no ${tool}`);
    return join(dir, tool);
  }
  for (const p of (env.PATH ?? "").split(delimiter)) if (p && existsSync(join(p, tool))) return join(p, tool);
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, "bin", tool))).map(Number).sort((a, b) => b - a) : [];
  if (majors.length) return join(root, String(majors[0]), "bin", tool);
  throw new GatewayError("RA_ERR_CONFIG", `${tool} not found (install the PostgreSQL client tools of the server's major version or newer, or set GATEWAY_PG_BIN)`);
}

/** Runs a tool; rejects with its stderr (which names version mismatches, permissions, ...) but never the URL. */
function runTool(tool: PgTool, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const file = findPgTool(tool, env);
  return new Promise((res, rej) => {
    execFile(file, args, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) rej(new GatewayError("RA_ERR_CONFIG", `${tool} failed: ${(stderr.trim() || err.message).split("\n").slice(0, 20).join("\n")}`));
      else res(stdout);
    });
  });
}

const tmpNear = (file: string) => join(dirname(resolve(file)), `.${basename(file)}.backup-${randomBytes(6).toString("hex")}.tmp`);

/**
 * pg_dump of the configured database in custom format (what pg_restore reads; compressed; one consistent snapshot
 * that does not block the serving gateways). Written to a temp file beside the target, then linked into place
 * (fails if the target appeared meanwhile) or, with `force`, renamed over it: nobody sees a half-written dump.
 */
export async function pgDump(url: string, toFile: string, force: boolean): Promise<void> {
  if (existsSync(toFile) && !force) throw new GatewayError("RA_ERR_CONFIG", `${toFile} exists; pass --force to overwrite it`);
  const tmp = tmpNear(toFile);
  try {
    // Created owner-only before pg_dump writes into it (it truncates, keeping the mode): token hashes and sealed
    // secrets are never readable by others, not even while the dump runs.
    closeSync(openSync(tmp, "wx", 0o600));
    await runTool("pg_dump", ["--format=custom", "--no-owner", `--file=${tmp}`], pgEnvFromUrl(url));
    chmodSync(tmp, 0o600);
    if (force) renameSync(tmp, toFile);
    else linkSync(tmp, toFile);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** What a dump holds, read from the file without any database: the gateway schema version it was taken at. */
export interface DumpInfo {
  schemaVersion: number;
}

/**
 * Checks `file` is a custom-format dump of a gateway database before anything is replaced: the "PGDMP" magic, an
 * audit table with its append-only triggers (a dump edited to drop them would come back unguarded), and the
 * schema version (schema_migrations' rows, printed by pg_restore without connecting anywhere).
 */
export async function inspectDump(file: string): Promise<DumpInfo> {
  if (!existsSync(file)) throw new GatewayError("RA_ERR_NOT_FOUND", `${file} does not exist`);
  const head = Buffer.alloc(5);
  const fd = openSync(file, "r");
  try {
    readSync(fd, head, 0, 5, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString("latin1") !== "PGDMP") throw new GatewayError("RA_ERR_CONFIG", `${file} is not a pg_dump custom-format file (gateway backup writes those)`);
  const env = { ...process.env };
  const list = await runTool("pg_restore", ["--list", file], env);
  if (!/ TABLE public audit_events /.test(list) || !/ TABLE public schema_migrations /.test(list)) {
    throw new GatewayError("RA_ERR_CONFIG", `${file} is not a dump of a gateway database`);
  }
  for (const t of ["audit_no_update", "audit_no_delete", "audit_no_truncate"]) {
    if (!new RegExp(` TRIGGER public audit_events ${t} `).test(list)) throw new GatewayError("RA_ERR_CONFIG", `${file}: the audit table's append-only triggers are missing`);
  }
  const sql = await runTool("pg_restore", ["--data-only", "--table=schema_migrations", "--file=-", file], env);
  const copy = /^COPY [^\n]*schema_migrations[^\n]* FROM stdin;\n([\s\S]*?)^\\\.$/m.exec(sql);
  const versions = (copy?.[1] ?? "").split("\n").filter(Boolean).map((l) => Number(l.split("\t")[0]));
  return { schemaVersion: versions.length ? Math.max(...versions) : 0 };
}

/** A libpq conninfo naming only the database (quoted), so a name holding '=' is not read as a connection string. */
const dbnameConninfo = (name: string) => `dbname='${name.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/**
 * pg_restore of `file` into the configured database: its gateway objects are dropped and recreated (`--clean
 * --if-exists`) in ONE transaction that stops at the first error, so a failed restore changes nothing.
 */
export async function pgRestore(url: string, file: string): Promise<void> {
  const env = pgEnvFromUrl(url);
  await runTool("pg_restore", ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error", `--dbname=${dbnameConninfo(env.PGDATABASE ?? "")}`, file], env);
}
