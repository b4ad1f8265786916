// CMP over real HTTP with ML-DSA: ir with an ML-DSA signature POP (PasswordBasedMac protection), p10cr with an
// ML-DSA CSR, kur protected by the ML-DSA certificate itself, certConf by the certificate's own hash (SHA-512 for
// ML-DSA), refusals of a POP at the wrong level or with parameters; and the EC responder under an ML-DSA CA.
import { createHash, createHmac, hash, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { request } from "node:http";
import { AsnConvert, BitString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, Certificate, GeneralName, Name, RelativeDistinguishedName, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derSequence } from "../../src/asn1/der-encode.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import { CertConfirmContent, CertStatus } from "../../protocols/cmp/asn1/content.js";
import { CertReqMessages, CertReqMsg, CertRequest, CertTemplate, POPOSigningKey, ProofOfPossession } from "../../protocols/cmp/asn1/crmf.js";
import { encodeDer } from "../../protocols/cmp/asn1/der-encoder.js";
import { PKIBody, PKIHeader } from "../../protocols/cmp/asn1/message.js";
import { failInfoNames } from "../../protocols/cmp/bodies.js";
import { decodePkiMessage, encodePkiMessage, generalizedTimeDer, toDer, type DecodedMessage } from "../../protocols/cmp/codec.js";
import { macAlgorithmIdentifier, type MacPlan } from "../../protocols/cmp/mac.js";
import { verifyMac, verifySignature } from "../../protocols/cmp/protection.js";
import { ML_DSA_OID, mlDsaCsr, mlDsaKeys, type Level } from "../helpers/ml-dsa.js";
import { startServers } from "../../src/server/listen.js";
import { testGateway } from "../helpers/gateway.js";
import { expectSignedBy, pqEnv, pqProfile, type PqEnv } from "./protocol-env.js";

const KID = "pq-client";
const SECRET = Buffer.from("pq-Shared-secret-1");
const NULL = new Uint8Array([0x05, 0x00]).buffer;
const cmpLabels = (names: string[]) => names.map((n) => ({ name: n, profile: n, secrets: [{ kid: KID, secret: SECRET.toString() }] }));

const ab = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const cnName = (cn: string) => new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: "2.5.4.3", value: new AttributeValue({ utf8String: cn }) })])]);
const spkiOf = (k: KeyObject) => AsnConvert.parse(k.export({ type: "spki", format: "der" }), SubjectPublicKeyInfo);

/** PasswordBasedMac key (RFC 4211 §4.4): owf^iterations(secret ‖ salt). */
function pbmKey(plan: MacPlan, secret: Uint8Array): Buffer {
  if (plan.kind !== "pbm" || plan.owf !== "sha256") throw new Error(`answer protected with ${plan.kind}, expected our PasswordBasedMac`);
  let key = createHash("sha256").update(secret).update(plan.salt).digest();
  for (let i = 1; i < plan.iterations; i++) key = Buffer.from(hash("sha256", key, "buffer"));
  return key;
}

/** Where a message goes: the HTTP listener of a gateway. */
type Target = Pick<PqEnv, "servers">;

type Protection = { kind: "mac" } | { kind: "signature"; cert: X509Certificate; key: KeyObject; level: Level };

/**
 * One exchange: the body MAC-protected (PBM, HMAC-SHA256, 1000 iterations) or signed with ML-DSA by `cert`'s key
 * (`cert` in extraCerts), POSTed to the label; the answer decoded, its protection and nonces checked.
 */
async function exchange(env: Target, label: string, body: PKIBody, p: Protection, tx: { id: ArrayBuffer; recipNonce?: ArrayBuffer }): Promise<DecodedMessage> {
  const senderNonce = randomBytes(16);
  const plan: MacPlan = { kind: "pbm", salt: new Uint8Array(randomBytes(16)), owf: "sha256", iterations: 1000, mac: "sha256" };
  const header = new PKIHeader({
    pvno: 2,
    sender: new GeneralName({ directoryName: p.kind === "mac" ? cnName("pq cmp client") : AsnConvert.parse(p.cert.raw, Certificate).tbsCertificate.subject }),
    recipient: new GeneralName({ directoryName: new Name() }), messageTime: ab(generalizedTimeDer(new Date())),
    senderKID: p.kind === "mac" ? ab(Buffer.from(KID)) : undefined, transactionID: tx.id, senderNonce: ab(senderNonce), recipNonce: tx.recipNonce,
    protectionAlg: p.kind === "mac" ? macAlgorithmIdentifier(plan) : new AlgorithmIdentifier({ algorithm: ML_DSA_OID[p.level] }),
  });
  const h = toDer(header);
  const b = toDer(body);
  const part = derSequence(h, b);
  const der = p.kind === "mac"
    ? encodePkiMessage(h, b, createHmac("sha256", pbmKey(plan, SECRET)).update(part).digest())
    : encodePkiMessage(h, b, new Uint8Array(sign(null, part, p.key)), [new Uint8Array(p.cert.raw)]);
  const answer = await new Promise<{ status: number; type: string; body: Buffer }>((resolve, reject) => {
    const req = request(`http://127.0.0.1:${env.servers.httpPort}/.well-known/cmp/p/${label}`, { method: "POST", headers: { "content-type": "application/pkixcmp" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(Buffer.from(der));
  });
  expect(answer.status).toBe(200);
  expect(answer.type).toMatch(/^application\/pkixcmp/);
  const d = decodePkiMessage(new Uint8Array(answer.body));
  expect(Buffer.from(d.message.header.transactionID!).equals(Buffer.from(tx.id))).toBe(true);
  expect(Buffer.from(d.message.header.recipNonce!).equals(senderNonce)).toBe(true);
  if (p.kind === "mac") {
    const v = await verifyMac(d, SECRET, { maxIterations: 100_000, maxSaltBytes: 64 }, async (pl, s) => pbmKey(pl, s));
    expect(v.ok, v.reason).toBe(true);
  } else {
    const v = verifySignature(d);
    expect(v.ok, v.reason).toBe(true);
  }
  return d;
}

/** The ML-DSA CertReqMsg: template with the key (and CN), POP signed over the DER CertRequest. */
function certReqMsg(keys: { privateKey: KeyObject; publicKey: KeyObject }, level: Level, cn?: string, pop: "ok" | "wrong-level" | "parameters" = "ok"): CertReqMsg {
  const certReq = new CertRequest({ certReqId: 0n, certTemplate: new CertTemplate({ subject: cn ? cnName(cn) : undefined, publicKey: spkiOf(keys.publicKey) }) });
  const algorithm = ML_DSA_OID[pop === "wrong-level" ? (level === 44 ? 65 : 44) : level];
  const algorithmIdentifier = new AlgorithmIdentifier(pop === "parameters" ? { algorithm, parameters: NULL } : { algorithm });
  const signature = new BitString(sign(null, encodeDer(certReq), keys.privateKey));
  return new CertReqMsg({ certReq, popo: new ProofOfPossession({ signature: new POPOSigningKey({ algorithmIdentifier, signature }) }) });
}

interface Enrolled { cert: X509Certificate; answer: DecodedMessage; conf: DecodedMessage }

/**
 * Request → ip/cp/kup with a certificate → certConf → pkiconf. Without hashAlg the certHash uses the hash of the
 * certificate's signature algorithm (RFC 9481 §2): SHA-256 for ecdsa-with-SHA256, SHA-512 for ML-DSA.
 */
async function enroll(env: Target, label: string, body: PKIBody, p: Protection): Promise<Enrolled> {
  const tx = { id: ab(randomBytes(16)) };
  const answer = await exchange(env, label, body, p, tx);
  const rep = (answer.message.body.ip ?? answer.message.body.cp ?? answer.message.body.kup)?.response[0];
  expect(rep, `answered with ${answer.bodyType}: ${statusText(answer)}`).toBeDefined();
  expect(rep!.status.status, statusText(answer)).toBe(0);
  const der = new Uint8Array(rep!.certifiedKeyPair!.certOrEncCert.certificate!);
  const signedWith = AsnConvert.parse(der, Certificate).signatureAlgorithm.algorithm;
  const certHash = createHash(Object.values(ML_DSA_OID).includes(signedWith) ? "sha512" : "sha256").update(der).digest();
  const status = new CertStatus({ certHash: ab(certHash), certReqId: rep!.certReqId });
  const conf = await exchange(env, label, new PKIBody({ certConf: new CertConfirmContent([status]) }), p, { id: tx.id, recipNonce: answer.message.header.senderNonce });
  expect(conf.bodyType, statusText(conf)).toBe("pkiconf");
  return { cert: new X509Certificate(der), answer, conf };
}

function statusText(d: DecodedMessage): string {
  const b = d.message.body;
  const si = b.error?.pKIStatusInfo ?? (b.ip ?? b.cp ?? b.kup)?.response[0]?.status;
  return `status ${si?.status} [${failInfoNames(si?.failInfo).join(",")}] ${si?.statusString?.join(" ") ?? ""}`;
}

const hex = (d: ArrayBuffer | Uint8Array) => Buffer.from(d as Uint8Array).toString("hex");
const ir = (m: CertReqMsg) => new PKIBody({ ir: new CertReqMessages([m]) });
const sameKey = (c: X509Certificate, k: KeyObject) => c.publicKey.export({ type: "spki", format: "der" }).equals(k.export({ type: "spki", format: "der" }));

let env: PqEnv;
beforeAll(async () => {
  env = await pqEnv({ cmp: { labels: cmpLabels(["pq-ec", "pq-mixed", "pq-full"]), defaultLabel: "pq-ec" } });
}, 120_000);
afterAll(async () => env?.close());

describe("CMP ir with an ML-DSA key and signature POP", () => {
  it("ML-DSA-44 under the EC issuing CA; certConf by SHA-256 (the CA signs ecdsa-with-SHA256)", async () => {
    const keys = mlDsaKeys(44);
    const { cert, answer } = await enroll(env, "pq-ec", ir(certReqMsg(keys, 44, "cmp-ec.example.com")), { kind: "mac" });
    expect(sameKey(cert, keys.publicKey)).toBe(true);
    expectSignedBy(cert, env.caCert("dev-issuing"));
    // RFC 9483 §4.1.1: caPubs of an ip hold the root of the issuing chain.
    expect(answer.message.body.ip!.caPubs?.map((c) => Buffer.from(c).toString("hex"))).toEqual([env.caCert("dev-root").raw.toString("hex")]);
    expect(await env.t.gw.store.getCertificate(normalizeSerial(cert.serialNumber))).toMatchObject({ protocol: "cmp", profile: "pq-ec" });
  });

  it("ML-DSA-65 under the ML-DSA issuing CA of the EC root: certConf by SHA-512; caPubs the EC root, extraCerts the issuing CA", async () => {
    const keys = mlDsaKeys(65);
    const { cert, answer } = await enroll(env, "pq-mixed", ir(certReqMsg(keys, 65, "cmp-mixed.example.com")), { kind: "mac" });
    expect(sameKey(cert, keys.publicKey)).toBe(true);
    expectSignedBy(cert, env.caCert("mixed-issuing"));
    expect(answer.message.body.ip!.caPubs?.map(hex)).toEqual([hex(env.caCert("dev-root").raw)]);
    // The path leaf → ML-DSA issuing CA → EC root can be built from the answer alone.
    expect(answer.extraCerts.map(hex)).toEqual([hex(env.caCert("mixed-issuing").raw)]);
    expectSignedBy(new X509Certificate(Buffer.from(answer.extraCerts[0])), env.caCert("dev-root"));
  });

  it("ML-DSA-87 under the all-ML-DSA CA, and p10cr with an ML-DSA CSR", async () => {
    const keys = mlDsaKeys(87);
    const a = await enroll(env, "pq-full", ir(certReqMsg(keys, 87, "cmp-full.example.com")), { kind: "mac" });
    expectSignedBy(a.cert, env.caCert("pq-issuing"));
    expect(a.answer.message.body.ip!.caPubs?.map((c) => Buffer.from(c).toString("hex"))).toEqual([env.caCert("pq-root").raw.toString("hex")]);
    const csr = mlDsaCsr({ level: 44, cn: "cmp-p10.example.com", dns: ["cmp-p10.example.com"] });
    const b = await enroll(env, "pq-full", new PKIBody({ p10cr: ab(csr.der) }), { kind: "mac" });
    expect(sameKey(b.cert, csr.keys.publicKey)).toBe(true);
    expectSignedBy(b.cert, env.caCert("pq-issuing"));
  });

  it("refuses a POP whose algorithm names another level, or carries parameters: badPOP, no certificate", async () => {
    for (const pop of ["wrong-level", "parameters"] as const) {
      const answer = await exchange(env, "pq-mixed", ir(certReqMsg(mlDsaKeys(65), 65, `cmp-${pop}.example.com`, pop)), { kind: "mac" }, { id: ab(randomBytes(16)) });
      const text = statusText(answer);
      expect(text, pop).toMatch(/^status 2 \[.*badPOP/);
      expect(answer.message.body.ip?.response[0]?.certifiedKeyPair).toBeUndefined();
    }
  });
});

describe("CMP kur protected by an ML-DSA certificate", () => {
  it("the ML-DSA signature protection verifies; kup comes signed by the EC responder", async () => {
    const first = mlDsaKeys(65);
    const old = await enroll(env, "pq-mixed", ir(certReqMsg(first, 65, "cmp-kur.example.com")), { kind: "mac" });
    const next = mlDsaKeys(65);
    const upd = await enroll(env, "pq-mixed", new PKIBody({ kur: new CertReqMessages([certReqMsg(next, 65)]) }), { kind: "signature", cert: old.cert, key: first.privateKey, level: 65 });
    expect(upd.answer.bodyType).toBe("kup");
    expect(sameKey(upd.cert, next.publicKey)).toBe(true);
    expect(upd.cert.subject).toBe(old.cert.subject);
    expectSignedBy(upd.cert, env.caCert("mixed-issuing"));
    expect((await env.t.gw.store.getCertificate(normalizeSerial(upd.cert.serialNumber)))?.renewalOf).toBe(normalizeSerial(old.cert.serialNumber));
    // Signed answers: the responder's EC P-256 key, certified by the first issuing CA (EC here).
    const responder = new X509Certificate(Buffer.from(verifySignature(upd.answer).signerCert!));
    expect(responder.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expectSignedBy(responder, env.caCert("dev-issuing"));
    // extraCerts: the responder's certificate and chain, then the new certificate's issuing CA.
    expect(upd.answer.extraCerts.map(hex)).toEqual([responder.raw, env.caCert("dev-issuing").raw, env.caCert("dev-root").raw, env.caCert("mixed-issuing").raw].map(hex));
  });
});

describe("CMP responder when the first issuing CA is ML-DSA", () => {
  it("stays an EC P-256 key, certified with ML-DSA-65 by that CA; signed answers verify", async () => {
    const t = await testGateway({ devPki: { keyAlgorithm: "ml-dsa-65" }, externalUrl: {}, cmp: { labels: cmpLabels(["pq-dev"]), defaultLabel: "pq-dev" } }, { "pq-dev": pqProfile("pq-dev", "default") });
    const servers = await startServers(t.gw);
    try {
      const ca = t.gw.cas.issuing[0].cert;
      expect(ca.publicKey.asymmetricKeyType).toBe("ml-dsa-65");
      const first = mlDsaKeys(44);
      const old = await enroll({ servers }, "pq-dev", ir(certReqMsg(first, 44, "cmp-dev.example.com")), { kind: "mac" });
      expectSignedBy(old.cert, ca);
      const next = mlDsaKeys(44);
      const upd = await enroll({ servers }, "pq-dev", new PKIBody({ kur: new CertReqMessages([certReqMsg(next, 44)]) }), { kind: "signature", cert: old.cert, key: first.privateKey, level: 44 });
      const v = verifySignature(upd.answer);
      expect(v.ok, v.reason).toBe(true);
      expect(upd.answer.message.header.protectionAlg?.algorithm).toBe("1.2.840.10045.4.3.2"); // ecdsa-with-SHA256
      const responder = new X509Certificate(Buffer.from(v.signerCert!));
      expect(responder.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
      // Its certificate is ML-DSA-signed: a client must be able to verify ML-DSA to trust signed answers (MAC ones need not).
      expectSignedBy(responder, ca);
      expect(upd.answer.extraCerts.map((c) => Buffer.from(c).toString("hex"))).toContain(ca.raw.toString("hex"));
    } finally {
      await servers.close();
      await t.gw.close();
    }
  });
});
