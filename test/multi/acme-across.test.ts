// Two gateway processes on one PostgreSQL database behind a round-robin load balancer: ACME state lives in the
// database, so a nonce, an order and a finalize may each land on either instance.
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeClient, x509Csr } from "../helpers/acme-client.js";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { Http01Responder } from "../acme/setup.js";
import { startDeployment, type Deployment } from "./instances.js";
import { acmeLab } from "./load.js";
import pg from "pg";

const testDb = lazyTestDatabase();
let d: Deployment;
let http01: Http01Responder;
let rootPem: string;

/** The same request path on one instance, bypassing the load balancer (the JWS still names the external URL). */
const on = (inst: { https: string }, externalUrl: string) => externalUrl.replace(d.https, inst.https);

beforeAll(async () => {
  http01 = await Http01Responder.start();
  d = await startDeployment({
    databaseUrl: (await testDb.get()).url,
    instances: 2,
    sections: {
      acme: acmeLab(http01.port),
    },
  });
  rootPem = readFileSync(d.rootPem, "utf8");
}, 240_000);

afterAll(async () => {
  await d?.stop();
  await http01?.close();
  await testDb.drop();
});

async function client(): Promise<AcmeClient> {
  const c = await AcmeClient.create({ directoryUrl: `${d.https}/acme/directory`, caPem: rootPem });
  const r = await c.newAccount({ termsOfServiceAgreed: true });
  expect(r.status).toBe(201);
  return c;
}

/** A read straight from the shared database (what every instance sees). */
async function sql(text: string): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: d.databaseUrl });
  await c.connect();
  try {
    return (await c.query(text)).rows as Array<Record<string, unknown>>;
  } finally {
    await c.end();
  }
}

const b64u = (b: Uint8Array) => Buffer.from(b).toString("base64url");
const publish = (token: string, keyAuth: string) => { http01.answers.set(token, keyAuth); };

describe("ACME across two instances on one PostgreSQL", () => {
  it("a nonce issued by A is accepted once by B and then refused by both", async () => {
    const [a, b] = d.instances;
    const c = await AcmeClient.create({ directoryUrl: `${d.https}/acme/directory`, caPem: rootPem });
    const nonceFromA = (await c.request("HEAD", on(a, c.directory.newNonce as string))).nonce!;
    expect(nonceFromA).toBeTruthy();
    const url = c.directory.newAccount as string;
    const body = JSON.stringify(await c.jws(url, { termsOfServiceAgreed: true }, { nonce: nonceFromA }));
    const first = await c.postRaw(on(b, url), body);
    expect(first.status).toBe(201);
    for (const inst of [a, b]) {
      const again = await c.postRaw(on(inst, url), body);
      expect(again.status).toBe(400);
      expect(again.json?.type).toBe("urn:ietf:params:acme:error:badNonce");
    }
    c.close();
  });

  it("an order created on A is authorized and finalized on B", async () => {
    const [a, b] = d.instances;
    const c = await client();
    const newOrder = c.directory.newOrder as string;
    const created = await c.postRaw(on(a, newOrder), JSON.stringify(await c.jws(newOrder, { identifiers: [{ type: "dns", value: "across.example.com" }] })));
    expect(created.status).toBe(201);
    const authzUrl = (created.json.authorizations as string[])[0];
    const authz = await c.postRaw(on(b, authzUrl), JSON.stringify(await c.jws(authzUrl, "")));
    const ch = (authz.json.challenges as Array<{ type: string; url: string; token: string }>).find((x) => x.type === "http-01")!;
    publish(ch.token, c.keyAuthorization(ch.token));
    expect((await c.postRaw(on(b, ch.url), JSON.stringify(await c.jws(ch.url, {})))).status).toBe(200);
    // Validation runs on B; A sees its outcome through the database.
    const orderUrl = created.location!;
    await c.poll(orderUrl, (o) => o.status === "ready");
    const csr = b64u(await x509Csr(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, [{ type: "dns", value: "across.example.com" }]));
    const finalizeUrl = created.json.finalize as string;
    const fin = await c.postRaw(on(b, finalizeUrl), JSON.stringify(await c.jws(finalizeUrl, { csr })));
    expect(fin.status).toBe(200);
    const order = await c.poll(orderUrl, (o) => o.status !== "processing");
    expect(order.status).toBe("valid");
    const certUrl = order.certificate as string;
    const dl = await c.postRaw(on(a, certUrl), JSON.stringify(await c.jws(certUrl, "")));
    expect(dl.status).toBe(200);
    expect(dl.body.toString("utf8")).toContain("BEGIN CERTIFICATE");
    c.close();
  });

  it("finalize sent to A and B at once issues one certificate", async () => {
    const [a, b] = d.instances;
    const c = await client();
    const ids = [{ type: "dns" as const, value: "race.example.com" }];
    const created = await c.newOrder(ids);
    expect(created.status).toBe(201);
    const authzUrl = (created.json.authorizations as string[])[0];
    const authz = await c.post(authzUrl, "");
    const ch = (authz.json.challenges as Array<{ type: string; url: string; token: string }>).find((x) => x.type === "http-01")!;
    publish(ch.token, c.keyAuthorization(ch.token));
    await c.post(ch.url, {});
    const orderUrl = created.location!;
    await c.poll(orderUrl, (o) => o.status === "ready");
    const csr = b64u(await x509Csr(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, ids));
    const finalizeUrl = created.json.finalize as string;
    const [ja, jb] = [await c.jws(finalizeUrl, { csr }), await c.jws(finalizeUrl, { csr })];
    const [ra, rb] = await Promise.all([c.postRaw(on(a, finalizeUrl), JSON.stringify(ja)), c.postRaw(on(b, finalizeUrl), JSON.stringify(jb))]);
    // One finalize wins; the other is told the order is no longer ready (or sees it already processing/valid).
    const statuses = [ra.status, rb.status].sort();
    expect(statuses[0]).toBe(200);
    if (statuses[1] !== 200) expect([ra, rb].find((r) => r.status !== 200)!.json?.type).toBe("urn:ietf:params:acme:error:orderNotReady");
    const order = await c.poll(orderUrl, (o) => o.status !== "processing");
    expect(order.status).toBe("valid");
    // Exactly one certificate for that name in the shared inventory.
    const rows = await sql("SELECT serial FROM certificates WHERE sans LIKE '%race.example.com%' AND stage = 'issued'");
    expect(rows.length).toBe(1);
    c.close();
  });
});
