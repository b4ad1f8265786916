import { createHash, createHmac, createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derSequence } from "../../src/asn1/der-encode.js";
import { readContentInfo, readSignedData } from "../../src/cms/read.js";
import { PBMParameter } from "../../protocols/cmp/asn1/crmf.js";
import { decodeDer } from "../../protocols/cmp/asn1/der-codec.js";
import { PKIHeader } from "../../protocols/cmp/asn1/message.js";
import { failInfoNames } from "../../protocols/cmp/bodies.js";
import { decodePkiMessage, encodePkiMessage, toDer, type DecodedMessage } from "../../protocols/cmp/codec.js";
import { HASH_BY_OID, HMAC_BY_OID } from "../../protocols/cmp/oids.js";
import { cmp, CmpStub } from "../cmp/codec-helpers.js";
import { makeCsr } from "../helpers/csr.js";
import { genKey, openssl, tempDir } from "../helpers/openssl.js";
import { buildPkiMessage, openCertRep } from "../helpers/scep-client.js";
import { encodeTree, parseTree, tlvBytes } from "./der-tree.js";
import { budget } from "./fuzz.js";
import { CMP_KID, CMP_SECRET, fuzzGateway, SCEP_CHALLENGE, type Answer, type FuzzGateway } from "./http-env.js";
import { mutatedDer } from "./mutate.js";

/*
 * SCEP and CMP over real HTTP. SCEP: a hostile message gets a CertRep or a 400, never a 500, and nothing
 * the client sends is audited as an internal error. CMP: every answer is a 200 with a PKIMessage, and a
 * client's fault is never answered with failInfo systemFailure.
 */

let g: FuzzGateway;
let dir: string;
beforeAll(async () => {
  g = await fuzzGateway();
  dir = tempDir("fuzz-http2-");
});
afterAll(async () => g?.close());

// ---- SCEP ----

interface ScepClient { key: KeyObject; cert: Uint8Array; csr: Uint8Array; ra: Uint8Array }
let sc: ScepClient;

async function scepSetup(): Promise<ScepClient> {
  const r = await g.send(`${g.plain}/scep?operation=GetCACert`);
  expect(r.status).toBe(200);
  const p7 = new Uint8Array(r.body);
  const ra = readSignedData(p7, readContentInfo(p7).content).certificates[0];
  const made = makeCsr(dir, "scep", { subject: "/CN=scep.example.com", challengePassword: SCEP_CHALLENGE, keyKind: "rsa-2048" });
  openssl(["req", "-x509", "-new", "-key", made.key, "-subj", "/CN=scep-signer", "-days", "1", "-out", join(dir, "self.pem")]);
  const csr = new Uint8Array(Buffer.from(readFileSync(made.csrPem, "utf8").replace(/-----[^-]+-----|\s+/g, ""), "base64"));
  return { key: createPrivateKey(readFileSync(made.key)), cert: new Uint8Array(new X509Certificate(readFileSync(join(dir, "self.pem"))).raw), csr, ra: Uint8Array.from(ra) };
}

const pkiMessage = (content: Uint8Array, messageType = 19) => buildPkiMessage({
  messageType, transactionId: randomBytes(8).toString("hex").toUpperCase(), senderNonce: new Uint8Array(randomBytes(16)), content,
  signerCert: sc.cert, signerKey: sc.key, recipientCert: sc.ra, digest: "sha256", contentEncryption: "aes-256-cbc",
});

const postScep = (der: Uint8Array) => g.send(`${g.plain}/scep?operation=PKIOperation`, { method: "POST", headers: { "Content-Type": "application/x-pki-message" }, body: der });

/** A CertRep (read and checked against the RA's signature) or a plain-text 400; never a 5xx. */
function scepAnswer(r: Answer): string {
  expect(r.status, r.body.toString().slice(0, 200)).toBeLessThan(500);
  if (r.status !== 200) {
    expect(r.status).toBe(400);
    expect(r.body.toString()).toMatch(/^RA_ERR_/);
    return "400";
  }
  expect(r.type).toBe("application/x-pki-message");
  return openCertRep(new Uint8Array(r.body), { recipientKey: sc.key, raCert: sc.ra }).status;
}

const internalScepErrors = async () => (await g.t.gw.store.queryAudit({ type: "scep.request", limit: 10_000 })).filter((e) => /internal/i.test(String(e.data.reason ?? "")));

describe("SCEP over HTTP", () => {
  it("the seed PKCSReq is issued", async () => {
    sc = await scepSetup();
    expect(scepAnswer(await postScep(pkiMessage(sc.csr)))).toBe("SUCCESS");
  });

  it("mutated pkiMessages over POST and GET get a CertRep or a 400, never a 500", async () => {
    const seed = pkiMessage(sc.csr);
    await fc.assert(fc.asyncProperty(mutatedDer(seed), fc.boolean(), async (der, get) => {
      const r = get ? await g.send(`${g.plain}/scep?operation=PKIOperation&message=${encodeURIComponent(Buffer.from(der).toString("base64"))}`) : await postScep(der);
      scepAnswer(r);
    }), budget(60, 3000));
  });

  it("validly signed and encrypted requests around mutated, re-signed CSRs get a CertRep, and nothing is an internal error", async () => {
    const info = new Uint8Array(encodeTree(parseTree(sc.csr)!.children![0]));
    const alg = encodeTree(parseTree(sc.csr)!.children![1]);
    const seen = new Set<string>();
    await fc.assert(fc.asyncProperty(mutatedDer(info), fc.constantFrom(19, 17, 20, 21, 22, 3, 99), async (i, type) => {
      const csr = new Uint8Array(tlvBytes(0x30, Buffer.concat([i, alg, tlvBytes(0x03, Buffer.concat([Uint8Array.of(0), sign("sha256", i, sc.key)]))])));
      seen.add(scepAnswer(await postScep(pkiMessage(csr, type))));
    }), budget(40, 3000));
    expect(seen).toContain("FAILURE");
    expect(await internalScepErrors()).toEqual([]);
  });

  it("still answers afterwards", async () => {
    expect((await g.send(`${g.plain}/scep?operation=GetCACaps`)).status).toBe(200);
    expect(scepAnswer(await postScep(pkiMessage(sc.csr)))).not.toBe("400");
  });
});

// ---- CMP ----

const caps: Record<string, Uint8Array> = {};

async function cmpSetup(): Promise<void> {
  const stub = await CmpStub.start();
  try {
    const key = genKey(dir, "cmp-new");
    openssl(["req", "-new", "-key", key, "-subj", "/CN=cmp.example.com", "-outform", "DER", "-out", join(dir, "p10.der")]);
    const mac = ["-ref", CMP_KID, "-secret", `pass:${CMP_SECRET}`, "-mac", "hmacWithSHA256", "-recipient", "/CN=Fuzz"];
    const out = ["-certout", join(dir, "never.pem")];
    const runs: Record<string, string[]> = {
      ir: ["-cmd", "ir", ...mac, "-newkey", key, "-subject", "/CN=cmp.example.com", "-sans", "cmp.example.com", ...out],
      p10cr: ["-cmd", "p10cr", ...mac, "-csr", join(dir, "p10.der"), ...out],
      genm: ["-cmd", "genm", ...mac, "-infotype", "signKeyPairTypes"],
    };
    for (const [name, args] of Object.entries(runs)) {
      stub.reset();
      const r = await cmp(stub, args);
      if (stub.requests.length !== 1) throw new Error(`${name}: nothing captured\n${r.out}`);
      caps[name] = stub.requests[0];
    }
  } finally {
    await stub.close();
  }
}

/** PasswordBasedMac (RFC 4211 §4.4) as a client computes it: key = owf^n(secret ‖ salt), then the HMAC. */
function pbm(d: DecodedMessage, header: Uint8Array, body: Uint8Array): Uint8Array {
  const p = decodeDer(PBMParameter, new Uint8Array(d.message.header.protectionAlg!.parameters as ArrayBuffer));
  const owf = HASH_BY_OID[p.owf.algorithm]!;
  let k = createHash(owf).update(Buffer.from(CMP_SECRET)).update(new Uint8Array(p.salt)).digest();
  for (let i = 1; i < Number(p.iterationCount); i++) k = createHash(owf).update(k).digest();
  return new Uint8Array(createHmac(HMAC_BY_OID[p.mac.algorithm]!, k).update(derSequence(header, body)).digest());
}

/** The capture with a fresh transactionID and senderNonce (a new transaction), `body` in place of its own, MAC'd again. */
function reprotected(capture: Uint8Array, body?: Uint8Array): Uint8Array {
  const d = decodePkiMessage(capture);
  const header = toDer(new PKIHeader({ ...d.message.header, transactionID: new Uint8Array(randomBytes(16)).buffer, senderNonce: new Uint8Array(randomBytes(16)).buffer }));
  const b = body ?? d.body;
  return encodePkiMessage(header, b, pbm(d, header, b));
}

const postCmp = (der: Uint8Array) => g.send(`${g.plain}/.well-known/cmp`, { method: "POST", headers: { "Content-Type": "application/pkixcmp" }, body: der });

/** A 200 with a PKIMessage; an error body never says systemFailure (that is the server's own fault). */
function cmpAnswer(r: Answer): { bodyType: string; failInfo: string[] } {
  expect(r.status, r.body.toString().slice(0, 200)).toBe(200);
  const a = decodePkiMessage(new Uint8Array(r.body));
  const err = a.message.body.error;
  const failInfo = err ? failInfoNames(err.pKIStatusInfo.failInfo) : [];
  expect(failInfo, err?.pKIStatusInfo.statusString?.join(" ")).not.toContain("systemFailure");
  return { bodyType: a.bodyType, failInfo };
}

describe("CMP over HTTP", () => {
  it("the captures, MAC'd again with fresh transaction ids, are answered (the client-side MAC is right)", async () => {
    await cmpSetup();
    const d = decodePkiMessage(caps.genm);
    expect(Buffer.from(pbm(d, d.header, d.body)).equals(Buffer.from(d.protection!))).toBe(true);
    expect(cmpAnswer(await postCmp(reprotected(caps.genm))).bodyType).toBe("genp");
    expect(cmpAnswer(await postCmp(reprotected(caps.ir))).bodyType).toBe("ip");
  });

  it("mutated messages get a CMP error answer, never a 500 or systemFailure", async () => {
    await fc.assert(fc.asyncProperty(mutatedDer(...Object.values(caps)), async (der) => {
      cmpAnswer(await postCmp(der));
    }), budget(60, 3000));
  });

  it("mutated bodies under a valid MAC reach the request readers and the enrollment; never systemFailure", async () => {
    const names = Object.keys(caps);
    const bodies = names.map((n) => decodePkiMessage(caps[n]).body);
    const seen = new Set<string>();
    await fc.assert(fc.asyncProperty(fc.nat({ max: names.length - 1 }).chain((i) => fc.tuple(fc.constant(i), mutatedDer(bodies[i]))), async ([i, body]) => {
      seen.add(cmpAnswer(await postCmp(reprotected(caps[names[i]], body))).bodyType);
    }), budget(60, 3000));
    expect(seen).toContain("error");
  });

  it("still answers afterwards", async () => {
    expect(cmpAnswer(await postCmp(reprotected(caps.genm))).bodyType).toBe("genp");
  });
});
