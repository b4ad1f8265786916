// Signed OCSP requests (RFC 6960 §4.1.2) at ML-DSA-87 sizes, over real HTTP: the requestor's ML-DSA-87 leaf signs
// the tbsRequest and sends its certificate and its issuing CA's (all ML-DSA-87). The signature is not checked (status
// is public), so such a request is answered like an unsigned one, as long as it fits the fixed body cap.
import { createHash, sign, verify, X509Certificate, type KeyObject } from "node:crypto";
import { join } from "node:path";
import { CertID, OCSPRequest, OCSPResponseStatus, Request, Signature, TBSRequest, id_pkix_ocsp_nonce } from "@peculiar/asn1-ocsp";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate, Extension, GeneralName, Name } from "@peculiar/asn1-x509";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ML_DSA_OIDS, ML_DSA_SIZES } from "../../src/asn1/algorithms.js";
import { caDirsUnder } from "../../src/ca/authority.js";
import { initCaPair } from "../../src/ca/init.js";
import { DEFAULT_MAX_REQUEST_BYTES } from "../../src/revocation/ocsp-request.js";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { appsFor, testGateway, type TestGateway } from "../helpers/gateway.js";
import { mlDsaCsr, pqProfile } from "../helpers/ml-dsa.js";
import { tempDir } from "../helpers/openssl.js";
import { parseResponse } from "../revocation/ocsp-helpers.js";
import { spkiOfCertificate, verifyWithNoble } from "./verify-independent.js";

const MALFORMED = [0x30, 0x03, 0x0a, 0x01, 0x01];
const SHA512 = "2.16.840.1.101.3.4.2.3";
/** An extension no one knows: the responder skips it, so it pads a request to an exact size. */
const PADDING_OID = "1.3.6.1.4.1.99999.1";

let t: TestGateway;
let servers: RunningServers;
let base: string;
let leaf: { der: Uint8Array; serial: string; key: KeyObject };
let issuingDer: Uint8Array;
let revokedSerial: string;

const pemDer = (pem: string) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ""), "base64"));

beforeAll(async () => {
  const dir = tempDir("ocsp-signed-");
  const casDir = join(dir, "cas");
  await initCaPair({
    casDir, rootName: "pq87-root", issuingName: "pq87-issuing", rootSubject: "CN=PQ87 Root", issuingSubject: "CN=PQ87 Issuing",
    keyAlgorithm: "ml-dsa-87", rootKeyAlgorithm: "ml-dsa-87", httpBase: "http://127.0.0.1:8080",
  });
  t = await testGateway({ cas: caDirsUnder(casDir).map((d) => ({ dir: d })) }, { "pq-87": pqProfile({ name: "pq-87", issuer: "pq87-issuing", keys: ["{ type: ml-dsa, levels: [87] }"] }) });
  const app = (await appsFor(t.gw)).https;
  const auth = { authorization: `Bearer ${t.token}` };
  const enroll = async (cn: string) => {
    const csr = mlDsaCsr({ level: 87, cn, dns: [cn] });
    const res = await request(app).post("/admin/api/v1/enroll").set(auth).send({ profile: "pq-87", csr: csr.pem });
    if (res.status !== 201) throw new Error(`enroll: ${res.status} ${JSON.stringify(res.body)}`);
    return { der: pemDer(res.body.certificate), serial: String(res.body.serial), key: csr.keys.privateKey };
  };
  leaf = await enroll("requestor.example.com");
  revokedSerial = (await enroll("revoked.example.com")).serial;
  const rv = await request(app).post(`/admin/api/v1/certificates/${revokedSerial}/revoke`).set(auth).send({ reason: "keyCompromise" });
  if (rv.status !== 200) throw new Error(`revoke: ${rv.status}`);
  issuingDer = t.gw.cas.get("pq87-issuing").certDer;
  servers = await startServers(t.gw);
  base = `http://127.0.0.1:${servers.httpPort}`;
}, 120_000);

afterAll(async () => {
  await servers?.close();
  await t?.gw.close();
});

/** A CertID naming pq87-issuing with `hash` (sha1 or sha512). */
function certId(serial: string, hash: "sha1" | "sha512"): CertID {
  const tbs = AsnConvert.parse(issuingDer, Certificate).tbsCertificate;
  const digest = (b: ArrayBuffer) => new OctetString(createHash(hash).update(new Uint8Array(b)).digest());
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: hash === "sha1" ? "1.3.14.3.2.26" : SHA512 }),
    issuerNameHash: digest(AsnConvert.serialize(tbs.subject)), issuerKeyHash: digest(tbs.subjectPublicKeyInfo.subjectPublicKey),
    serialNumber: new Uint8Array(Buffer.from(serial.length % 2 ? `0${serial}` : serial, "hex")).buffer,
  });
}

interface SignedOptions { serials: string[]; hash?: "sha1" | "sha512"; nonce?: Uint8Array; padding?: number }

/**
 * An OCSPRequest signed by the leaf's ML-DSA-87 key over the tbsRequest, with requestorName (the leaf's subject, as
 * RFC 6960 §4.1.2 asks of a signed request) and the leaf and its issuing CA in `certs`.
 */
function signedRequest(o: SignedOptions): Uint8Array {
  const extensions: Extension[] = [];
  if (o.nonce) extensions.push(new Extension({ extnID: id_pkix_ocsp_nonce, extnValue: new OctetString(AsnConvert.serialize(new OctetString(o.nonce))) }));
  if (o.padding !== undefined) extensions.push(new Extension({ extnID: PADDING_OID, extnValue: new OctetString(new Uint8Array(o.padding)) }));
  const tbsRequest = new TBSRequest({
    requestorName: new GeneralName({ directoryName: AsnConvert.parse(AsnConvert.serialize(AsnConvert.parse(leaf.der, Certificate).tbsCertificate.subject), Name) }),
    requestList: o.serials.map((s) => new Request({ reqCert: certId(s, o.hash ?? "sha1") })),
    ...(extensions.length ? { requestExtensions: extensions } : {}),
  });
  const tbs = new Uint8Array(AsnConvert.serialize(tbsRequest));
  const signature = new Signature({
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: ML_DSA_OIDS[87] }),
    signature: new Uint8Array(sign(null, tbs, leaf.key)).buffer,
    certs: [leaf.der, issuingDer].map((d) => AsnConvert.parse(d, Certificate)),
  });
  return new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest, optionalSignature: signature })));
}

/** The same request padded to exactly `size` bytes (the padding extension's length fixes it). */
function signedRequestOfSize(size: number): Uint8Array {
  const bare = signedRequest({ serials: [leaf.serial], padding: 0 }).length;
  // Each enclosing length grows by up to two octets once the padding is large: start below the naive size.
  for (let padding = Math.max(0, size - bare - 40); padding <= size - bare; padding++) {
    const der = signedRequest({ serials: [leaf.serial], padding });
    if (der.length === size) return der;
  }
  throw new Error(`no padding makes a request of ${size} bytes`);
}

async function post(body: Uint8Array): Promise<{ status: number; der: Uint8Array; type: string | null }> {
  const res = await fetch(`${base}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: Buffer.from(body) });
  return { status: res.status, der: new Uint8Array(await res.arrayBuffer()), type: res.headers.get("content-type") };
}

/** The response's signature checks with the delegated responder's ML-DSA-87 key, in @noble/post-quantum. */
function expectResponderSigned(der: Uint8Array): void {
  const basic = parseResponse(der).basic!;
  const responder = new Uint8Array(AsnConvert.serialize(basic.certs![0]));
  expect(basic.signatureAlgorithm.algorithm).toBe(ML_DSA_OIDS[87]);
  expect(verifyWithNoble(der, "ocsp", spkiOfCertificate(responder))).toBe(true);
  expect(verifyWithNoble(responder, "certificate", spkiOfCertificate(issuingDer))).toBe(true);
}

describe("OCSP requests signed with ML-DSA-87", () => {
  it("a signed request with its ML-DSA-87 chain (over the former 8 KiB cap) is answered: good, signed by the ML-DSA-87 responder", async () => {
    const nonce = new Uint8Array(32).fill(0x5a);
    const der = signedRequest({ serials: [leaf.serial], nonce });
    // What was built is a real signed request: the signature verifies over the tbsRequest as encoded.
    const parsed = AsnConvert.parse(der, OCSPRequest);
    const sig = parsed.optionalSignature!;
    expect(new Uint8Array(sig.signature).length).toBe(ML_DSA_SIZES[87].signature);
    expect(sig.certs).toHaveLength(2);
    expect(verify(null, new Uint8Array(AsnConvert.serialize(parsed.tbsRequest)), new X509Certificate(leaf.der).publicKey, new Uint8Array(sig.signature))).toBe(true);
    expect(der.length).toBeGreaterThan(20_000); // 4,627-byte signature, two certificates of about 7.6 KB
    expect(der.length).toBeLessThan(DEFAULT_MAX_REQUEST_BYTES);

    const res = await post(der);
    expect(res.status).toBe(200);
    expect(res.type).toContain("application/ocsp-response");
    const answer = parseResponse(res.der);
    expect(answer.status).toBe(OCSPResponseStatus.successful);
    expect(answer.certs).toEqual([{ status: "good" }]);
    expect(answer.nonceHex).toBe(`0420${"5a".repeat(32)}`);
    expectResponderSigned(res.der);
  });

  it("the largest request answered: 16 SHA-512 CertIDs, the largest nonce (128 bytes as encoded) and the ML-DSA-87 chain, each status right", async () => {
    const serials = [revokedSerial, ...Array.from({ length: 15 }, () => leaf.serial)];
    const der = signedRequest({ serials, hash: "sha512", nonce: new Uint8Array(126).fill(1) });
    expect(der.length).toBeGreaterThan(22_000);
    expect(der.length).toBeLessThan(DEFAULT_MAX_REQUEST_BYTES - 4096); // the margin the cap keeps
    const res = await post(der);
    expect(res.status).toBe(200);
    const answer = parseResponse(res.der);
    expect(answer.status).toBe(OCSPResponseStatus.successful);
    expect(answer.certs[0]).toMatchObject({ status: "revoked", reason: 1 });
    expect(answer.certs.slice(1).map((c) => c.status)).toEqual(Array(15).fill("good"));
    expectResponderSigned(res.der);
  });

  it("a signed request of exactly the cap is answered; one byte more is refused with 413 and malformedRequest", async () => {
    const atCap = signedRequestOfSize(DEFAULT_MAX_REQUEST_BYTES);
    const at = await post(atCap);
    expect(at.status).toBe(200);
    expect(parseResponse(at.der).certs).toEqual([{ status: "good" }]);

    const over = signedRequestOfSize(DEFAULT_MAX_REQUEST_BYTES + 1);
    // Still a well-formed signed request: only its size refuses it.
    expect(AsnConvert.parse(over, OCSPRequest).optionalSignature).toBeDefined();
    const res = await post(over);
    expect(res.status).toBe(413);
    expect(Array.from(res.der)).toEqual(MALFORMED);
  });

  it("too large for GET: the URL exceeds the 16 KiB request-header limit (431); the same bytes POSTed are answered", async () => {
    const der = signedRequest({ serials: [leaf.serial] });
    const get = await fetch(`${base}/ocsp/${encodeURIComponent(Buffer.from(der).toString("base64"))}`);
    expect(get.status).toBe(431);
    expect(parseResponse((await post(der)).der).certs).toEqual([{ status: "good" }]);
  });

  it("the signature is not checked: a signed request with a broken signature gets the same status answer", async () => {
    const der = signedRequest({ serials: [leaf.serial] });
    const parsed = AsnConvert.parse(der, OCSPRequest);
    const sig = new Uint8Array(parsed.optionalSignature!.signature);
    sig[100] ^= 1;
    parsed.optionalSignature!.signature = sig.buffer;
    const res = await post(new Uint8Array(AsnConvert.serialize(parsed)));
    expect(res.status).toBe(200);
    expect(parseResponse(res.der).certs).toEqual([{ status: "good" }]);
  });
});
