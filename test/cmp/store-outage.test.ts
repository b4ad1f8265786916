// CMP with the database unavailable: an error message with PKIFailureInfo systemUnavail and Retry-After, counted in
// gateway_refusals_total under RA_ERR_STORE_UNAVAILABLE (not as a rate limit), on SQLite (the write lock held by
// another process past busy_timeout) and on PostgreSQL (the server stopped), at the transaction claim and in the
// enrollment itself, and after the decision (an answer that cannot be audited is not sent); nothing is issued, and
// the same client enrolls once the database is back.
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInfoNames } from "../../protocols/cmp/bodies.js";
import { decodePkiMessage } from "../../protocols/cmp/codec.js";
import { GatewayError } from "../../src/errors.js";
import { createDatabase, startPostgres, type PgCluster } from "../helpers/postgres.js";
import { capturedIr, cmpEnv, type CmpEnv } from "./env.js";

interface Answer { bodyType: string; failInfo: string[]; text: string; retryAfter: string | null }

async function post(env: CmpEnv, der: Uint8Array): Promise<Answer> {
  const res = await fetch(`${env.http}/.well-known/cmp`, { method: "POST", headers: { "content-type": "application/pkixcmp" }, body: Buffer.from(der) });
  expect(res.status).toBe(200);
  const m = decodePkiMessage(new Uint8Array(await res.arrayBuffer()));
  const err = m.message.body.error;
  const rep = m.message.body.ip?.response[0]?.status;
  const info = err?.pKIStatusInfo ?? rep;
  return { bodyType: m.bodyType, failInfo: info?.failInfo ? failInfoNames(info.failInfo) : [], text: info?.statusString?.join(" ") ?? "", retryAfter: res.headers.get("retry-after") };
}

/** gateway_refusals_total{protocol="cmp"} by code, from /metrics. */
async function cmpRefusals(env: CmpEnv): Promise<Record<string, number>> {
  const text = await (await fetch(`${env.http}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^gateway_refusals_total\{protocol="cmp",code="([A-Z_]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
}

const issuedCount = async (env: CmpEnv) => (await env.t.gw.store.findCertificates({ limit: 1000 })).length;

/** Runs `run` while `obj[method]` fails as the store does when it cannot be reached (src/store/postgres/db.ts). */
async function whileDown<T extends object>(obj: T, method: keyof T & string, retryAfterSeconds: number, run: () => Promise<Answer>): Promise<Answer> {
  const original = Object.getOwnPropertyDescriptor(obj, method);
  Object.defineProperty(obj, method, {
    configurable: true, writable: true,
    value: () => Promise.reject(new GatewayError("RA_ERR_STORE_UNAVAILABLE", "the database is unavailable; retry later", {}, { retryAfterSeconds })),
  });
  try {
    return await run();
  } finally {
    if (original) Object.defineProperty(obj, method, original);
    else delete (obj as Record<string, unknown>)[method];
  }
}

/** The one refusal while the database was down, nothing issued by it, and an enrollment once it is back. */
async function expectDownThenBack(env: CmpEnv, answer: Answer, issuedBefore: number, label: string): Promise<void> {
  expectStoreDown(answer);
  expect(await cmpRefusals(env)).toEqual({ RA_ERR_STORE_UNAVAILABLE: 1 });
  expect(await issuedCount(env)).toBe(issuedBefore);
  expect((await post(env, await capturedIr(env, label))).bodyType).toBe("ip");
  expect(await issuedCount(env)).toBe(issuedBefore + 1);
}

const expectStoreDown = (a: Answer) => {
  expect(a).toMatchObject({ bodyType: "error", failInfo: ["systemUnavail"] });
  expect(a.text).toMatch(/database is (busy|unavailable); retry later/);
  expect(Number(a.retryAfter)).toBeGreaterThan(0);
};

describe("CMP with SQLite's write lock held by another process", () => {
  let env: CmpEnv;
  beforeAll(async () => {
    env = await cmpEnv();
  });
  afterAll(async () => env?.close());

  it("systemUnavail with Retry-After, counted as RA_ERR_STORE_UNAVAILABLE; enrolls once the lock is gone", async () => {
    const ir = await capturedIr(env, "sqlite-locked");
    const before = await issuedCount(env);
    const other = new Database(env.t.gw.paths.db);
    other.pragma("busy_timeout = 0");
    other.prepare("BEGIN IMMEDIATE").run();
    let answer: Answer;
    try {
      answer = await post(env, ir);
    } finally {
      other.prepare("ROLLBACK").run();
      other.close();
    }
    await expectDownThenBack(env, answer, before, "sqlite-back");
  }, 60_000);

  it("the database lost during the enrollment itself: the same error message, not a badCertTemplate rejection", async () => {
    const counted = (await cmpRefusals(env)).RA_ERR_STORE_UNAVAILABLE ?? 0;
    const ir = await capturedIr(env, "engine-down");
    const answer = await whileDown(env.t.gw.enrollment, "enroll", 2, () => post(env, ir));
    expectStoreDown(answer);
    expect(answer.retryAfter).toBe("2");
    expect(await cmpRefusals(env)).toMatchObject({ RA_ERR_STORE_UNAVAILABLE: counted + 1 });
    expect((await cmpRefusals(env)).RA_ERR_RATE_LIMITED).toBeUndefined();
  });

  it("a refusal whose audit event cannot be written is not sent: systemUnavail instead, never a bare HTTP error", async () => {
    const ir = await capturedIr(env, "audit-down");
    expect((await post(env, ir)).bodyType).toBe("ip");
    // The same message again is refused (its transactionID is taken); that refusal is audited, and the database is gone.
    const refused = await post(env, ir);
    expect(refused.bodyType).toBe("error");
    expect(refused.failInfo).not.toContain("systemUnavail");
    const counted = (await cmpRefusals(env)).RA_ERR_STORE_UNAVAILABLE ?? 0;
    const answer = await whileDown(env.t.gw.audit, "recordAsync", 3, () => post(env, ir));
    expectStoreDown(answer);
    expect(answer.retryAfter).toBe("3");
    expect((await cmpRefusals(env)).RA_ERR_STORE_UNAVAILABLE).toBe(counted + 1);
  });
});

describe("CMP with the PostgreSQL server stopped", () => {
  let cluster: PgCluster;
  let env: CmpEnv;
  beforeAll(async () => {
    cluster = await startPostgres();
    env = await cmpEnv({ store: { kind: "postgres", url: (await createDatabase(cluster.url)).url, poolSize: 2, connectTimeoutMs: 1000, statementTimeoutMs: 5000 } });
  }, 120_000);
  afterAll(async () => {
    await env?.close();
    await cluster?.stop();
  });

  it("systemUnavail with Retry-After, counted as RA_ERR_STORE_UNAVAILABLE; enrolls once it is back", async () => {
    const ir = await capturedIr(env, "pg-down");
    const before = await issuedCount(env);
    await cluster.halt();
    let answer: Answer;
    try {
      answer = await post(env, ir);
    } finally {
      await cluster.resume();
    }
    await expectDownThenBack(env, answer, before, "pg-back");
  }, 120_000);
});
