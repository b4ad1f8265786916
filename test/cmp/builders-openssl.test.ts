import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Certificate } from "@peculiar/asn1-x509";
import type { PKIBody } from "../../protocols/cmp/asn1/message.js";
import { certRepBody, errorBody, genpBody, pkiConfBody, pollRepBody, responseHeader, rpBody } from "../../protocols/cmp/bodies.js";
import { decodePkiMessage, type DecodedMessage } from "../../protocols/cmp/codec.js";
import { CMP_OID } from "../../protocols/cmp/oids.js";
import { MacKeyPool } from "../../protocols/cmp/mac-pool.js";
import { macAlgorithmOf, macProtect, signProtect, verifyMac, verifySignature, type DeriveKey, type MacSpec } from "../../protocols/cmp/protection.js";
import { certConfirms, certHashMatches, certRequests, genmInfos, p10Request, pollReqIds, revDetails } from "../../protocols/cmp/requests.js";
import { cmp, CmpStub, makePki, ok, softSign, type CmpPki } from "./codec-helpers.js";

/*
 * The response builders and protection, answering the real `openssl cmp` (3.0) from an in-test server:
 * the client accepting our ip/cp/kup/rp/genp/pollRep/pkiconf/error proves they interoperate.
 */

const SECRET = "cmp-Interop-secret-9";
const secret = new TextEncoder().encode(SECRET);
const CAPS = { maxIterations: 100_000, maxSaltBytes: 64, allowHmacSha1: true };
const pool = new MacKeyPool({ maxQueued: 64 });
const derive: DeriveKey = (plan, s) => pool.derive(plan, s);
let pki: CmpPki;
let stub: CmpStub;
let caName: Uint8Array;
let raName: Uint8Array;

interface RaOptions {
  /** Answer to the first request instead of the normal one. */
  first?: (d: DecodedMessage) => PKIBody;
  grantImplicit?: boolean;
  macSpec?: MacSpec;
  sign?: boolean;
}

/** A miniature RA: checks protection, answers each body type with the builders. */
function ra(o: RaOptions = {}) {
  const seen: DecodedMessage[] = [];
  return async (der: Uint8Array, index: number): Promise<Uint8Array> => {
    const d = decodePkiMessage(der);
    seen.push(d);
    const kind = macAlgorithmOf(d.message.header);
    const v = kind === "signature" ? verifySignature(d) : await verifyMac(d, secret, CAPS, derive);
    if (!v.ok) throw new Error(`request protection: ${v.reason}`);
    const req = d.message.header;
    const implicitAsked = !!req.generalInfo?.some((g) => g.infoType === CMP_OID.implicitConfirm);
    const implicitConfirm = !!o.grantImplicit && implicitAsked && index === 0;
    const body = index === 0 && o.first ? o.first(d) : answer(d);
    // With a signature, openssl looks for the protection certificate by the sender name (and senderKID).
    const hdr = responseHeader(req, { sender: o.sign ? raName : caName, implicitConfirm });
    if (o.sign) return signProtect(hdr, body, { cert: pki.ra.der, chain: [pki.ca.der], keyType: "ec", sign: softSign(pki.ra.privateKey) });
    return macProtect(hdr, body, secret, derive, o.macSpec ?? req.protectionAlg);
  };
}

function answer(d: DecodedMessage): PKIBody {
  const b = d.message.body;
  switch (d.bodyType) {
    case "ir": case "cr": case "kur": {
      const [r] = certRequests(b);
      if (!r.popo.verify()) return errorBody({ failInfo: ["badPOP"], text: "POP does not verify" });
      const kind = d.bodyType === "ir" ? "ip" : d.bodyType === "cr" ? "cp" : "kup";
      return certRepBody(kind, { certReqId: r.certReqId, status: 0, cert: pki.issued.der, caPubs: d.bodyType === "ir" ? [pki.ca.der] : undefined });
    }
    case "p10cr":
      p10Request(b);
      return certRepBody("cp", { certReqId: -1, status: 0, cert: pki.issued.der });
    case "pollReq":
      return certRepBody("ip", { certReqId: pollReqIds(b)[0], status: 0, cert: pki.issued.der });
    case "certConf": {
      const [c] = certConfirms(b);
      if (!c.accepted || !certHashMatches(c, pki.issued.der)) return errorBody({ failInfo: ["badCertId"], text: "certHash mismatch" });
      return pkiConfBody();
    }
    case "rr":
      return rpBody(revDetails(b).map(() => ({ status: 0 as const })));
    case "genm":
      return genpBody(genmInfos(b).map((i) => ({ oid: i.oid })));
    default:
      return errorBody({ failInfo: ["badRequest"], text: `unexpected ${d.bodyType}` });
  }
}

const recipient = ["-recipient", "/O=CMP Test/CN=CMP Test CA"];
const mac = (...extra: string[]) => ["-ref", "client1", "-secret", `pass:${SECRET}`, ...recipient, ...extra];
const out = (name: string) => join(pki.dir, name);
const certOf = (path: string) => new Uint8Array(new X509Certificate(readFileSync(path)).raw);

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const r = await cmp(stub, args);
  expect(stub.handlerErrors, String(stub.handlerErrors)).toEqual([]);
  return r;
}

beforeAll(async () => {
  pki = await makePki();
  stub = await CmpStub.start();
  const subject = (der: Uint8Array) => new Uint8Array(AsnConvert.serialize(AsnConvert.parse(der, Certificate).tbsCertificate.subject));
  caName = subject(pki.ca.der);
  raName = subject(pki.ra.der);
});
afterAll(async () => {
  await stub?.close();
  await pool.close();
});

describe("openssl cmp accepts what the builders send", () => {
  it("ir with openssl's default PBM (HMAC-SHA1): ip with caPubs, certConf, pkiconf", async () => {
    stub.reset(ra());
    const r = await run(["-cmd", "ir", ...mac(), "-newkey", pki.newKey, "-subject", "/CN=device.example.com", "-certout", out("ir.pem"), "-cacertsout", out("ir-ca.pem")]);
    expect(r.code, r.out).toBe(0);
    expect(stub.requests.map((x) => decodePkiMessage(x).bodyType)).toEqual(["ir", "certConf"]);
    expect(certOf(out("ir.pem"))).toEqual(pki.issued.der);
    expect(certOf(out("ir-ca.pem"))).toEqual(pki.ca.der);
  });

  it("cr with -implicit_confirm granted: no certConf", async () => {
    stub.reset(ra({ grantImplicit: true }));
    const r = await run(["-cmd", "cr", ...mac("-mac", "hmacWithSHA256"), "-newkey", pki.newKey, "-subject", "/CN=device.example.com", "-implicit_confirm", "-certout", out("cr.pem")]);
    expect(r.code, r.out).toBe(0);
    expect(stub.requests).toHaveLength(1);
    expect(certOf(out("cr.pem"))).toEqual(pki.issued.der);
  });

  it("kur signed by the client, kup and pkiconf signed by the RA (chain checked by openssl)", async () => {
    stub.reset(ra({ sign: true }));
    const r = await run(["-cmd", "kur", "-cert", pki.client.cert, "-key", pki.client.key, "-trusted", pki.ca.cert, ...recipient, "-newkey", pki.newKey, "-certout", out("kur.pem")]);
    expect(r.code, r.out).toBe(0);
    expect(stub.requests.map((x) => decodePkiMessage(x).bodyType)).toEqual(["kur", "certConf"]);
  });

  it("p10cr: cp for certReqId -1", async () => {
    await ok(["req", "-new", "-key", pki.newKey, "-subj", "/CN=device.example.com", "-outform", "DER", "-out", out("p10.csr")]);
    stub.reset(ra());
    const r = await run(["-cmd", "p10cr", ...mac(), "-csr", out("p10.csr"), "-certout", out("p10.pem")]);
    expect(r.code, r.out).toBe(0);
    expect(certConfirms(decodePkiMessage(stub.requests[1]).message.body)[0].certReqId).toBe(-1n);
  });

  it("rr: rp accepted", async () => {
    stub.reset(ra());
    const r = await run(["-cmd", "rr", ...mac(), "-oldcert", pki.issued.cert, "-revreason", "1"]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/revocation accepted|accepted/i);
  });

  it("genm: genp", async () => {
    stub.reset(ra());
    const r = await run(["-cmd", "genm", ...mac(), "-infotype", "signKeyPairTypes"]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/signKeyPairTypes/);
  });

  it("error: openssl reports our failInfo and text", async () => {
    stub.reset(ra({ first: () => errorBody({ failInfo: ["badRequest", "notAuthorized"], text: "profile not allowed here" }) }));
    const r = await run(["-cmd", "ir", ...mac(), "-newkey", pki.newKey, "-subject", "/CN=device.example.com", "-certout", out("err.pem")]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("profile not allowed here");
    expect(r.out).toMatch(/badRequest/);
  });

  it("polling: ip waiting, pollRep, then the certificate", async () => {
    let polls = 0;
    const base = ra();
    stub.reset(async (der, i) => {
      const d = decodePkiMessage(der);
      if (i === 0) {
        const hdr = responseHeader(d.message.header, { sender: caName });
        return macProtect(hdr, certRepBody("ip", { certReqId: 0, status: 3, statusText: "waiting for approval" }), secret, derive, d.message.header.protectionAlg);
      }
      if (d.bodyType === "pollReq" && polls++ === 0) {
        const hdr = responseHeader(d.message.header, { sender: caName });
        return macProtect(hdr, pollRepBody(pollReqIds(d.message.body)[0], 1, "still waiting"), secret, derive, d.message.header.protectionAlg);
      }
      return base(der, i);
    });
    const r = await run(["-cmd", "ir", ...mac(), "-newkey", pki.newKey, "-subject", "/CN=device.example.com", "-certout", out("poll.pem")]);
    expect(r.code, r.out).toBe(0);
    expect(stub.requests.map((x) => decodePkiMessage(x).bodyType)).toEqual(["ir", "pollReq", "pollReq", "certConf"]);
  });

  it("PBMAC1 protection: OpenSSL 3.0 cannot verify it (so a PBM request gets a PBM answer)", async () => {
    stub.reset(ra({ macSpec: { kind: "pbmac1" } }));
    const r = await run(["-cmd", "genm", ...mac()]);
    // 3.0 takes any protectionAlg other than PasswordBasedMac for a signature ("missing trust anchor").
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("error validating protection");
    expect(stub.requests).toHaveLength(1);
  });
});
