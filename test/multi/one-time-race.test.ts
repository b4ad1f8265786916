// One-time things raced across real gateway processes on one PostgreSQL: the same EAB key, one-time enrollment
// secret (EST Basic, CMP MAC) or SCEP challenge presented to A and B at the same moment is redeemed exactly once.
import { createHash, createPrivateKey, createHmac, randomBytes, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCmp } from "../cmp/env.js";
import { AcmeClient } from "../helpers/acme-client.js";
import { runGatewayCli } from "../helpers/cli.js";
import { makeCsr } from "../helpers/csr.js";
import { genKey, openssl, tempDir } from "../helpers/openssl.js";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { buildPkiMessage, openCertRep } from "../helpers/scep-client.js";
import { startDeployment, type Deployment, type Instance } from "./instances.js";
import { estEnroll } from "./load.js";
import { admin, sql } from "./util.js";

const ROUNDS = 3;
const testDb = lazyTestDatabase();
const dir = tempDir("multi-race-");
let d: Deployment;
let caPem: string;

beforeAll(async () => {
  d = await startDeployment({
    databaseUrl: (await testDb.get()).url,
    instances: 2,
    sections: {
      acme: { endpoints: [{ name: "default", externalAccountRequired: true }] },
      est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [], oneTimeSecrets: true } }] },
      cmp: { labels: [{ name: "default", profile: "device", oneTimeSecrets: true }] },
      scep: { endpoints: [{ name: "default", profile: "device" }] },
    },
  });
  caPem = readFileSync(d.rootPem, "utf8");
}, 240_000);

afterAll(async () => {
  await d?.stop();
  await testDb.drop();
});

/** A one-time enrollment secret minted through the admin API of `on`, or with `gateway secret create` and its configuration. */
async function mint(on: Instance, protocol: string, cli = false): Promise<{ id: string; secret: string }> {
  if (cli) {
    const r = await runGatewayCli(["secret", "create", "--profile", "device", "--protocols", protocol, "--config", on.configPath], { GATEWAY_TEST_DATABASE_URL: d.databaseUrl });
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout) as { id: string; secret: string };
    return { id: m.id, secret: m.secret };
  }
  const r = await admin(d, on.https, "POST", "/enrollment-secrets", { profile: "device", protocols: [protocol] });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return { id: String(r.json.id), secret: String(r.json.secret) };
}

/** What the inventory holds for a secret's requester (EST/CMP: the secret id; SCEP: `<endpoint>:<kind>:<id>`): one issued certificate, nothing half-issued. */
async function expectOneCertificate(requesterId: string): Promise<void> {
  const rows = await sql(d, "SELECT serial, stage FROM certificates WHERE requester_id = $1 OR requester_id LIKE $2", [requesterId, `%:${requesterId}`]);
  expect(rows.filter((r) => r.stage === "issued").length, JSON.stringify(rows)).toBe(1);
  expect(rows.filter((r) => r.stage === "intent"), JSON.stringify(rows)).toEqual([]);
  const used = await sql(d, "SELECT used_at FROM enrollment_secrets WHERE id = $1", [requesterId]);
  expect(used[0]?.used_at).toBeTruthy();
}

const on = (inst: Instance, externalUrl: string) => externalUrl.replace(d.https, inst.https);
const b64json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

describe("one-time secrets raced across instances", () => {
  it("the same EAB key in two newAccount requests sent at once to A and B binds exactly one account", async () => {
    const [a, b] = d.instances;
    for (let round = 0; round < ROUNDS; round++) {
      const k = await admin(d, (round % 2 ? b : a).https, "POST", "/acme/eab-keys", { profiles: ["tls-server"] });
      expect(k.status, JSON.stringify(k.json)).toBe(201);
      const kid = String(k.json.kid);
      const hmacKey = Buffer.from(String(k.json.hmacKey), "base64url");
      const clients = await Promise.all([0, 1].map(() => AcmeClient.create({ directoryUrl: `${d.https}/acme/directory`, caPem })));
      const url = clients[0].directory.newAccount as string;
      // Both bodies signed first (each with its own account key and a fresh nonce), then sent together.
      const bodies = await Promise.all(clients.map(async (c) => {
        const p = b64json({ alg: "HS256", kid, url });
        const jwk = b64json(c.jwk);
        const externalAccountBinding = { protected: p, payload: jwk, signature: createHmac("sha256", hmacKey).update(`${p}.${jwk}`).digest("base64url") };
        return JSON.stringify(await c.jws(url, { termsOfServiceAgreed: true, externalAccountBinding }, { useJwk: true, kid: null }));
      }));
      const answers = await Promise.all([clients[0].postRaw(on(a, url), bodies[0]), clients[1].postRaw(on(b, url), bodies[1])]);
      const created = answers.filter((r) => r.status === 201);
      expect(answers.map((r) => `${r.status} ${r.json?.type ?? ""}`).filter((s) => !s.startsWith("201")).length, answers.map((r) => `${r.status} ${JSON.stringify(r.json)}`).join("\n")).toBe(1);
      expect(created).toHaveLength(1);
      const loser = answers.find((r) => r.status !== 201)!;
      expect(loser.status).toBeGreaterThanOrEqual(400);
      expect(loser.status).toBeLessThan(500);
      // The key is bound to the winner's account, and no account exists for the loser's key.
      const listed = await admin(d, a.https, "GET", "/acme/eab-keys");
      const row = (listed.json.keys as Array<Record<string, unknown>>).find((x) => x.kid === kid);
      expect(row?.boundAccount).toBe(created[0].location!.split("/").pop());
      const loserKey = clients[answers.indexOf(loser)];
      const existing = await loserKey.post(loserKey.directory.newAccount as string, { onlyReturnExisting: true }, { useJwk: true, kid: null });
      expect(existing.json?.type).toBe("urn:ietf:params:acme:error:accountDoesNotExist");
      for (const c of clients) c.close();
    }
  }, 120_000);

  it("one EST one-time secret used at once on A and B gives exactly one certificate", async () => {
    const [a, b] = d.instances;
    for (let round = 0; round < ROUNDS; round++) {
      const s = await mint(round % 2 ? b : a, "est");
      const user = { name: s.id, password: s.secret };
      const out = await Promise.all([estEnroll(a.https, caPem, user, `est-race-a${round}.example.com`), estEnroll(b.https, caPem, user, `est-race-b${round}.example.com`)]);
      expect(out.filter((o) => o.ok).length, JSON.stringify(out)).toBe(1);
      const refused = out.find((o) => !o.ok)!;
      expect(refused.ok ? 0 : refused.status).toBe(401);
      await expectOneCertificate(s.id);
    }
  }, 120_000);

  it("one CMP one-time secret (MAC, -ref id -secret) used at once on A and B gives exactly one certificate", async () => {
    const [a, b] = d.instances;
    for (let round = 0; round < ROUNDS; round++) {
      const s = await mint(round % 2 ? b : a, "cmp");
      const keys = { a: genKey(dir, `cmp-a${round}`), b: genKey(dir, `cmp-b${round}`) };
      const run = (inst: Instance, tag: "a" | "b") => opensslCmp(["-server", inst.http.replace("http://", ""), "-path", ".well-known/cmp", "-ref", s.id, "-secret", `pass:${s.secret}`,
        "-mac", "hmacWithSHA256", "-cmd", "ir", "-newkey", keys[tag], "-subject", `/CN=cmp-race-${tag}${round}.example.com`, "-certout", join(dir, `cmp-${tag}${round}.pem`)]);
      const out = await Promise.all([run(a, "a"), run(b, "b")]);
      expect(out.filter((o) => o.code === 0).length, out.map((o) => o.out).join("\n----\n")).toBe(1);
      await expectOneCertificate(s.id);
    }
  }, 120_000);

  it("one SCEP one-time challenge (admin API or CLI) in two devices' requests sent at once to A and B: one SUCCESS, one FAILURE", async () => {
    const [a, b] = d.instances;
    const raCert = await raOf(a);
    expect(Buffer.from(await raOf(b)).equals(Buffer.from(raCert))).toBe(true); // one RA for the deployment
    for (let round = 0; round < ROUNDS; round++) {
      const s = await mint(round % 2 ? b : a, "scep", round === 2);
      const msgs = [a, b].map((inst) => scepMessage(raCert, `scep-race-${inst.name}${round}`, s.secret)); // made first, then sent together
      const reps = await Promise.all([a, b].map((inst, k) => scepSend(inst, raCert, msgs[k])));
      expect(reps.map((r) => r.status).sort()).toEqual(["FAILURE", "SUCCESS"]);
      expect(reps.find((r) => r.status === "FAILURE")?.failInfo).toBe("badRequest");
      await expectOneCertificate(s.id);
    }
  }, 120_000);
});

/** GetCACert of an instance's default SCEP endpoint: the RA certificate (first). */
async function raOf(inst: Instance): Promise<Uint8Array> {
  const res = await fetch(`${inst.http}/scep?operation=GetCACert`);
  expect(res.status).toBe(200);
  const p7 = join(dir, `cacert-${inst.name}-${randomBytes(4).toString("hex")}.p7`);
  writeFileSync(p7, Buffer.from(await res.arrayBuffer()));
  const pem = openssl(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs"]);
  return new Uint8Array(new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)![0]).raw);
}

/** A PKCSReq (RFC 8894) from a fresh RSA device key with `challenge`. */
function scepMessage(raCert: Uint8Array, name: string, challenge: string): { der: Uint8Array; key: KeyObject } {
  const csr = makeCsr(dir, name, { subject: `/CN=${name}.example.com`, keyKind: "rsa-2048", challengePassword: challenge });
  const self = join(dir, `${name}-self.pem`);
  openssl(["req", "-x509", "-new", "-key", csr.key, "-subj", `/CN=${name}-scep-signer`, "-days", "1", "-out", self]);
  const key = createPrivateKey(readFileSync(csr.key));
  const der = buildPkiMessage({
    messageType: 19, transactionId: createHash("sha256").update(randomBytes(16)).digest("hex"), senderNonce: new Uint8Array(randomBytes(16)),
    content: new Uint8Array(Buffer.from(readFileSync(csr.body, "utf8").replace(/\s+/g, ""), "base64")),
    signerCert: new Uint8Array(new X509Certificate(readFileSync(self)).raw), signerKey: key, recipientCert: raCert, digest: "sha256", contentEncryption: "aes-256-cbc",
  });
  return { der, key };
}

/** Sends a PKIOperation to one instance; the CertRep read and its RA signature verified. */
async function scepSend(inst: Instance, raCert: Uint8Array, m: { der: Uint8Array; key: KeyObject }): Promise<ReturnType<typeof openCertRep>> {
  const res = await fetch(`${inst.http}/scep?operation=PKIOperation`, { method: "POST", headers: { "Content-Type": "application/x-pki-message" }, body: Buffer.from(m.der) });
  expect(res.status).toBe(200);
  return openCertRep(new Uint8Array(await res.arrayBuffer()), { recipientKey: m.key, raCert });
}
