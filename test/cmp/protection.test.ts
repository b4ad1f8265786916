import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate, GeneralName, Name } from "@peculiar/asn1-x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PBMParameter } from "../../protocols/cmp/asn1/crmf.js";
import { decodeDer } from "../../protocols/cmp/asn1/der-codec.js";
import { encodeDer } from "../../protocols/cmp/asn1/der-encoder.js";
import { PKIBody, PKIHeader } from "../../protocols/cmp/asn1/message.js";
import { Pbkdf2Params, Pbmac1Params } from "../../protocols/cmp/asn1/pbmac1.js";
import {
  certRepBody, errorBody, failInfoBits, failInfoNames, FAIL_INFO, genpBody, pkiConfBody, pollRepBody, responseHeader, rpBody,
} from "../../protocols/cmp/bodies.js";
import { decodePkiMessage, encodePkiMessage, type DecodedMessage } from "../../protocols/cmp/codec.js";
import { acceptedCertRepDer, PKICONF_DER, responseHeaderDer } from "../../protocols/cmp/answer-der.js";
import { responseProtection } from "../../protocols/cmp/mac.js";
import { CMP_OID } from "../../protocols/cmp/oids.js";
import { MacKeyCache } from "../../protocols/cmp/mac-cache.js";
import { MacKeyPool } from "../../protocols/cmp/mac-pool.js";
import { macAlgorithmOf, macProtect, signProtect, verifyMac, verifySignature, type DeriveKey } from "../../protocols/cmp/protection.js";
import { cmp, CmpStub, makePki, ok, softSign, type CmpPki } from "./codec-helpers.js";

const SECRET = "cmp-Protection-secret-7";
const secret = new TextEncoder().encode(SECRET);
const wrong = new TextEncoder().encode("not-the-secret");
const CAPS = { maxIterations: 100_000, maxSaltBytes: 64 };
/** The pool the gateway derives with; `derivations` counts the keys it was asked for. */
let derivations = 0;
const pool = new MacKeyPool({ maxQueued: 64, onDerive: () => void derivations++ });
const derive: DeriveKey = (plan, s) => pool.derive(plan, s);
let pki: CmpPki;
let stub: CmpStub;
let irSha1: Uint8Array; // openssl's default PBM: owf SHA-256, mac HMAC-SHA1, 500 iterations
let irSha256: Uint8Array; // -mac hmacWithSHA256
let caName: Uint8Array;

async function capture(args: string[]): Promise<Uint8Array> {
  stub.reset();
  const r = await cmp(stub, ["-ref", "client1", "-secret", `pass:${SECRET}`, "-recipient", "/CN=CMP Test CA", "-certout", join(pki.dir, "x.pem"), ...args]);
  if (stub.requests.length !== 1) throw new Error(r.out);
  return stub.requests[0];
}

beforeAll(async () => {
  pki = await makePki();
  stub = await CmpStub.start();
  irSha1 = await capture(["-cmd", "ir", "-newkey", pki.newKey, "-subject", "/CN=device.example.com"]);
  irSha256 = await capture(["-cmd", "ir", "-newkey", pki.newKey, "-subject", "/CN=device.example.com", "-mac", "hmacWithSHA256"]);
  caName = new Uint8Array(AsnConvert.serialize(AsnConvert.parse(pki.ca.der, Certificate).tbsCertificate.subject));
});
afterAll(async () => {
  await stub?.close();
  await pool.close();
});

/** The same request with other PBM parameters (protection left as it was). */
function withPbm(der: Uint8Array, change: (p: PBMParameter) => void): DecodedMessage {
  const d = decodePkiMessage(der);
  const p = decodeDer(PBMParameter, new Uint8Array(d.message.header.protectionAlg!.parameters as ArrayBuffer));
  change(p);
  const alg = new AlgorithmIdentifier({ algorithm: CMP_OID.passwordBasedMac, parameters: new Uint8Array(encodeDer(p)).buffer });
  return decodePkiMessage(encodePkiMessage(encodeDer(new PKIHeader({ ...d.message.header, protectionAlg: alg })), d.body, d.protection));
}

describe("verifyMac", () => {
  it("PasswordBasedMac from openssl: right secret ok, wrong secret not; HMAC-SHA1 only when allowed", async () => {
    const d = decodePkiMessage(irSha1);
    expect(macAlgorithmOf(d.message.header)).toBe("pbm");
    expect(await verifyMac(d, secret, { ...CAPS, allowHmacSha1: true }, derive)).toEqual({ ok: true });
    expect(await verifyMac(d, wrong, { ...CAPS, allowHmacSha1: true }, derive)).toEqual({ ok: false, reason: "MAC does not verify" });
    expect(await verifyMac(d, secret, CAPS, derive)).toMatchObject({ ok: false, reason: expect.stringContaining("HMAC-SHA1") });
    const d256 = decodePkiMessage(irSha256);
    expect(await verifyMac(d256, secret, CAPS, derive)).toEqual({ ok: true });
    expect((await verifyMac(d256, wrong, CAPS, derive)).ok).toBe(false);
  });

  it("a hostile iteration count is refused before any derivation", async () => {
    for (const n of [2n ** 30n, 2n ** 70n, 100_001n]) {
      const d = withPbm(irSha256, (p) => (p.iterationCount = n));
      const before = derivations;
      expect(await verifyMac(d, secret, CAPS, derive)).toEqual({ ok: false, reason: `iteration count ${n} exceeds 100000` });
      expect(derivations).toBe(before);
    }
    const atCap = withPbm(irSha256, (p) => (p.iterationCount = 100_000n));
    const before = derivations;
    expect(await verifyMac(atCap, secret, CAPS, derive)).toEqual({ ok: false, reason: "MAC does not verify" });
    expect(derivations).toBe(before + 1);
    expect((await verifyMac(withPbm(irSha256, (p) => (p.iterationCount = 10n)), secret, CAPS, derive)).reason).toMatch(/below 100/);
    expect((await verifyMac(withPbm(irSha256, (p) => (p.salt = new ArrayBuffer(65))), secret, CAPS, derive)).reason).toMatch(/salt of 65 bytes/);
    expect((await verifyMac(withPbm(irSha256, (p) => (p.owf = new AlgorithmIdentifier({ algorithm: CMP_OID.sha1 }))), secret, CAPS, derive)).reason).toMatch(/owf/);
    // Same parameters re-encoded: still verifies (the test helper itself is sound).
    expect(await verifyMac(withPbm(irSha256, () => undefined), secret, CAPS, derive)).toEqual({ ok: true });
  });

  it("refuses unprotected and signature-protected messages", async () => {
    const d = decodePkiMessage(irSha256);
    const bare = decodePkiMessage(encodePkiMessage(encodeDer(new PKIHeader({ ...d.message.header, protectionAlg: undefined })), d.body));
    expect(await verifyMac(bare, secret, CAPS, derive)).toEqual({ ok: false, reason: "message is not protected (no protectionAlg)" });
    expect(macAlgorithmOf(bare.message.header)).toBe("none");
  });
});

describe("macProtect", () => {
  const header = () => responseHeader(decodePkiMessage(irSha256).message.header, { sender: caName });

  it("default PBMAC1 (PBKDF2-HMAC-SHA256, 16-byte salt, 10 000 iterations) verifies, and OpenSSL's KDF and HMAC agree", async () => {
    const der = await macProtect(header(), pkiConfBody(), secret, derive);
    const d = decodePkiMessage(der);
    expect(macAlgorithmOf(d.message.header)).toBe("pbmac1");
    expect(await verifyMac(d, secret, CAPS, derive)).toEqual({ ok: true });
    expect((await verifyMac(d, wrong, CAPS, derive)).ok).toBe(false);
    const p = decodeDer(Pbmac1Params, new Uint8Array(d.message.header.protectionAlg!.parameters as ArrayBuffer));
    const kdf = decodeDer(Pbkdf2Params, new Uint8Array(p.keyDerivationFunc.parameters as ArrayBuffer));
    expect([kdf.iterationCount, kdf.keyLength, kdf.salt.specified?.byteLength, kdf.prf?.algorithm, p.messageAuthScheme.algorithm])
      .toEqual([10_000n, 32n, 16, CMP_OID.hmacWithSha256, CMP_OID.hmacWithSha256]);
    const hex = (s: string) => s.replace(/[^0-9A-Fa-f]/g, "").toLowerCase();
    const key = hex(await ok(["kdf", "-keylen", "32", "-kdfopt", "digest:SHA256", "-kdfopt", `pass:${SECRET}`,
      "-kdfopt", `hexsalt:${Buffer.from(kdf.salt.specified!).toString("hex")}`, "-kdfopt", "iter:10000", "PBKDF2"]));
    writeFileSync(join(pki.dir, "pp.der"), d.protectedPart);
    const mac = hex(await ok(["mac", "-digest", "SHA256", "-macopt", `hexkey:${key}`, "-in", join(pki.dir, "pp.der"), "HMAC"]));
    expect(mac).toBe(Buffer.from(d.protection!).toString("hex"));
  });

  it("mirrors a PBM request, salt included, with HMAC-SHA1 upgraded to HMAC-SHA256", async () => {
    const req = decodePkiMessage(irSha1).message.header;
    const d = decodePkiMessage(await macProtect(header(), pkiConfBody(), secret, derive, req.protectionAlg));
    const sent = decodeDer(PBMParameter, new Uint8Array(req.protectionAlg!.parameters as ArrayBuffer));
    const got = decodeDer(PBMParameter, new Uint8Array(d.message.header.protectionAlg!.parameters as ArrayBuffer));
    expect([got.owf.algorithm, got.iterationCount, got.mac.algorithm]).toEqual([CMP_OID.sha256, sent.iterationCount, CMP_OID.hmacWithSha256]);
    expect(Buffer.from(got.salt).equals(Buffer.from(sent.salt))).toBe(true);
    expect(await verifyMac(d, secret, CAPS, derive)).toEqual({ ok: true });
  });

  it("with a key cache: one derivation per secret and parameters, kept only once a MAC verified, and reused by the answer", async () => {
    const cache = new MacKeyCache(2);
    const keys = { derive, cache };
    const before = derivations;
    const req = decodePkiMessage(irSha256);
    expect(await verifyMac(req, wrong, CAPS, keys)).toEqual({ ok: false, reason: "MAC does not verify" });
    expect([derivations - before, cache.size]).toEqual([1, 0]); // a failed guess takes no place
    expect(await verifyMac(req, secret, CAPS, keys)).toEqual({ ok: true });
    expect(await verifyMac(req, secret, CAPS, keys)).toEqual({ ok: true });
    expect(await verifyMac(req, wrong, CAPS, keys)).toEqual({ ok: false, reason: "MAC does not verify" }); // another secret is another entry
    expect([derivations - before, cache.size]).toEqual([3, 1]);
    const answer = decodePkiMessage(await macProtect(header(), pkiConfBody(), secret, keys, req.message.header.protectionAlg));
    expect(await verifyMac(answer, secret, CAPS, keys)).toEqual({ ok: true });
    expect(derivations - before).toBe(3);
    // Other iteration counts or salts are other keys; the map stays within its bound (least recently used out).
    const other = withPbm(irSha256, (p) => (p.iterationCount = 501n));
    await macProtect(header(), pkiConfBody(), secret, keys, other.message.header.protectionAlg);
    await macProtect(header(), pkiConfBody(), secret, keys, withPbm(irSha256, (p) => (p.salt = new Uint8Array(16).buffer)).message.header.protectionAlg);
    expect([derivations - before, cache.size]).toEqual([5, 2]);
    expect(await verifyMac(req, secret, CAPS, keys)).toEqual({ ok: true });
    expect(derivations - before).toBe(6);
  });

  it("key cache ids differ by every parameter and by the secret, and do not hold the secret", () => {
    const plan = { kind: "pbm" as const, salt: new Uint8Array(16), owf: "sha256" as const, iterations: 1000, mac: "sha256" as const };
    const ids = [
      MacKeyCache.id(plan, secret), MacKeyCache.id(plan, wrong), MacKeyCache.id({ ...plan, owf: "sha512" }, secret), MacKeyCache.id({ ...plan, iterations: 1001 }, secret),
      MacKeyCache.id({ ...plan, salt: new Uint8Array(17) }, secret), MacKeyCache.id({ kind: "pbmac1", salt: plan.salt, iterations: 1000, keyLength: 32, prf: "sha256", mac: "sha256" }, secret),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    expect(MacKeyCache.id({ ...plan, mac: "sha1" }, secret)).toBe(ids[0]); // the key does not depend on the mac
    for (const id of ids) expect(id).not.toContain(SECRET);
  });

  it("adds extraCerts when given", async () => {
    const d = decodePkiMessage(await macProtect(header(), pkiConfBody(), secret, derive, { kind: "pbm" }, [pki.ca.der]));
    expect(d.extraCerts).toEqual([pki.ca.der]);
    expect(await verifyMac(d, secret, CAPS, derive)).toEqual({ ok: true });
  });
});

describe("signProtect and verifySignature", () => {
  const req = () => decodePkiMessage(irSha256).message.header;
  const raName = () => new Uint8Array(AsnConvert.serialize(AsnConvert.parse(pki.ra.der, Certificate).tbsCertificate.subject));

  it("EC: ecdsa-with-SHA256, senderKID = SKI, extraCerts = [cert, ...chain]; tampering fails", async () => {
    const der = await signProtect(responseHeader(req(), { sender: raName() }), pkiConfBody(), { cert: pki.ra.der, chain: [pki.ca.der], keyType: "ec", sign: softSign(pki.ra.privateKey) });
    const d = decodePkiMessage(der);
    expect(d.message.header.protectionAlg?.algorithm).toBe("1.2.840.10045.4.3.2");
    expect(new X509Ski(pki.ra.der).matches(d.message.header.senderKID)).toBe(true);
    expect(d.extraCerts).toEqual([pki.ra.der, pki.ca.der]);
    expect(verifySignature(d)).toEqual({ ok: true, signerCert: pki.ra.der });
    const at = Buffer.from(der).indexOf(Buffer.from(d.protection!)) + 10;
    const bad = Uint8Array.from(der);
    bad[at] ^= 0x40;
    expect(verifySignature(decodePkiMessage(bad)).ok).toBe(false);
  });

  it("RSA: sha256WithRSAEncryption", async () => {
    const der = await signProtect(responseHeader(req(), { sender: raName() }), pkiConfBody(), { cert: pki.rsaClient.der, chain: [], keyType: "rsa", sign: softSign(pki.rsaClient.privateKey) });
    const d = decodePkiMessage(der);
    expect(d.message.header.protectionAlg?.algorithm).toBe("1.2.840.113549.1.1.11");
    expect(verifySignature(d)).toEqual({ ok: true, signerCert: pki.rsaClient.der });
  });

  it("refuses to send a signature the certificate does not verify", async () => {
    await expect(signProtect(responseHeader(req(), { sender: raName() }), pkiConfBody(), { cert: pki.ra.der, chain: [], keyType: "ec", sign: softSign(pki.client.privateKey) }))
      .rejects.toThrow(/does not verify/);
  });
});

/** Whether senderKID equals a certificate's subjectKeyIdentifier. */
class X509Ski {
  private readonly ski: Buffer;
  constructor(der: Uint8Array) {
    const ext = AsnConvert.parse(der, Certificate).tbsCertificate.extensions!.find((e) => e.extnID === "2.5.29.14")!;
    this.ski = Buffer.from(ext.extnValue.buffer).subarray(2);
  }
  matches(kid: ArrayBuffer | undefined): boolean {
    return !!kid && this.ski.equals(Buffer.from(kid));
  }
}

describe("builders", () => {
  it("PKIFailureInfo: named bits in DER (trailing zero bits dropped), all 27 names", () => {
    expect(Buffer.from(AsnConvert.serialize(failInfoBits(["badPOP"]))).toString("hex")).toBe("03030600" + "40");
    expect(Buffer.from(AsnConvert.serialize(failInfoBits(["badAlg"]))).toString("hex")).toBe("03020780");
    const all = Object.keys(FAIL_INFO);
    expect(all).toHaveLength(27);
    expect(failInfoNames(failInfoBits(all))).toEqual(all);
    expect(FAIL_INFO.duplicateCertReq).toBe(26);
    expect(() => failInfoBits(["noSuchBit"])).toThrow();
  });

  it("responseHeader echoes the transaction and answers the nonce; bodies round-trip through the codec and peculiar alike", async () => {
    const reqHeader = decodePkiMessage(irSha256).message.header;
    const hdr = responseHeader(reqHeader, { sender: caName, implicitConfirm: true, extraFreeText: ["hello"] });
    const bodies: Array<[string, PKIBody]> = [
      ["ip", certRepBody("ip", { certReqId: 0, status: 0, cert: pki.issued.der, caPubs: [pki.ca.der] })],
      ["cp", certRepBody("cp", { certReqId: -1n, status: 2, failInfo: ["badCertTemplate"], statusText: "no" })],
      ["kup", certRepBody("kup", { certReqId: 7, status: 3 })],
      ["rp", rpBody([{ status: 0 }, { status: 2, failInfo: ["badCertId"], text: "unknown" }])],
      ["pkiconf", pkiConfBody()],
      ["pollRep", pollRepBody(0, 30, "later")],
      ["genp", genpBody([{ oid: "1.3.6.1.5.5.7.4.17", value: Uint8Array.of(0x30, 0x00) }, { oid: "1.3.6.1.5.5.7.4.2" }])],
      ["error", errorBody({ failInfo: ["badMessageCheck"], text: "MAC does not verify" })],
    ];
    for (const [type, body] of bodies) {
      const d = decodePkiMessage(await macProtect(hdr, body, secret, derive, reqHeader.protectionAlg));
      expect(d.bodyType).toBe(type);
      expect(await verifyMac(d, secret, CAPS, derive)).toEqual({ ok: true });
      expect(Buffer.from(AsnConvert.serialize(d.message.body)).equals(d.body), type).toBe(true);
      expect(Buffer.from(AsnConvert.serialize(d.message.header)).equals(d.header), type).toBe(true);
      const h = d.message.header;
      expect(Buffer.from(h.transactionID!).equals(Buffer.from(reqHeader.transactionID!))).toBe(true);
      expect(Buffer.from(h.recipNonce!).equals(Buffer.from(reqHeader.senderNonce!))).toBe(true);
      expect(h.senderNonce?.byteLength).toBe(16);
      expect(h.pvno).toBe(2);
      expect(h.generalInfo?.map((g) => g.infoType)).toEqual([CMP_OID.implicitConfirm]);
      expect(h.freeText).toEqual(["hello"]);
      expect(h.recipient).toEqual(reqHeader.sender);
    }
    const ip = decodePkiMessage(await macProtect(hdr, bodies[0][1], secret, derive)).message.body.ip!;
    expect(new Uint8Array(ip.response[0].certifiedKeyPair!.certOrEncCert.certificate!)).toEqual(pki.issued.der);
    expect(ip.caPubs?.map((c) => new Uint8Array(c))).toEqual([pki.ca.der]);
    const rp = decodePkiMessage(await macProtect(hdr, bodies[3][1], secret, derive)).message.body.rp!;
    expect(rp.status.map((s) => [s.status, failInfoNames(s.failInfo), s.statusString?.[0]])).toEqual([[0, [], undefined], [2, ["badCertId"], "unknown"]]);
  });

  it("answer-der writes the bytes the builders and the schema encoder write: header (mirrored protectionAlg included), pkiconf, accepted ip/cp/kup", () => {
    const senderDer = encodeDer(new GeneralName({ directoryName: decodeDer(Name, caName) }));
    const upgraded = responseProtection(decodePkiMessage(irSha1).message.header.protectionAlg).alg;
    const pvno3 = (der: Uint8Array) => {
      const d = decodePkiMessage(der);
      return encodePkiMessage(encodeDer(new PKIHeader({ ...d.message.header, pvno: 3 })), d.body, d.protection);
    };
    const nonces = new Set<string>();
    for (const der of [irSha1, irSha256, pvno3(irSha256)]) {
      const req = decodePkiMessage(der);
      for (const protectionAlg of [req.message.header.protectionAlg, upgraded, undefined]) {
        for (const [senderKID, implicitConfirm] of [[Uint8Array.of(1, 2, 3), true], [undefined, false]] as const) {
          const now = Date.UTC(2026, 11, 6, 10, 11, 12, 345);
          const got = responseHeaderDer(req, { sender: senderDer, protectionAlg, senderKID, implicitConfirm, now });
          nonces.add(Buffer.from(got.senderNonce).toString("hex"));
          const hdr = responseHeader(req.message.header, { sender: caName, senderKID, implicitConfirm, now: new Date(now) });
          const want = encodeDer(new PKIHeader({ ...hdr, protectionAlg, senderNonce: new Uint8Array(got.senderNonce).buffer }));
          expect(Buffer.from(got.der).toString("hex")).toBe(Buffer.from(want).toString("hex"));
        }
      }
    }
    expect(nonces.size).toBe(18);
    expect([...nonces].every((n) => n.length === 32)).toBe(true);
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
    expect(hex(PKICONF_DER)).toBe(hex(encodeDer(pkiConfBody())));
    for (const kind of ["ip", "cp", "kup"] as const) {
      for (const certReqId of [0n, -1n, 127n, 128n, 255n, -129n, 2n ** 70n]) {
        for (const caPubs of [undefined, [], [pki.ca.der], [pki.ca.der, pki.ra.der]]) {
          const want = encodeDer(certRepBody(kind, { certReqId, status: 0, cert: pki.issued.der, caPubs }));
          expect(hex(acceptedCertRepDer(kind, certReqId, pki.issued.der, caPubs)), `${kind} ${certReqId} ${caPubs?.length}`).toBe(hex(want));
        }
      }
    }
  });

  it("answers pvno 3 to pvno 3, and a header that could not be read to the NULL-DN", async () => {
    const reqHeader = decodePkiMessage(irSha256).message.header;
    expect(responseHeader(new PKIHeader({ ...reqHeader, pvno: 3 }), { sender: caName }).pvno).toBe(3);
    const blind = responseHeader(new PKIHeader({ pvno: 2 }), { sender: new GeneralName({ dNSName: "ra.example.com" }) });
    const d = decodePkiMessage(await macProtect(blind, errorBody({ failInfo: ["badDataFormat"], text: "garbage" }), secret, derive));
    expect(d.message.header.recipient.directoryName).toEqual([]);
    expect(d.message.header.sender.dNSName).toBe("ra.example.com");
  });
});
