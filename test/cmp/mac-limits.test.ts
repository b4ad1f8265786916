import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PBMParameter } from "../../protocols/cmp/asn1/crmf.js";
import { PKIHeader } from "../../protocols/cmp/asn1/message.js";
import { failInfoNames } from "../../protocols/cmp/bodies.js";
import { decodePkiMessage, encodePkiMessage, toDer } from "../../protocols/cmp/codec.js";
import { macAlgorithmIdentifier } from "../../protocols/cmp/mac.js";
import { genKey, opensslAsync } from "../helpers/openssl.js";
import { capturedIr, CMP_KID, CMP_SECRET, cmpEnv, macCounters, opensslCmp, type CmpEnv } from "./env.js";

const VICTIM = { kid: "victim", secret: "victim-Secret-5" };
const CAP = 100_000;
let env: CmpEnv;
/** An ir made and MAC-protected by `openssl cmp` (client1, 500 iterations); variants keep its protection, which then fails. */
let ir: Uint8Array;
beforeAll(async () => {
  env = await cmpEnv({ secrets: [VICTIM], cmp: { maxIterations: CAP, macFailures: { perKid: 5, perAddress: 100, windowSeconds: 300 } } });
  ir = await capturedIr(env, "limits");
});
afterAll(async () => {
  await env?.close();
});

/** The captured ir with a fresh transactionID and another senderKID, PBM iteration count or PBMAC1: its MAC no longer verifies. */
function variant(o: { kid?: string; iterations?: number; pbmac1?: boolean }): Uint8Array {
  const d = decodePkiMessage(ir);
  const header = AsnConvert.parse(d.header, PKIHeader);
  header.transactionID = new Uint8Array(randomBytes(16)).buffer;
  if (o.kid) header.senderKID = new Uint8Array(Buffer.from(o.kid)).buffer;
  if (o.iterations) {
    const params = AsnConvert.parse(header.protectionAlg!.parameters!, PBMParameter);
    params.iterationCount = BigInt(o.iterations);
    header.protectionAlg!.parameters = AsnConvert.serialize(params);
  }
  if (o.pbmac1) header.protectionAlg = macAlgorithmIdentifier({ kind: "pbmac1", salt: new Uint8Array(randomBytes(16)), iterations: CAP, keyLength: 32, prf: "sha256", mac: "sha256" });
  return encodePkiMessage(toDer(header), d.body, d.protection, d.extraCerts);
}

async function post(der: Uint8Array): Promise<{ status: number; retryAfter: string | null; bodyType: string; failInfo: string[]; text: string }> {
  const res = await fetch(`${env.http}/.well-known/cmp`, { method: "POST", headers: { "Content-Type": "application/pkixcmp" }, body: Buffer.from(der) });
  const answer = decodePkiMessage(new Uint8Array(await res.arrayBuffer()));
  const err = answer.message.body.error;
  return {
    status: res.status, retryAfter: res.headers.get("retry-after"), bodyType: answer.bodyType,
    failInfo: err ? failInfoNames(err.pKIStatusInfo.failInfo) : [], text: err?.pKIStatusInfo.statusString?.join(" ") ?? "",
  };
}

const audit = (type: string) => env.t.gw.store.queryAudit({ type, limit: 1000 });

describe("MAC work limits over HTTP", () => {
  it("a wrong MAC at the iteration cap is answered badMessageCheck after one derivation; above the cap, without any", async () => {
    for (const o of [{ iterations: CAP }, { pbmac1: true }]) {
      const before = await macCounters(env);
      expect(await post(variant(o))).toMatchObject({ status: 200, retryAfter: null, bodyType: "error", failInfo: ["badMessageCheck"], text: "MAC does not verify" });
      expect((await macCounters(env)).derivations).toBe(before.derivations + 1);
    }
    const before = await macCounters(env);
    expect(await post(variant({ iterations: CAP + 1 }))).toMatchObject({ bodyType: "error", failInfo: ["badMessageCheck"], text: `iteration count ${CAP + 1} exceeds ${CAP}` });
    expect((await macCounters(env)).derivations).toBe(before.derivations);
  });

  it("after 5 failed MACs a senderKID is refused with systemUnavail and Retry-After, without deriving, audited once; another KID still enrolls", async () => {
    for (let i = 0; i < 5; i++) expect(await post(variant({ kid: VICTIM.kid }))).toMatchObject({ bodyType: "error", failInfo: ["badMessageCheck"] });
    const started = await audit("cmp.mac.throttled");
    expect(started.map((e) => [e.target, e.data.scope, e.data.failures])).toEqual([[VICTIM.kid, "senderKID", 5]]);
    const requestsBefore = (await audit("cmp.request")).length;
    const before = await macCounters(env);
    for (let i = 0; i < 3; i++) {
      const r = await post(variant({ kid: VICTIM.kid }));
      expect(r).toMatchObject({ status: 200, bodyType: "error", failInfo: ["systemUnavail"] });
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      expect(Number(r.retryAfter)).toBeLessThanOrEqual(300);
    }
    // The real client with the right secret is refused too while the KID is throttled (the signed error checked with -trusted).
    const refused = await opensslCmp(["-server", env.server, "-path", ".well-known/cmp", "-ref", VICTIM.kid, "-secret", `pass:${VICTIM.secret}`, "-mac", "hmacWithSHA256", "-trusted", env.rootPem,
      "-cmd", "ir", "-newkey", genKey(env.dir, "victim1"), "-subject", "/CN=victim1.example.com", "-certout", join(env.dir, "victim1.pem")]);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain("systemUnavail");
    const after = await macCounters(env);
    expect(after.derivations).toBe(before.derivations);
    expect(after.throttled).toBe(before.throttled + 4);
    expect(await audit("cmp.mac.throttled")).toHaveLength(1);
    expect(await audit("cmp.request")).toHaveLength(requestsBefore);

    const out = join(env.dir, "other1.pem");
    const ok = await opensslCmp(["-server", env.server, "-path", ".well-known/cmp", "-ref", CMP_KID, "-secret", `pass:${CMP_SECRET}`, "-mac", "hmacWithSHA256",
      "-cmd", "ir", "-newkey", genKey(env.dir, "other1"), "-subject", "/CN=other1.example.com", "-certout", out]);
    expect(ok.code, ok.out).toBe(0);
    const v = await opensslAsync(["verify", "-CAfile", env.rootPem, "-untrusted", env.issuingPem, out]);
    expect(v.out).toContain(": OK");
  });

  it("/healthz answers while 16 wrong MACs at the iteration cap are being derived", async () => {
    const before = await macCounters(env);
    let settled = 0;
    const inFlight = Array.from({ length: 16 }, (_, i) => post(variant({ kid: `flood${i}`, iterations: CAP })).finally(() => void settled++));
    await Promise.race(inFlight); // derivation is under way: the first answer came back
    const health = await fetch(`${env.http}/healthz`);
    const settledAtHealth = settled;
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    expect(settledAtHealth).toBeLessThan(16);
    const answers = await Promise.all(inFlight);
    expect(answers.every((a) => a.bodyType === "error" && a.failInfo.join() === "badMessageCheck")).toBe(true);
    expect((await macCounters(env)).derivations).toBe(before.derivations + 16);
  });
});
