import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import type { GatewayConfig } from "../config/schema.js";
import { readSecret } from "../config/load.js";
import { GatewayError } from "../errors.js";
import { MIGRATIONS } from "./sqlite/migrations.js";
import { SqliteStore } from "./sqlite/store.js";
import type { PgOptions } from "./postgres/db.js";
import type { PostgresStore } from "./postgres/store.js";
import type { ServerSizing } from "./postgres/server-sizing.js";

/** The PostgreSQL engine (and `pg`) loads only when the config names it: SQLite deployments and CLI start-up skip it. */
const postgres = () => import("./postgres/store.js");

/** The config's `store:` key with what the engines need: the SQLite file, or the PostgreSQL pool's options. */
type StoreTarget = { kind: "sqlite"; path: string } | { kind: "postgres"; options: PgOptions };

/** The SQLite file the config names: `store.path`, or `<dataDir>/gateway.db`. */
export function sqlitePath(cfg: Pick<GatewayConfig, "store">, dataDir: string): string {
  return cfg.store.kind === "sqlite" && cfg.store.path ? cfg.store.path : join(dataDir, "gateway.db");
}

function target(cfg: Pick<GatewayConfig, "store">, dataDir: string): StoreTarget {
  const s = cfg.store;
  if (s.kind === "sqlite") return { kind: "sqlite", path: sqlitePath(cfg, dataDir) };
  const url = readSecret(s.url, "store.url");
  // Checked here, where the message can name the problem without echoing the URL (it may hold a password).
  if (!/^postgres(ql)?:\/\//.test(url)) throw new GatewayError("RA_ERR_CONFIG", "store.url must be a postgres:// or postgresql:// URL");
  return { kind: "postgres", options: { url, poolSize: s.poolSize, statementTimeoutMs: s.statementTimeoutMs, connectTimeoutMs: s.connectTimeoutMs } };
}

/**
 * Opens the store the config names, migrated: SQLite (the default, `<dataDir>/gateway.db`) or PostgreSQL (a pool;
 * migrations under an advisory lock, so instances starting at once migrate once).
 */
export async function openStore(
  cfg: Pick<GatewayConfig, "store">,
  dataDir: string,
  /** Where PostgreSQL connection errors outside any call go (a pooled connection dropped): the gateway's log. */
  onDatabaseError?: (err: Error) => void,
): Promise<SqliteStore | PostgresStore> {
  const t = target(cfg, dataDir);
  return t.kind === "sqlite" ? new SqliteStore(t.path) : (await postgres()).openPostgresStore({ ...t.options, onError: onDatabaseError });
}

/** What a log line or `gateway db status` may say about the store: never the password. */
export function describeStore(cfg: Pick<GatewayConfig, "store">, dataDir: string): string {
  if (cfg.store.kind === "sqlite") return `sqlite ${sqlitePath(cfg, dataDir)}`;
  try {
    const u = new URL(readSecret(cfg.store.url, "store.url"));
    return `postgres ${u.hostname}${u.port ? `:${u.port}` : ""}${u.pathname}`;
  } catch {
    return "postgres (url not readable)";
  }
}

/** `gateway db status`: the schema version in the database and the newest this gateway knows. */
export async function storeStatus(cfg: Pick<GatewayConfig, "store">, dataDir: string): Promise<{ engine: "sqlite" | "postgres"; current: number; latest: number; server?: ServerSizing }> {
  const t = target(cfg, dataDir);
  if (t.kind === "postgres") return { engine: "postgres", ...(await (await postgres()).migrationStatus(t.options)) };
  if (!existsSync(t.path)) return { engine: "sqlite", current: 0, latest: MIGRATIONS.length };
  const db = new Database(t.path, { readonly: true, fileMustExist: true });
  try {
    return { engine: "sqlite", current: db.pragma("user_version", { simple: true }) as number, latest: MIGRATIONS.length };
  } finally {
    db.close();
  }
}

/** `gateway db migrate`: applies the missing migrations (what opening the store does anyway) and says from which version to which. */
export async function migrateStore(cfg: Pick<GatewayConfig, "store">, dataDir: string): Promise<{ engine: "sqlite" | "postgres"; from: number; to: number }> {
  const t = target(cfg, dataDir);
  if (t.kind === "postgres") return { engine: "postgres", ...(await (await postgres()).migrate(t.options)) };
  const { current: from } = await storeStatus(cfg, dataDir);
  mkdirSync(dirname(t.path), { recursive: true, mode: 0o700 });
  const store = new SqliteStore(t.path);
  await store.close();
  return { engine: "sqlite", from, to: Math.max(from, MIGRATIONS.length) };
}
