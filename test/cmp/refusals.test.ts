import { randomBytes } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PBMParameter } from "../../protocols/cmp/asn1/crmf.js";
import { PKIHeader } from "../../protocols/cmp/asn1/message.js";
import { failInfoNames } from "../../protocols/cmp/bodies.js";
import { decodePkiMessage, encodePkiMessage, toDer } from "../../protocols/cmp/codec.js";
import { capturedIr, cmpEnv, macCounters, type CmpEnv } from "./env.js";

let env: CmpEnv;
/** An ir made and protected by `openssl cmp` itself, never sent by it. */
let ir: Uint8Array;
beforeAll(async () => {
  env = await cmpEnv({ confirmWaitSeconds: 5 });
  ir = await capturedIr(env, "raw");
});
afterAll(async () => {
  await env?.close();
});

/** POSTs a PKIMessage; returns the HTTP status, the answer's body type and its failInfo bit names. */
async function post(der: Uint8Array): Promise<{ status: number; bodyType: string; failInfo: string[] }> {
  const res = await fetch(`${env.http}/.well-known/cmp`, { method: "POST", headers: { "Content-Type": "application/pkixcmp" }, body: Buffer.from(der) });
  const answer = decodePkiMessage(new Uint8Array(await res.arrayBuffer()));
  const err = answer.message.body.error;
  return { status: res.status, bodyType: answer.bodyType, failInfo: err ? failInfoNames(err.pKIStatusInfo.failInfo) : [] };
}

describe("CMP refusals over raw HTTP", () => {
  it("a request made by openssl cmp is accepted once; replayed, its transactionID is refused", async () => {
    const first = await post(ir);
    expect(first.bodyType, JSON.stringify((await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 5 })).map((e) => e.data))).toBe("ip");
    const again = await post(ir);
    expect(again).toMatchObject({ status: 200, bodyType: "error", failInfo: ["transactionIdInUse"] });
  });

  it("the certificate of that first ir, never confirmed, is revoked when the confirmation wait ends", async () => {
    const issued = await env.t.gw.store.findCertificates({ name: "raw.example.com" });
    expect(issued.length).toBe(1);
    let rec = issued[0];
    for (let i = 0; i < 150 && !rec.revokedAt; i++) {
      await new Promise((r) => setTimeout(r, 100));
      rec = (await env.t.gw.store.getCertificate(rec.serial))!;
    }
    expect(rec.revokedAt).toBeDefined();
    expect((await env.t.gw.store.queryAudit({ type: "cmp.confirm.timeout", limit: 10 })).map((e) => e.target)).toContain(rec.serial);
  }, 30_000);

  it("a tampered message fails its MAC: badMessageCheck", async () => {
    const d = decodePkiMessage(ir);
    const header = AsnConvert.parse(d.header, PKIHeader);
    header.transactionID = new Uint8Array(randomBytes(16)).buffer;
    const body = new Uint8Array(d.body);
    const i = Buffer.from(body).indexOf(Buffer.from("raw.example.com"));
    body[i] = "x".charCodeAt(0); // the CN, inside the MAC
    const tampered = encodePkiMessage(toDer(header), body, d.protection, d.extraCerts);
    expect(await post(tampered)).toMatchObject({ bodyType: "error", failInfo: ["badMessageCheck"] });
    expect(await env.t.gw.store.findCertificates({ name: "xaw.example.com" })).toEqual([]);
  });

  it("a PasswordBasedMac iteration count far above the cap is refused at once, without deriving a key", async () => {
    const d = decodePkiMessage(ir);
    const header = AsnConvert.parse(d.header, PKIHeader);
    const params = AsnConvert.parse(header.protectionAlg!.parameters!, PBMParameter);
    params.iterationCount = 1_000_000_000n;
    header.protectionAlg!.parameters = AsnConvert.serialize(params);
    header.transactionID = new Uint8Array(randomBytes(16)).buffer;
    const before = await macCounters(env);
    const r = await post(encodePkiMessage(toDer(header), d.body, d.protection, d.extraCerts));
    expect(r).toMatchObject({ bodyType: "error", failInfo: ["badMessageCheck"] });
    expect((await macCounters(env)).derivations).toBe(before.derivations);
    const ev = (await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 })).at(-1)!;
    expect(String(ev.data.reason)).toMatch(/iteration/i);
  });

  it("malformed DER gets a badDataFormat error; a wrong media type 415; the server keeps serving", async () => {
    expect(await post(new Uint8Array(randomBytes(200)))).toMatchObject({ bodyType: "error", failInfo: ["badDataFormat"] });
    expect(await post(ir.subarray(0, ir.length - 10))).toMatchObject({ bodyType: "error", failInfo: ["badDataFormat"] });
    const media = await fetch(`${env.http}/.well-known/cmp`, { method: "POST", headers: { "Content-Type": "text/plain" }, body: Buffer.from(ir) });
    expect(media.status).toBe(415);
    expect((await fetch(`${env.http}/.well-known/cmp`)).status).toBe(405);
    expect((await fetch(`${env.http}/.well-known/cmp/p/nope`, { method: "POST", headers: { "Content-Type": "application/pkixcmp" }, body: Buffer.from(ir) })).status).toBe(404);
  });
});
