// Database outage: PostgreSQL stopped mid-load and started again. While it is down the gateway says "not ready"
// and every protocol answers its own "try later"; nothing is half-issued; when it is back the gateway serves
// again without a restart. Its own PostgreSQL cluster: stopping the shared one would break the other test files.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeClient } from "../helpers/acme-client.js";
import { genKey, tempDir } from "../helpers/openssl.js";
import { createDatabase, startPostgres, type PgCluster } from "../helpers/postgres.js";
import { Http01Responder } from "../acme/setup.js";
import { opensslCmp } from "../cmp/env.js";
import { output, pki, pkiRsaKey, pkiScepCa } from "../scep/interop/clients.js";
import { startDeployment, type Deployment } from "./instances.js";
import { acmeEnroll, acmeLab, estEnroll, runLoad, type Outcome } from "./load.js";

const USER = { name: "router1", password: "router1-Secret-pass" };
const CMP = { kid: "client1", secret: "cmp-Shared-secret-1" };
const SCEP_CHALLENGE = "scep-Static-challenge-1";
let cluster: PgCluster;
let d: Deployment;
let http01: Http01Responder;
let caPem: string;
const work = tempDir("outage-");

beforeAll(async () => {
  cluster = await startPostgres();
  http01 = await Http01Responder.start();
  d = await startDeployment({
    databaseUrl: (await createDatabase(cluster.url)).url,
    instances: 1,
    sections: {
      acme: acmeLab(http01.port),
      est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [USER] } }] },
      scep: { endpoints: [{ name: "default", profile: "device", challenge: { static: SCEP_CHALLENGE } }] },
      cmp: { labels: [{ name: "default", profile: "device", secrets: [CMP] }] },
      store: { kind: "postgres", url: { env: "GATEWAY_TEST_DATABASE_URL" }, poolSize: 4, connectTimeoutMs: 1000, statementTimeoutMs: 5000 },
    },
  });
  caPem = readFileSync(d.rootPem, "utf8");
}, 240_000);

afterAll(async () => {
  await d?.stop();
  await http01?.close();
  await cluster?.stop();
});

const inst = () => d.instances[0];

async function scepEnroll(name: string): Promise<{ code: number; text: string }> {
  const url = `${inst().http}/scep`;
  const c = await pkiScepCa(url, tempDir("outage-scep-"));
  const key = await pkiRsaKey(work, name);
  const r = await pki(["--scep", "--url", url, "--in", key, "--dn", `CN=${name}.example.com`, "--san", `${name}.example.com`, "--password", SCEP_CHALLENGE,
    "--cacert-enc", c.ra, "--cacert-sig", c.ra, "--cacert", c.root, "--cacert", c.issuing, "--cipher", "aes", "--digest", "sha256", "--debug", "2"], 60_000);
  return { code: r.code, text: output(r) };
}

function cmpIr(name: string): Promise<{ code: number; out: string }> {
  return opensslCmp(["-server", `127.0.0.1:${inst().httpPort}`, "-path", ".well-known/cmp", "-ref", CMP.kid, "-secret", `pass:${CMP.secret}`, "-mac", "hmacWithSHA256",
    "-cmd", "ir", "-newkey", genKey(work, name), "-subject", `/CN=${name}.example.com`, "-certout", join(work, `${name}.pem`)]);
}

describe("database outage", () => {
  it("down: not ready, every protocol says try later; back: serving again without a restart, nothing half-issued", async () => {
    const acme = await AcmeClient.create({ directoryUrl: `${d.https}/acme/directory`, caPem });
    expect((await acme.newAccount({ termsOfServiceAgreed: true })).status).toBe(201);
    const outcomes: Outcome[] = [];
    let phase: "before" | "down" | "after" = "before";
    const phases: Array<"before" | "down" | "after"> = [];
    const tagged = (f: (i: number) => Promise<Outcome>) => async (i: number) => {
      const p = phase;
      const o = await f(i);
      phases.push(p);
      return o;
    };
    const okIn = (p: string) => outcomes.filter((o, i) => o.ok && phases[i] === p).length;
    let stop = false;
    const load = runLoad([
      tagged((i) => acmeEnroll(acme, http01, `o-acme-${i}.example.com`)),
      tagged((i) => estEnroll(d.https, caPem, USER, `o-est-${i}.example.com`)),
    ], () => stop, outcomes);

    await waitFor(() => okIn("before") >= 4, 60_000);
    await cluster.halt();
    phase = "down";

    // Readiness says so.
    await waitFor(async () => (await fetch(`${inst().http}/readyz`)).status === 503, 30_000);
    // EST: 503 with Retry-After.
    const est = await estEnroll(d.https, caPem, USER, "down-est.example.com");
    expect(est.ok).toBe(false);
    expect(est.ok ? "" : est.error).toMatch(/^503 \d+ /);
    // ACME: a problem document with 503 and Retry-After.
    const order = await acme.newOrder([{ type: "dns", value: "down-acme.example.com" }]);
    expect(order.status).toBe(503);
    expect(Number(order.headers["retry-after"])).toBeGreaterThan(0);
    expect(order.json?.type).toBe("urn:ietf:params:acme:error:serverInternal");
    // SCEP: a signed CertRep with pkiStatus FAILURE (RFC 8894 has no "try later" short of PENDING).
    const scep = await scepEnroll("down-scep");
    expect(scep.code).not.toBe(0);
    expect(scep.text).toMatch(/FAILURE|failed/i);
    // CMP: an error message with PKIFailureInfo systemUnavail.
    const cmp = await cmpIr("down-cmp");
    expect(cmp.code).not.toBe(0);
    expect(cmp.out).toMatch(/systemUnavail/);

    await cluster.resume();
    phase = "after";
    await waitFor(async () => (await fetch(`${inst().http}/readyz`)).status === 200, 60_000);
    await waitFor(() => outcomes.filter((o, i) => o.ok && phases[i] === "after" && o.protocol === "acme").length >= 2
      && outcomes.filter((o, i) => o.ok && phases[i] === "after" && o.protocol === "est").length >= 2, 90_000);
    stop = true;
    await load;
    acme.close();
    // The gateway process never restarted.
    expect(inst().proc.exitCode).toBeNull();
    // SCEP and CMP work again too.
    expect((await scepEnroll("back-scep")).code).toBe(0);
    expect((await cmpIr("back-cmp")).code).toBe(0);

    // Nothing half-issued: every certificate a client received is issued in the inventory; none was handed out
    // while the database was down.
    const good = outcomes.filter((o): o is Extract<Outcome, { ok: true }> => o.ok);
    const c = new pg.Client({ connectionString: d.databaseUrl });
    await c.connect();
    const rows = (await c.query("SELECT serial, stage FROM certificates WHERE serial = ANY($1)", [good.map((o) => o.serial)])).rows as Array<{ stage: string }>;
    await c.end();
    expect(rows.length).toBe(good.length);
    expect(rows.every((r) => r.stage === "issued")).toBe(true);
  }, 400_000);
});

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await cond()) return;
    } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
