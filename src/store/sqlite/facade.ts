import { GatewayError } from "../../errors.js";

/**
 * How the synchronous SQLite tables meet the asynchronous Store contract. better-sqlite3 answers at once, so a
 * method is the synchronous call wrapped in a settled promise. The one thing asynchrony changes is the
 * transaction: while `transaction(fn)` awaits between its statements, other requests run, and on the single
 * connection their statements would land inside the open transaction (and roll back with it). So the gate:
 * while a transaction is open, every call from outside it waits for the commit; calls through the
 * transaction's `tx` go straight through.
 */

/** The synchronous form of an async contract: what the SQLite classes implement. */
export type Synchronous<T> = {
  [K in keyof T]: T[K] extends (...a: infer A) => Promise<infer R> ? (...a: A) => R : T[K];
};

/** A caller inside a transaction that calls the outer store instead of `tx` would wait for itself forever. */
const WAIT_LIMIT_MS = 30_000;

export class SqliteGate {
  /** True while a transaction is open on the connection. */
  open = false;
  private waiters: Array<() => void> = [];

  /** Resolves once no transaction is open (re-checked: another waiter may have opened one first). */
  async free(): Promise<void> {
    while (this.open) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve, reject) => {
        this.waiters.push(resolve);
        timer = setTimeout(() => reject(new Error(
          `a store call waited ${WAIT_LIMIT_MS / 1000} s for a transaction to end (a call made inside transaction(fn) must go through its tx)`,
        )), WAIT_LIMIT_MS);
        timer.unref();
      }).finally(() => clearTimeout(timer));
    }
  }

  /** Marks the transaction closed and lets every waiter re-check. */
  close(): void {
    this.open = false;
    const w = this.waiters;
    if (!w.length) return;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}

/** The method names of an object's class chain (what a facade wraps). */
function methodNames(impl: object): string[] {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(impl) as object | null; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const n of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, n);
      if (n !== "constructor" && d && typeof d.value === "function") names.add(n);
    }
  }
  return [...names];
}

function settle(f: (...a: unknown[]) => unknown, impl: object, a: unknown[]): Promise<unknown> {
  try {
    return Promise.resolve(f.apply(impl, a));
  } catch (e) {
    return Promise.reject(busyOr(e));
  }
}

/**
 * SQLite's write lock still held by another process after busy_timeout (5 s) becomes RA_ERR_STORE_UNAVAILABLE, so
 * the client is told to retry (each front-end's "try later") instead of getting an internal error.
 */
export function busyOr(e: unknown): unknown {
  const code = (e as { code?: unknown } | null)?.code;
  if (code !== "SQLITE_BUSY" && code !== "SQLITE_LOCKED") return e;
  return new GatewayError("RA_ERR_STORE_UNAVAILABLE", "the database is busy; retry later", { cause: (e as Error).message }, { retryAfterSeconds: 1 });
}

/**
 * The async face of `impl`. Outer (`inside` false): waits while a transaction is open. Inside: refuses once
 * its transaction has ended, so a `tx` kept past its transaction cannot write into someone else's.
 */
export function facade<T>(impl: object, gate: SqliteGate, inside: boolean): T {
  const out: Record<string, unknown> = {};
  for (const name of methodNames(impl)) {
    const f = (impl as Record<string, (...a: unknown[]) => unknown>)[name];
    out[name] = inside
      ? (...a: unknown[]) => gate.open ? settle(f, impl, a) : Promise.reject(new Error(`store tx used after its transaction ended (${name})`))
      : (...a: unknown[]) => {
        if (!gate.open) return settle(f, impl, a);
        // Re-checked after every wake-up: a transaction may have begun between the wake-up and this call.
        const call = (): unknown => gate.open ? gate.free().then(call) : f.apply(impl, a);
        return gate.free().then(call);
      };
  }
  return out as T;
}
