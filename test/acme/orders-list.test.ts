// The account's orders list (RFC 8555 §7.1.2.1) over real HTTP: pages follow Link rel="next", and a page that ends
// inside a run of orders created in the same millisecond continues inside it, so every order is listed once.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AcmeOrderRecord } from "../../src/store/acme-types.js";
import type { AcmeClient, AcmeResponse } from "../helpers/acme-client.js";
import { testDatabase, type TestDatabase } from "../helpers/postgres.js";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "./setup.js";

let env: AcmeTestEnv;

const nextLink = (res: AcmeResponse): string | undefined => {
  const links = ([] as string[]).concat(res.headers.link ?? []);
  for (const l of links) {
    const m = /<([^>]+)>;\s*rel="next"/.exec(l);
    if (m) return m[1];
  }
  return undefined;
};

/** Orders inserted through the store with fixed creation times (ids as the gateway makes them). */
async function insertOrders(accountId: string, createdAt: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const at of createdAt) {
    const o: AcmeOrderRecord = {
      id: randomBytes(12).toString("base64url"), accountId, endpoint: "default", status: "pending", identifiers: [{ type: "dns", value: "list.example.com" }],
      authzIds: [], profile: "tls-server", expires: new Date(Date.now() + 86_400_000).toISOString(), createdAt: at,
    };
    await env.t.gw.store.acme.insertOrder(o);
    ids.push(o.id);
  }
  return ids;
}

async function ordersUrl(c: AcmeClient): Promise<string> {
  return (await c.post(c.accountUrl!, "")).json.orders as string;
}

describe.each(["sqlite", "postgres"] as const)("ACME account orders list (%s)", (engine) => {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = engine === "postgres" ? await testDatabase() : undefined;
    env = await acmeEnv({}, {}, db ? { store: { kind: "postgres", url: db.url, poolSize: 4 } } : {});
    expect(env.t.gw.store.constructor.name).toBe(engine === "postgres" ? "PostgresStore" : "SqliteStore");
  });
  afterAll(async () => {
    await env?.close();
    await db?.drop();
  });

  it("pages of 100 across a run of 150 orders from one millisecond list every order exactly once", async () => {
    const c = await env.account();
    const accountId = c.accountUrl!.split("/acct/")[1];
    const base = Date.now() - 3_600_000;
    const same = new Date(base).toISOString();
    const times = [
      ...Array.from({ length: 40 }, (_, i) => new Date(base - 1000 + i).toISOString()),
      ...Array.from({ length: 150 }, () => same),
      ...Array.from({ length: 40 }, (_, i) => new Date(base + 1 + i).toISOString()),
    ];
    const ids = await insertOrders(accountId, times);

    const listed: string[] = [];
    const sizes: number[] = [];
    let url: string | undefined = await ordersUrl(c);
    while (url) {
      const res = await c.post(url, "");
      expect(res.status).toBe(200);
      listed.push(...(res.json.orders as string[]));
      sizes.push(res.json.orders.length);
      url = nextLink(res);
    }
    expect(sizes).toEqual([100, 100, 30]);
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed.map((u) => u.split("/order/")[1]).sort()).toEqual([...ids].sort());
  });

  it("refuses an after that is no position of this list; a bare time lists the orders created after it", async () => {
    const c = await env.account();
    const accountId = c.accountUrl!.split("/acct/")[1];
    const t0 = new Date(Date.now() - 60_000).toISOString();
    const t1 = new Date(Date.now() - 30_000).toISOString();
    const [, , later] = await insertOrders(accountId, [t0, t0, t1]);
    const base = await ordersUrl(c);
    for (const bad of ["yesterday", `${t0}~a/b`, `${t0}~`, "x".repeat(300)]) {
      const res = await c.post(`${base}?after=${encodeURIComponent(bad)}`, "");
      expect(res.status).toBe(400);
      expect(res.json.type).toBe(PROBLEM("malformed"));
    }
    const after = await c.post(`${base}?after=${encodeURIComponent(t0)}`, "");
    expect(after.json.orders).toEqual([`${base.replace(/\/acct\/.*$/, "")}/order/${later}`]);
  });
});
