import { describe, it, expect, beforeAll } from "vitest";
import { execFileSync } from "node:child_process";
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { Certificate, Extension, SubjectKeyIdentifier, id_ce_subjectKeyIdentifier } from "@peculiar/asn1-x509";
import { BasicOCSPResponse, OCSPRequest, OCSPResponse, OCSPResponseStatus, id_pkix_ocsp_basic } from "@peculiar/asn1-ocsp";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { pemToDer, type CertificateAuthority } from "../../src/ca/authority.js";
import { serialHex } from "../../src/ca/serial.js";
import type { GatewayError } from "../../src/errors.js";
import { decodeOcspGetPath, respondOcsp, type CertStatus, type OcspResponderOptions, type StatusLookup } from "../../src/revocation/ocsp.js";
import type { Signer } from "../../src/signers/signer.js";
import { SoftwareSigner } from "../../src/signers/software.js";
import { opensslStatus, tempDir } from "../helpers/openssl.js";

let dir: string;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
const serials: Record<string, string> = {};
const lookups: Array<[string, string]> = [];
const p = (f: string) => join(dir, f);
const REVOKED_AT = new Date("2024-03-04T05:06:07Z");

/** Throws (failing the suite) when openssl is missing or a step fails. */
function openssl(args: string[]): string {
  return execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] }).toString();
}

function issue(name: string, subject: string, issuer: string | undefined, ext: string[]): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p(`${name}.key`)]);
  writeFileSync(p(`${name}.ext`), `${ext.join("\n")}\n`);
  if (!issuer) {
    openssl(["req", "-x509", "-new", "-key", p(`${name}.key`), "-subj", subject, "-days", "30", "-sha256", "-out", p(`${name}.pem`),
      "-extensions", "v3", "-config", writeConfig(name, ext)]);
    return;
  }
  openssl(["req", "-new", "-key", p(`${name}.key`), "-subj", subject, "-out", p(`${name}.csr`)]);
  openssl(["x509", "-req", "-in", p(`${name}.csr`), "-CA", p(`${issuer}.pem`), "-CAkey", p(`${issuer}.key`), "-CAserial", p(`${issuer}.srl`),
    "-CAcreateserial", "-days", "30", "-sha256", "-extfile", p(`${name}.ext`), "-out", p(`${name}.pem`)]);
}

function writeConfig(name: string, ext: string[]): string {
  const path = p(`${name}.cnf`);
  writeFileSync(path, `[req]\ndistinguished_name=dn\n[dn]\n[v3]\n${ext.join("\n")}\n`);
  return path;
}

function certDer(name: string): Uint8Array {
  return pemToDer(readFileSync(p(`${name}.pem`), "utf8"));
}

function authority(name: string, caName: string, ocspName?: string): CertificateAuthority {
  const der = certDer(name);
  const asn = AsnConvert.parse(der, Certificate);
  const ski = asn.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  if (!ski) throw new Error(`${name} has no SKI`);
  const signer = (n: string) => new SoftwareSigner(`software:${n}`, createPrivateKey(readFileSync(p(`${n}.key`))), "ecdsa-sha256");
  return {
    name: caName, role: "issuing", dir, cert: new X509Certificate(der), certDer: der, chain: [], signer: signer(name),
    keyId: new Uint8Array(AsnConvert.parse(ski.extnValue, SubjectKeyIdentifier).buffer),
    subjectDer: new Uint8Array(AsnConvert.serialize(asn.tbsCertificate.subject)),
    ocsp: ocspName ? { cert: new X509Certificate(certDer(ocspName)), certDer: certDer(ocspName), signer: signer(ocspName) } : undefined,
  };
}

const statuses = new Map<string, CertStatus>();
const lookup: StatusLookup = (caName, serial) => {
  lookups.push([caName, serial]);
  return statuses.get(`${caName}/${serial}`) ?? { status: "unknown" };
};
const opts: OcspResponderOptions = { validityMinutes: 60 };

/** `openssl ocsp -reqout` with the given selection flags; returns the DER request. */
function makeRequest(file: string, args: string[]): Uint8Array {
  openssl(["ocsp", ...args, "-reqout", p(file)]);
  return new Uint8Array(readFileSync(p(file)));
}

async function respondTo(req: Uint8Array, file: string, cas = [ca]): Promise<Uint8Array> {
  const resp = await respondOcsp(req, cas, lookup, opts);
  writeFileSync(p(file), resp);
  return resp;
}

function checkResponse(args: string[]): string {
  const r = opensslStatus(["ocsp", ...args, "-CAfile", p("chain.pem")], dir);
  expect(r.out).toContain("Response verify OK");
  expect(r.code).toBe(0);
  return r.out;
}

function statusOf(resp: Uint8Array): OCSPResponseStatus {
  const parsed = AsnConvert.parse(resp, OCSPResponse);
  if (parsed.responseStatus !== OCSPResponseStatus.successful) expect(parsed.responseBytes).toBeUndefined();
  return parsed.responseStatus;
}

function basicOf(resp: Uint8Array): BasicOCSPResponse {
  const parsed = AsnConvert.parse(resp, OCSPResponse);
  expect(parsed.responseBytes?.responseType).toBe(id_pkix_ocsp_basic);
  return AsnConvert.parse(parsed.responseBytes!.response, BasicOCSPResponse);
}

/** Answers hostile input with the expected status, without throwing. */
async function expectRefusal(req: Uint8Array, status: OCSPResponseStatus, cas = [ca], o: OcspResponderOptions = opts): Promise<void> {
  const resp = await respondOcsp(req, cas, lookup, o);
  expect(Array.from(resp)).toEqual([0x30, 0x03, 0x0a, 0x01, status]);
  expect(statusOf(resp)).toBe(status);
}

beforeAll(() => {
  dir = tempDir("gw-ocsp-");
  try {
    openssl(["version"]);
  } catch (e) {
    throw new Error(`these tests need the openssl CLI (OpenSSL 3): ${(e as Error).message}`);
  }
  issue("root", "/O=OCSP Test/CN=Test Root CA", undefined,
    ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign", "subjectKeyIdentifier=hash"]);
  issue("ca", "/O=OCSP Test/CN=Test Issuing CA", "root",
    ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign,cRLSign", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]);
  issue("ocsp", "/O=OCSP Test/CN=Test OCSP Responder", "ca",
    ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=OCSPSigning", "noCheck=ignored", "subjectKeyIdentifier=hash"]);
  const leaf = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth"];
  issue("leaf1", "/CN=leaf1.example.com", "ca", leaf);
  issue("leaf2", "/CN=leaf2.example.com", "ca", leaf);
  // A CA this responder does not serve, with a leaf of its own.
  issue("other", "/O=Elsewhere/CN=Other CA", undefined, ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign", "subjectKeyIdentifier=hash"]);
  issue("stranger", "/CN=stranger.example.com", "other", leaf);
  writeFileSync(p("chain.pem"), readFileSync(p("root.pem"), "utf8") + readFileSync(p("ca.pem"), "utf8"));

  ca = authority("ca", "test-issuing", "ocsp");
  otherCa = authority("other", "other-ca");
  for (const n of ["leaf1", "leaf2"]) serials[n] = serialHex(Buffer.from(new X509Certificate(certDer(n)).serialNumber, "hex"));
  statuses.set(`test-issuing/${serials.leaf1}`, { status: "good" });
  statuses.set(`test-issuing/${serials.leaf2}`, { status: "revoked", revokedAt: REVOKED_AT, reason: 1 });
});

describe("respondOcsp answers, and openssl ocsp verifies the answers", () => {
  it("good, with the nonce echoed (openssl checks it against the request)", async () => {
    const req = makeRequest("good-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf1.pem")]);
    await respondTo(req, "good-resp.der");
    expect(lookups).toContainEqual(["test-issuing", serials.leaf1]);
    // -reqin alone: combined with -cert, openssl would build a fresh request (and nonce) instead.
    const withNonce = checkResponse(["-respin", p("good-resp.der"), "-reqin", p("good-req.der"), "-resp_text"]);
    expect(withNonce).toContain("OCSP Nonce");
    expect(withNonce).toContain("Cert Status: good");
    expect(withNonce).not.toMatch(/Nonce Verify error|WARNING: no nonce/);
    const status = checkResponse(["-respin", p("good-resp.der"), "-issuer", p("ca.pem"), "-cert", p("leaf1.pem"), "-no_nonce"]);
    expect(status).toContain(`${p("leaf1.pem")}: good`);
  });

  it("openssl notices a nonce that does not match (so the check above is real)", async () => {
    makeRequest("other-nonce-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf1.pem")]);
    const r = opensslStatus(["ocsp", "-respin", p("good-resp.der"), "-reqin", p("other-nonce-req.der"), "-CAfile", p("chain.pem")], dir);
    expect(r.out).toContain("Nonce Verify error");
  });

  it("revoked, with reason keyCompromise and the revocation time; no nonce when none was asked for", async () => {
    const req = makeRequest("revoked-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf2.pem"), "-no_nonce"]);
    await respondTo(req, "revoked-resp.der");
    const out = checkResponse(["-respin", p("revoked-resp.der"), "-issuer", p("ca.pem"), "-cert", p("leaf2.pem"), "-no_nonce", "-resp_text"]);
    expect(out).toContain(`${p("leaf2.pem")}: revoked`);
    expect(out).toContain("Reason: keyCompromise");
    expect(out).toContain("Revocation Time: Mar  4 05:06:07 2024 GMT");
    expect(out).not.toContain("OCSP Nonce");
  });

  it("unknown serial", async () => {
    const req = makeRequest("unknown-req.der", ["-issuer", p("ca.pem"), "-serial", "0x1234", "-no_nonce"]);
    await respondTo(req, "unknown-resp.der");
    expect(lookups).toContainEqual(["test-issuing", "1234"]);
    const out = checkResponse(["-respin", p("unknown-resp.der"), "-issuer", p("ca.pem"), "-serial", "0x1234", "-no_nonce"]);
    expect(out).toContain("0x1234: unknown");
  });

  it("a SHA-256 CertID is matched and echoed", async () => {
    const req = makeRequest("sha256-req.der", ["-issuer", p("ca.pem"), "-sha256", "-cert", p("leaf1.pem")]);
    await respondTo(req, "sha256-resp.der");
    const out = checkResponse(["-respin", p("sha256-resp.der"), "-reqin", p("sha256-req.der"), "-resp_text"]);
    expect(out).toContain("Hash Algorithm: sha256");
    expect(out).toContain("Cert Status: good");
    expect(out).not.toMatch(/Nonce Verify error|WARNING: no nonce/);
    const status = checkResponse(["-respin", p("sha256-resp.der"), "-issuer", p("ca.pem"), "-sha256", "-cert", p("leaf1.pem"), "-no_nonce"]);
    expect(status).toContain(`${p("leaf1.pem")}: good`);
  });

  it("several CertIDs in one request get one SingleResponse each", async () => {
    const req = makeRequest("multi-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf1.pem"), "-cert", p("leaf2.pem"), "-serial", "0x1234"]);
    await respondTo(req, "multi-resp.der");
    const out = checkResponse(["-respin", p("multi-resp.der"), "-reqin", p("multi-req.der"), "-resp_text"]);
    expect(out.match(/Cert Status: (\w+)/g)).toEqual(["Cert Status: good", "Cert Status: revoked", "Cert Status: unknown"]);
  });

  it("ResponderID is byKey (SHA-1 of the responder key), the responder cert is included, fields are well-formed", async () => {
    const now = new Date("2031-05-06T07:08:09.999Z");
    const req = makeRequest("fields-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf2.pem")]);
    const resp = await respondOcsp(req, [ca], lookup, { validityMinutes: 90, now: () => now });
    expect(statusOf(resp)).toBe(OCSPResponseStatus.successful);
    const basic = basicOf(resp);
    const tbs = basic.tbsResponseData;
    const ocspCert = AsnConvert.parse(certDer("ocsp"), Certificate);
    const keyHash = createHash("sha1").update(new Uint8Array(ocspCert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)).digest();
    expect(Buffer.from(tbs.responderID.byKey!.buffer).equals(keyHash)).toBe(true);
    expect(tbs.responderID.byName).toBeUndefined();
    expect(tbs.producedAt.toISOString()).toBe("2031-05-06T07:08:09.000Z");
    expect(tbs.responses).toHaveLength(1);
    const single = tbs.responses[0];
    expect(single.thisUpdate.toISOString()).toBe("2031-05-06T07:08:09.000Z");
    expect(single.nextUpdate?.toISOString()).toBe("2031-05-06T08:38:09.000Z");
    expect(single.certStatus.revoked?.revocationReason?.reason).toBe(1);
    expect(basic.signatureAlgorithm.algorithm).toBe("1.2.840.10045.4.3.2");
    expect(basic.certs).toHaveLength(1);
    expect(Buffer.from(AsnConvert.serialize(basic.certs![0])).equals(Buffer.from(certDer("ocsp")))).toBe(true);
    // GeneralizedTime with whole seconds and Z, never fractions.
    expect(Buffer.from(resp).includes(Buffer.from("20310506070809Z"))).toBe(true);
    expect(Buffer.from(resp).includes(Buffer.from("20310506070809."))).toBe(false);
  });

  it("singleRequestExtensions are accepted (asn1-ocsp's own Request schema rejects them)", async () => {
    const parsed = AsnConvert.parse(makeRequest("ext-base-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf1.pem"), "-no_nonce"]), OCSPRequest);
    const certId = new Uint8Array(AsnConvert.serialize(parsed.tbsRequest.requestList[0].reqCert));
    const ext = new Uint8Array(AsnConvert.serialize(new Extension({ extnID: "1.3.6.1.5.5.7.48.1.7", extnValue: new OctetString(derSequence()) })));
    const req = derSequence(derSequence(derSequence(derSequence(certId, derTlv(0xa0, derSequence(ext))))));
    await respondTo(req, "ext-resp.der");
    expect(checkResponse(["-respin", p("ext-resp.der"), "-issuer", p("ca.pem"), "-cert", p("leaf1.pem"), "-no_nonce"])).toContain(": good");
  });

  it("answers GET-style requests decoded by decodeOcspGetPath", async () => {
    const req = makeRequest("get-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf2.pem"), "-no_nonce"]);
    const b64 = Buffer.from(req).toString("base64");
    for (const path of [encodeURIComponent(b64), b64.replace(/\//g, "%2F").replace(/\+/g, "%2B").replace(/=/g, "%3D"), Buffer.from(req).toString("base64url")]) {
      const decoded = decodeOcspGetPath(path);
      expect(decoded && Buffer.from(decoded).equals(Buffer.from(req))).toBe(true);
      await respondTo(decoded!, "get-resp.der");
      expect(checkResponse(["-respin", p("get-resp.der"), "-issuer", p("ca.pem"), "-cert", p("leaf2.pem"), "-no_nonce"])).toContain(": revoked");
    }
  });
});

describe("bad requests get an error OCSPResponse, never an exception", () => {
  it("garbage bytes, empty input, a truncated request, valid DER that is not a request → malformedRequest", async () => {
    const req = makeRequest("trunc-base-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf1.pem")]);
    await expectRefusal(new TextEncoder().encode("hello, responder"), OCSPResponseStatus.malformedRequest);
    await expectRefusal(new Uint8Array(0), OCSPResponseStatus.malformedRequest);
    await expectRefusal(Uint8Array.of(0x30, 0x84, 1, 2), OCSPResponseStatus.malformedRequest);
    for (const cut of [1, 10, req.length / 2, req.length - 1]) await expectRefusal(req.subarray(0, Math.floor(cut)), OCSPResponseStatus.malformedRequest);
    await expectRefusal(certDer("leaf1"), OCSPResponseStatus.malformedRequest);
    await expectRefusal(Buffer.concat([req, Uint8Array.of(0x05, 0x00)]), OCSPResponseStatus.malformedRequest);
  });

  it("deeply nested DER, a node flood and an oversized body → malformedRequest", async () => {
    let deep: Uint8Array = Uint8Array.of(0x05, 0x00);
    for (let i = 0; i < 500; i++) deep = derSequence(deep);
    await expectRefusal(deep, OCSPResponseStatus.malformedRequest);
    await expectRefusal(derSequence(...Array.from({ length: 3000 }, () => Uint8Array.of(0x05, 0x00))), OCSPResponseStatus.malformedRequest);
    const big = makeRequest("big-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf1.pem")]);
    await expectRefusal(big, OCSPResponseStatus.malformedRequest, [ca], { ...opts, maxRequestBytes: big.length - 1 });
    await expectRefusal(derSequence(new Uint8Array(9000)), OCSPResponseStatus.malformedRequest);
  });

  it("at most 16 CertIDs per request", async () => {
    const serialArgs = (n: number) => Array.from({ length: n }, (_, i) => ["-serial", String(i + 1)]).flat();
    const ok = makeRequest("16-req.der", ["-issuer", p("ca.pem"), ...serialArgs(16)]);
    const resp = await respondOcsp(ok, [ca], lookup, opts);
    expect(basicOf(resp).tbsResponseData.responses).toHaveLength(16);
    await expectRefusal(makeRequest("17-req.der", ["-issuer", p("ca.pem"), ...serialArgs(17)]), OCSPResponseStatus.malformedRequest);
  });

  it("a nonce over 128 bytes → malformedRequest", async () => {
    const parsed = AsnConvert.parse(makeRequest("nonce-base-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf1.pem")]), OCSPRequest);
    const withNonce = (n: number) => {
      parsed.tbsRequest.requestExtensions![0].extnValue = new OctetString(derTlv(0x04, new Uint8Array(n).fill(7)));
      return new Uint8Array(AsnConvert.serialize(parsed));
    };
    expect(statusOf(await respondOcsp(withNonce(100), [ca], lookup, opts))).toBe(OCSPResponseStatus.successful);
    await expectRefusal(withNonce(200), OCSPResponseStatus.malformedRequest);
  });

  it("a CA we do not know, a CA without a delegated responder, mixed CAs, no CAs → unauthorized", async () => {
    const stranger = makeRequest("stranger-req.der", ["-issuer", p("other.pem"), "-cert", p("stranger.pem")]);
    await expectRefusal(stranger, OCSPResponseStatus.unauthorized);
    await expectRefusal(stranger, OCSPResponseStatus.unauthorized, [ca, otherCa]);
    const mine = makeRequest("mine-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf1.pem"), "-no_nonce"]);
    await expectRefusal(mine, OCSPResponseStatus.unauthorized, []);
    await expectRefusal(mine, OCSPResponseStatus.unauthorized, [{ ...ca, ocsp: undefined }]);
    const mixed = AsnConvert.parse(mine, OCSPRequest);
    mixed.tbsRequest.requestList.push(AsnConvert.parse(stranger, OCSPRequest).tbsRequest.requestList[0]);
    await expectRefusal(new Uint8Array(AsnConvert.serialize(mixed)), OCSPResponseStatus.unauthorized, [ca, otherCa]);
    // An unsupported CertID hash (SHA-224) cannot match any CA.
    const sha224 = AsnConvert.parse(mine, OCSPRequest);
    sha224.tbsRequest.requestList[0].reqCert.hashAlgorithm.algorithm = "2.16.840.1.101.3.4.2.4";
    await expectRefusal(new Uint8Array(AsnConvert.serialize(sha224)), OCSPResponseStatus.unauthorized);
  });

  it("a failing lookup or signer → internalError, reported through onError", async () => {
    const req = makeRequest("internal-req.der", ["-issuer", p("ca.pem"), "-cert", p("leaf1.pem")]);
    const errors: GatewayError[] = [];
    const onError = (e: GatewayError) => errors.push(e);
    const boom: StatusLookup = () => { throw new Error("database is gone"); };
    expect(Array.from(await respondOcsp(req, [ca], boom, { ...opts, onError }))).toEqual([0x30, 0x03, 0x0a, 0x01, 2]);
    const badSigner: Signer = { id: "bad", publicKey: ca.ocsp!.signer.publicKey, algorithm: "ecdsa-sha256", sign: async () => Buffer.from([0x30, 0x00]), ping: async () => true };
    const broken = { ...ca, ocsp: { ...ca.ocsp!, signer: badSigner } };
    expect(Array.from(await respondOcsp(req, [broken], lookup, { ...opts, onError }))).toEqual([0x30, 0x03, 0x0a, 0x01, 2]);
    expect(Array.from(await respondOcsp(req, [ca], lookup, { validityMinutes: 0, onError }))).toEqual([0x30, 0x03, 0x0a, 0x01, 2]);
    expect(errors.map((e) => e.code)).toEqual(["RA_ERR_INTERNAL", "RA_ERR_SIGNER_FAILED", "RA_ERR_INTERNAL"]);
    // A throwing onError changes nothing.
    const quiet = await respondOcsp(Uint8Array.of(1), [ca], lookup, { ...opts, onError: () => { throw new Error("logger down"); } });
    expect(Array.from(quiet)).toEqual([0x30, 0x03, 0x0a, 0x01, 1]);
  });
});

describe("decodeOcspGetPath", () => {
  const bytes = Uint8Array.of(0x30, 0xfb, 0xff, 0x3e, 0x00);
  const std = Buffer.from(bytes).toString("base64"); // "MPv/PgA=" — has "/" and "="
  it("decodes plain, URL-encoded and base64url forms", () => {
    for (const s of [std, "MPv%2FPgA%3D", "MPv%2fPgA%3d", encodeURIComponent(std), "MPv_PgA", "MPv_PgA=", `${std}?x=1`]) {
      expect(Array.from(decodeOcspGetPath(s) ?? [])).toEqual(Array.from(bytes));
    }
    expect(Array.from(decodeOcspGetPath("-_8%2B") ?? [])).toEqual([0xfb, 0xff, 0x3e]);
  });
  it("returns undefined for junk", () => {
    for (const s of ["", "%", "%E0%A4%A", "MPv/P gA=", "MPv/PgA===", "M", "MPv*PgA=", "=", "MPv/P=gA", "A".repeat(20_000)]) {
      expect(decodeOcspGetPath(s)).toBeUndefined();
    }
  });
});
