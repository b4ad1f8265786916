import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { AsnConvert } from "@peculiar/asn1-schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PBMParameter } from "../../protocols/cmp/asn1/crmf.js";
import { PKIHeader } from "../../protocols/cmp/asn1/message.js";
import { failInfoNames } from "../../protocols/cmp/bodies.js";
import { decodePkiMessage, encodePkiMessage, toDer } from "../../protocols/cmp/codec.js";
import { genKey } from "../helpers/openssl.js";
import { CMP_KID, CMP_SECRET, cmpEnv, opensslCmp, type CmpEnv } from "./env.js";

let env: CmpEnv;
/** An ir made and protected by `openssl cmp` itself (saved with -reqout), never sent by it. */
let ir: Uint8Array;
beforeAll(async () => {
  env = await cmpEnv({ confirmWaitSeconds: 5 });
  // A capture server takes the request openssl cmp makes (and answers 500, so openssl gives up).
  let captured: Buffer | undefined;
  const capture = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      if (parts.length) captured ??= Buffer.concat(parts);
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((r) => capture.listen(0, "127.0.0.1", () => r()));
  await opensslCmp(["-server", `127.0.0.1:${(capture.address() as AddressInfo).port}`, "-path", ".well-known/cmp", "-ref", CMP_KID, "-secret", `pass:${CMP_SECRET}`,
    "-mac", "hmacWithSHA256", "-cmd", "ir", "-newkey", genKey(env.dir, "raw"), "-subject", "/CN=raw.example.com", "-certout", `${env.dir}/raw.pem`]);
  await new Promise<void>((r) => capture.close(() => r()));
  ir = new Uint8Array(captured!);
});
afterAll(async () => {
  await env?.close();
});

/** POSTs a PKIMessage; returns the HTTP status, the answer's body type and its failInfo bit names. */
async function post(der: Uint8Array): Promise<{ status: number; bodyType: string; failInfo: string[]; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${env.http}/.well-known/cmp`, { method: "POST", headers: { "Content-Type": "application/pkixcmp" }, body: Buffer.from(der) });
  const ms = performance.now() - t0;
  const answer = decodePkiMessage(new Uint8Array(await res.arrayBuffer()));
  const err = answer.message.body.error;
  return { status: res.status, bodyType: answer.bodyType, failInfo: err ? failInfoNames(err.pKIStatusInfo.failInfo) : [], ms };
}

describe("CMP refusals over raw HTTP", () => {
  it("a request made by openssl cmp is accepted once; replayed, its transactionID is refused", async () => {
    const first = await post(ir);
    expect(first.bodyType, JSON.stringify(env.t.gw.store.queryAudit({ type: "cmp.request", limit: 5 }).map((e) => e.data))).toBe("ip");
    const again = await post(ir);
    expect(again).toMatchObject({ status: 200, bodyType: "error", failInfo: ["transactionIdInUse"] });
  });

  it("the certificate of that first ir, never confirmed, is revoked when the confirmation wait ends", async () => {
    const issued = env.t.gw.store.findCertificates({ name: "raw.example.com" });
    expect(issued.length).toBe(1);
    let rec = issued[0];
    for (let i = 0; i < 150 && !rec.revokedAt; i++) {
      await new Promise((r) => setTimeout(r, 100));
      rec = env.t.gw.store.getCertificate(rec.serial)!;
    }
    expect(rec.revokedAt).toBeDefined();
    expect(env.t.gw.store.queryAudit({ type: "cmp.confirm.timeout", limit: 10 }).map((e) => e.target)).toContain(rec.serial);
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
    expect(env.t.gw.store.findCertificates({ name: "xaw.example.com" })).toEqual([]);
  });

  it("a PasswordBasedMac iteration count far above the cap is refused at once, without deriving a key", async () => {
    const d = decodePkiMessage(ir);
    const header = AsnConvert.parse(d.header, PKIHeader);
    const params = AsnConvert.parse(header.protectionAlg!.parameters!, PBMParameter);
    params.iterationCount = 1_000_000_000n;
    header.protectionAlg!.parameters = AsnConvert.serialize(params);
    header.transactionID = new Uint8Array(randomBytes(16)).buffer;
    const r = await post(encodePkiMessage(toDer(header), d.body, d.protection, d.extraCerts));
    expect(r).toMatchObject({ bodyType: "error", failInfo: ["badMessageCheck"] });
    expect(r.ms).toBeLessThan(2000); // 10^9 PBM iterations would take minutes
    const ev = env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 }).at(-1)!;
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
