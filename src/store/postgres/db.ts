import pg from "pg";
import { GatewayError } from "../../errors.js";

/** Thin helpers over node-postgres shared by every PostgreSQL sub-store. */

export type Row = Record<string, unknown>;
/** A pool or one checked-out client (inside a transaction). */
export type Queryable = pg.Pool | pg.PoolClient;

export interface PgOptions {
  url: string;
  /** Connections per gateway process (default 10). */
  poolSize?: number;
  /** Server-side statement_timeout, also used as idle-in-transaction timeout (default 30000). */
  statementTimeoutMs?: number;
  /** Time to wait for a connection to open (default 5000). */
  connectTimeoutMs?: number;
  /** Where background connection errors go (default: one JSON line on stderr). */
  onError?: (err: Error) => void;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** Per-pool type parsers: bigint/numeric become JS numbers (serials, CRL numbers, counts fit in 2^53);
 *  the global pg.types is left alone so other pg users in the process are unaffected. */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if ((oid === INT8_OID || oid === NUMERIC_OID) && format !== "binary") return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as "text");
  }) as pg.CustomTypesConfig["getTypeParser"],
};

export function createPool(o: PgOptions): pg.Pool {
  const timeout = o.statementTimeoutMs ?? 30_000;
  const connectTimeout = o.connectTimeoutMs ?? 5_000;
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.poolSize ?? 10,
    // pg-pool applies connectionTimeoutMillis to the wait for a free pooled client too, so under load a queue of
    // callers would fail after connectTimeoutMs although the database is healthy: the pool waits as long as a
    // statement may run, and only opening a connection is held to connectTimeoutMs (the client class below).
    connectionTimeoutMillis: timeout,
    Client: class extends pg.Client {
      constructor(config?: pg.ClientConfig) {
        super({ ...config, connectionTimeoutMillis: connectTimeout });
      }
    },
    statement_timeout: timeout,
    // A transaction never awaits anything but its own statements, so a long idle one is a stuck process
    // holding row locks (or the audit chain lock): let the server end it.
    idle_in_transaction_session_timeout: timeout,
    application_name: "enrollment-gateway",
    types: TYPES,
  });
  const report = o.onError ?? ((err: Error) => {
    // Never the URL (it may carry a password); only the driver's message.
    process.stderr.write(JSON.stringify({ level: "error", msg: "postgres pool connection error", err: err.message }) + "\n");
  });
  // An idle client that loses its connection emits on the pool; a checked-out one (a transaction between two
  // statements) emits on itself. Without a listener either would crash the process: one listener per connection.
  pool.on("error", report);
  pool.on("connect", (client) => client.on("error", report));
  return pool;
}

/** Rows of one statement. `name` prepares it once per connection: only for fixed-text hot statements. */
export async function q<R = Row>(c: Queryable, name: string | undefined, text: string, values?: unknown[]): Promise<R[]> {
  try {
    const res = await c.query(name === undefined ? { text, values } : { name, text, values });
    return res.rows as R[];
  } catch (err) {
    throw unavailableOr(err);
  }
}

/** Affected-row count of one statement (INSERT ... ON CONFLICT DO NOTHING, conditional UPDATE, DELETE). */
export async function exec(c: Queryable, name: string | undefined, text: string, values?: unknown[]): Promise<number> {
  try {
    const res = await c.query(name === undefined ? { text, values } : { name, text, values });
    return res.rowCount ?? 0;
  } catch (err) {
    throw unavailableOr(err);
  }
}

/**
 * A database that cannot be reached (down, restarting, out of connections, a statement past its timeout) becomes
 * RA_ERR_STORE_UNAVAILABLE: every front-end answers its own "try later" with Retry-After. Anything else (a
 * constraint, a bug) stays what it is.
 */
export function unavailableOr(err: unknown): unknown {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (!isDatabaseUnavailable(err) && code !== "57014") return err;
  return new GatewayError("RA_ERR_STORE_UNAVAILABLE", "the database is unavailable; retry later",
    { cause: err instanceof Error ? err.message : String(err), sqlstate: typeof code === "string" ? code : undefined }, { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS });
}

/** What a client is told to wait while the database is away: long enough not to hammer it, short enough to recover soon. */
export const STORE_RETRY_AFTER_SECONDS = 5;

/** BEGIN … COMMIT on one pooled client; ROLLBACK on error; a broken connection is destroyed (release(err)). */
export function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return transactionOn(pool, fn).catch((err: unknown) => {
    throw unavailableOr(err);
  });
}

async function transactionOn<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
  } catch (err) {
    client.release(asError(err));
    throw err;
  }
  try {
    let out: T;
    try {
      out = await fn(client);
    } catch (err) {
      broken = await rollback(client);
      throw err;
    }
    try {
      await client.query("COMMIT");
    } catch (err) {
      // A refused COMMIT (serialization, deferred constraint) leaves the transaction aborted: roll it back.
      broken = isConnectionError(err) ? asError(err) : await rollback(client);
      throw err;
    }
    return out;
  } finally {
    client.release(broken);
  }
}

/** ROLLBACK; the error if the connection is unusable (dropped, or killed by a timeout): never pool it again. */
async function rollback(client: pg.PoolClient): Promise<Error | undefined> {
  try {
    await client.query("ROLLBACK");
    return undefined;
  } catch (err) {
    return asError(err);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Errors of the driver itself (no SQLSTATE: socket closed, query timeout) or class 08/57P leave the client unusable. */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith("08") || code.startsWith("57P");
}

const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE"]);

/**
 * True when `err` says the database cannot be reached or is not serving right now (down, restarting, out of
 * connections, a connect or pool wait timed out): a front-end answers "try later" for these, not an internal error.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  if (UNREACHABLE.has(code)) return true;
  // 08: connection exception; 57P01-03: shutdown / cannot connect now; 53300: too many connections.
  if (/^(08|57P0[1-3]|53300)/.test(code)) return true;
  const msg = typeof e?.message === "string" ? e.message : "";
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error/i.test(msg);
}
