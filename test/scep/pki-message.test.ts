import { constants, createCipheriv, createPrivateKey, privateDecrypt, publicEncrypt, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer } from "../../src/asn1/der-values.js";
import { algId, certFacts, certIds, contentInfo, DER_NULL, derSetOf, octetString, OID, smallInteger } from "../../src/cms/der.js";
import { envelopedData } from "../../src/cms/envelope.js";
import { unwrapPkcs1v15 } from "../../src/cms/pkcs1v15.js";
import { readContentInfo, readEnvelopedData, readKeyTrans } from "../../src/cms/read.js";
import { buildCertRep } from "../../protocols/scep/cert-rep.js";
import { BAD_MESSAGE_CHECK, openPkiMessage, parseIssuerAndSerial, parseIssuerAndSubject, ScepFailure, type OpenOptions, type PkiRequest } from "../../protocols/scep/pki-message.js";
import { buildPkiMessage, openCertRep, pkcsPkiEnvelope, type PkiMessageInput } from "../helpers/scep-client.js";
import { opensslAsync, tempDir } from "../helpers/openssl.js";

let dir: string;
interface Made { cert: string; key: string; der: Uint8Array; privateKey: KeyObject }
const m: Record<string, Made> = {};
let csr: Uint8Array;
let crl: Uint8Array;

async function ok(args: string[]): Promise<string> {
  const r = await opensslAsync(args);
  expect(r.code, `openssl ${args.join(" ")}\n${r.out}`).toBe(0);
  return r.out;
}

const read = (path: string) => new Uint8Array(readFileSync(path));
const pemDer = (path: string) => new Uint8Array(new X509Certificate(readFileSync(path)).raw);

async function selfSigned(name: string, alg: string[]): Promise<Made> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  await ok(["req", "-x509", ...alg, "-nodes", "-keyout", key, "-subj", `/O=SCEP Test/CN=${name}`, "-days", "2", "-out", cert]);
  return { cert, key, der: pemDer(cert), privateKey: createPrivateKey(readFileSync(key)) };
}

beforeAll(async () => {
  dir = tempDir("scep-msg-");
  const rsa = ["-newkey", "rsa:2048"];
  const [ra, otherRa, client, ecClient] = await Promise.all([
    selfSigned("ra", rsa), selfSigned("other-ra", rsa), selfSigned("client", rsa), selfSigned("ec-client", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
  ]);
  Object.assign(m, { ra, otherRa, client, ecClient });
  await ok(["req", "-new", "-key", client.key, "-subj", "/CN=device.example.com", "-outform", "DER", "-out", join(dir, "client.csr")]);
  csr = read(join(dir, "client.csr"));
  await ok(["x509", "-req", "-inform", "DER", "-in", join(dir, "client.csr"), "-CA", ra.cert, "-CAkey", ra.key, "-set_serial", "0x1234", "-days", "1", "-out", join(dir, "issued.pem")]);
  m.issued = { cert: join(dir, "issued.pem"), key: client.key, der: pemDer(join(dir, "issued.pem")), privateKey: client.privateKey };
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "crlnumber"), "01\n");
  writeFileSync(join(dir, "ca.cnf"), `[ca]\ndefault_ca=c\n[c]\ndatabase=${join(dir, "index.txt")}\ncrlnumber=${join(dir, "crlnumber")}\ndefault_md=sha256\ndefault_crl_days=1\n`);
  await ok(["ca", "-gencrl", "-config", join(dir, "ca.cnf"), "-cert", ra.cert, "-keyfile", ra.key, "-out", join(dir, "crl.pem")]);
  await ok(["crl", "-in", join(dir, "crl.pem"), "-outform", "DER", "-out", join(dir, "crl.der")]);
  crl = read(join(dir, "crl.der"));
});

let decryptCalls = 0;
const options = (o: Partial<OpenOptions> = {}): OpenOptions => ({
  raCerts: [m.ra.der],
  rawRsaDecrypt: async (i, block) => {
    decryptCalls++;
    const key = [m.ra, m.otherRa].find((x) => Buffer.from(x.der).equals(Buffer.from((o.raCerts ?? [m.ra.der])[i])))!.privateKey;
    return privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, block);
  },
  allowLegacy: false,
  ...o,
});

const request = (o: Partial<PkiMessageInput> = {}): PkiMessageInput => ({
  messageType: 19, transactionId: "4A0C2FD1E3B5", senderNonce: new Uint8Array(randomBytes(16)), content: csr,
  signerCert: m.client.der, signerKey: m.client.privateKey, recipientCert: m.ra.der, digest: "sha256", contentEncryption: "aes-256-cbc", ...o,
});

const raSign = async (data: Uint8Array, hash: string) => new Uint8Array(sign(hash, data, m.ra.privateKey));

async function failure(der: Uint8Array, o?: Partial<OpenOptions>): Promise<ScepFailure> {
  const e = await openPkiMessage(der, options(o)).then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ScepFailure);
  return e as ScepFailure;
}

describe("openPkiMessage → buildCertRep → openCertRep", () => {
  it("PKCSReq round trip with RSA-2048 signer and recipient", async () => {
    const input = request();
    const req: PkiRequest = await openPkiMessage(buildPkiMessage(input), options());
    expect(req).toMatchObject({ messageType: 19, transactionId: input.transactionId, digest: "sha256", contentEncryption: "aes-256-cbc" });
    expect(Buffer.from(req.senderNonce).equals(Buffer.from(input.senderNonce))).toBe(true);
    expect(Buffer.from(req.signerCert).equals(Buffer.from(m.client.der))).toBe(true);
    expect(Buffer.from(req.content).equals(Buffer.from(csr))).toBe(true);

    const rep = await buildCertRep({
      status: "SUCCESS", transactionId: req.transactionId, recipientNonce: req.senderNonce, digest: req.digest, contentEncryption: req.contentEncryption,
      recipientCert: req.signerCert, certs: [m.issued.der, m.ra.der], raCert: m.ra.der, raSign,
    });
    const read = openCertRep(rep, { recipientKey: m.client.privateKey, raCert: m.ra.der });
    expect(read).toMatchObject({ status: "SUCCESS", transactionId: input.transactionId, digest: "sha256", contentEncryption: "aes-256-cbc" });
    expect(Buffer.from(read.recipientNonce).equals(Buffer.from(input.senderNonce))).toBe(true);
    expect(Buffer.from(read.senderNonce).equals(Buffer.from(input.senderNonce))).toBe(false);
    expect(read.certs.map((c) => Buffer.from(c).toString("hex"))).toEqual([m.issued.der, m.ra.der].map((c) => Buffer.from(c).toString("hex")));
  });

  it("SHA-512 with AES-128, an ECDSA signer, and the second of two RA certificates", async () => {
    const a = await openPkiMessage(buildPkiMessage(request({ digest: "sha512", contentEncryption: "aes-128-cbc" })), options());
    expect(a).toMatchObject({ digest: "sha512", contentEncryption: "aes-128-cbc" });
    const ec = await openPkiMessage(buildPkiMessage(request({ signerCert: m.ecClient.der, signerKey: m.ecClient.privateKey })), options());
    expect(Buffer.from(ec.signerCert).equals(Buffer.from(m.ecClient.der))).toBe(true);
    const two = await openPkiMessage(buildPkiMessage(request({ recipientCert: m.ra.der })), options({ raCerts: [m.otherRa.der, m.ra.der] }));
    expect(Buffer.from(two.content).equals(Buffer.from(csr))).toBe(true);
  });

  it("FAILURE and PENDING carry no envelope; GetCRL SUCCESS carries the CRL", async () => {
    const nonce = new Uint8Array(randomBytes(16));
    const base = { transactionId: "T-1", recipientNonce: nonce, digest: "sha256" as const, raCert: m.ra.der, raSign };
    const f = openCertRep(await buildCertRep({ ...base, status: "FAILURE", failInfo: "badCertId" }), { recipientKey: m.client.privateKey, raCert: m.ra.der });
    expect(f).toMatchObject({ status: "FAILURE", failInfo: "badCertId", transactionId: "T-1", certs: [] });
    const p = openCertRep(await buildCertRep({ ...base, status: "PENDING" }), { recipientKey: m.client.privateKey, raCert: m.ra.der });
    expect(p).toMatchObject({ status: "PENDING", certs: [] });
    expect(p.failInfo).toBeUndefined();
    const c = openCertRep(await buildCertRep({ ...base, status: "SUCCESS", recipientCert: m.client.der, crl }), { recipientKey: m.client.privateKey, raCert: m.ra.der });
    expect(Buffer.from(c.crl!).equals(Buffer.from(crl))).toBe(true);
    expect(c.certs).toEqual([]);
    await expect(buildCertRep({ ...base, status: "FAILURE" })).rejects.toThrow(/failInfo/);
    await expect(buildCertRep({ ...base, status: "SUCCESS", certs: [m.issued.der] })).rejects.toThrow(/certificate to encrypt to/);
  });
});

describe("OpenSSL interop", () => {
  it("OpenSSL verifies our request and decrypts its pkcsPKIEnvelope to the CSR", async () => {
    const f = (n: string) => join(dir, n);
    writeFileSync(f("req.der"), buildPkiMessage(request()));
    expect(await ok(["cms", "-verify", "-inform", "DER", "-in", f("req.der"), "-CAfile", m.client.cert, "-purpose", "any", "-binary", "-out", f("req-env.der")])).toContain("Verification successful");
    await ok(["cms", "-decrypt", "-inform", "DER", "-in", f("req-env.der"), "-recip", m.ra.cert, "-inkey", m.ra.key, "-binary", "-out", f("req-csr.der")]);
    expect(Buffer.from(read(f("req-csr.der"))).equals(Buffer.from(csr))).toBe(true);
    const printed = await ok(["cms", "-cmsout", "-print", "-inform", "DER", "-in", f("req.der")]);
    for (const a of ["2.16.840.1.113733.1.9.2", "2.16.840.1.113733.1.9.7", "2.16.840.1.113733.1.9.5"]) expect(printed).toContain(a);
  });

  it("envelopes made by openssl cms -encrypt (AES-256, AES-128, 3DES with legacy, recipient by SKI) open", async () => {
    const cases: Array<[string[], boolean, string]> = [[["-aes256"], false, "aes-256-cbc"], [["-aes128"], false, "aes-128-cbc"], [["-des3"], true, "des-ede3-cbc"], [["-aes256", "-keyid"], false, "aes-256-cbc"]];
    for (const [flags, allowLegacy, cipher] of cases) {
      const out = join(dir, `ossl-env-${flags.join("")}.der`);
      await ok(["cms", "-encrypt", "-binary", ...flags, "-in", join(dir, "client.csr"), "-outform", "DER", "-out", out, m.ra.cert]);
      const req = await openPkiMessage(buildPkiMessage(request({ envelope: read(out) })), options({ allowLegacy }));
      expect(req.contentEncryption).toBe(cipher);
      expect(Buffer.from(req.content).equals(Buffer.from(csr))).toBe(true);
    }
  });

  it("a SignedData signed by openssl cms -sign verifies (issuer+serial and SKI signers); it then lacks the SCEP attributes", async () => {
    const env = join(dir, "plain-env.der");
    writeFileSync(env, pkcsPkiEnvelope(csr, m.ra.der, "aes-256-cbc"));
    for (const keyid of [[], ["-keyid"]]) {
      const out = join(dir, `ossl-signed${keyid.join("")}.der`);
      await ok(["cms", "-sign", "-binary", "-nodetach", "-md", "sha256", ...keyid, "-in", env, "-signer", m.client.cert, "-inkey", m.client.key, "-outform", "DER", "-out", out]);
      const e = await failure(read(out));
      expect(e.failInfo).toBe("badRequest");
      expect(e.message).toMatch(/messageType/);
      expect(Buffer.from(e.partial!.signerCert!).equals(Buffer.from(m.client.der))).toBe(true);
      expect(e.partial!.digest).toBe("sha256");
      const tampered = read(out);
      tampered[tampered.length - 1] ^= 1; // the signature's last octet
      expect(await failure(tampered)).toMatchObject({ failInfo: "badMessageCheck", message: BAD_MESSAGE_CHECK });
    }
  });

  it("OpenSSL verifies our CertRep, decrypts its envelope and reads the certificates; FAILURE verifies over empty content", async () => {
    const f = (n: string) => join(dir, n);
    const nonce = new Uint8Array(randomBytes(16));
    writeFileSync(f("rep.der"), await buildCertRep({
      status: "SUCCESS", transactionId: "T-2", recipientNonce: nonce, digest: "sha256", recipientCert: m.client.der, certs: [m.issued.der, m.ra.der], raCert: m.ra.der, raSign,
    }));
    expect(await ok(["cms", "-verify", "-inform", "DER", "-in", f("rep.der"), "-noverify", "-binary", "-out", f("rep-env.der")])).toContain("Verification successful");
    await ok(["cms", "-decrypt", "-inform", "DER", "-in", f("rep-env.der"), "-recip", m.client.cert, "-inkey", m.client.key, "-binary", "-out", f("rep-degenerate.der")]);
    const certs = await ok(["pkcs7", "-inform", "DER", "-in", f("rep-degenerate.der"), "-print_certs", "-noout"]);
    expect([...certs.matchAll(/^subject=(.*)$/gm)].map((x) => x[1])).toEqual(["CN = device.example.com", "O = SCEP Test, CN = ra"]);
    const printed = await ok(["cms", "-cmsout", "-print", "-inform", "DER", "-in", f("rep.der")]);
    for (const a of ["2.16.840.1.113733.1.9.2", "2.16.840.1.113733.1.9.3", "2.16.840.1.113733.1.9.6", "signingTime"]) expect(printed).toContain(a);

    writeFileSync(f("fail.der"), await buildCertRep({ status: "FAILURE", failInfo: "badRequest", transactionId: "T-3", recipientNonce: nonce, digest: "sha256", raCert: m.ra.der, raSign }));
    expect(await ok(["cms", "-verify", "-inform", "DER", "-in", f("fail.der"), "-noverify", "-content", "/dev/null", "-out", "/dev/null"])).toContain("Verification successful");
    writeFileSync(f("crl-rep.der"), await buildCertRep({ status: "SUCCESS", transactionId: "T-4", recipientNonce: nonce, digest: "sha256", recipientCert: m.client.der, crl, raCert: m.ra.der, raSign }));
    await ok(["cms", "-verify", "-inform", "DER", "-in", f("crl-rep.der"), "-noverify", "-binary", "-out", f("crl-env.der")]);
    await ok(["cms", "-decrypt", "-inform", "DER", "-in", f("crl-env.der"), "-recip", m.client.cert, "-inkey", m.client.key, "-binary", "-out", f("crl-degenerate.der")]);
    expect(await ok(["pkcs7", "-inform", "DER", "-in", f("crl-degenerate.der"), "-print_certs", "-noout"])).toMatch(/Certificate Revocation List/);
  });
});

describe("BER tolerated where deployed clients need it", () => {
  it("encryptedContent in the constructed [0] form of Go's pkcs7 (micromdm scepclient), in two segments", async () => {
    const cek = randomBytes(32);
    const iv = randomBytes(16);
    const c = createCipheriv("aes-256-cbc", cek, iv);
    const encrypted = Buffer.concat([c.update(csr), c.final()]);
    const ktri = derSequence(smallInteger(0), certIds(m.ra.der).issuerAndSerial, algId(OID.rsaEncryption, DER_NULL),
      octetString(publicEncrypt({ key: new X509Certificate(m.ra.der).publicKey, padding: constants.RSA_PKCS1_PADDING }, cek)));
    const eci = derSequence(oidDer(OID.data), algId(OID.aes256Cbc, octetString(iv)), derTlv(0xa0, octetString(encrypted.subarray(0, 100)), octetString(encrypted.subarray(100))));
    const envelope = contentInfo(OID.envelopedData, derSequence(smallInteger(0), derSetOf([ktri]), eci));
    const req = await openPkiMessage(buildPkiMessage(request({ envelope })), options());
    expect(Buffer.from(req.content).equals(Buffer.from(csr))).toBe(true);
  });
});

describe("algorithm policy (badAlg)", () => {
  it("single DES (without its own opt-in) and RC2 are refused unread, even with legacy; SHA-1 and 3DES only with legacy; MD5 never; OAEP key transport is refused", async () => {
    for (const c of ["des-cbc", "rc2-cbc"]) {
      const before = decryptCalls;
      const e = await failure(buildPkiMessage(request({ contentEncryption: c })), { allowLegacy: true });
      expect(e.failInfo).toBe("badAlg");
      expect(e.code).toBe("RA_ERR_ALGORITHM_NOT_ALLOWED");
      expect(decryptCalls).toBe(before); // the RA key was never used
    }
    expect((await failure(buildPkiMessage(request({ contentEncryption: "des-cbc" })), { allowLegacy: true })).message).toMatch(/single DES/);
    expect((await failure(buildPkiMessage(request({ digest: "sha1" })))).failInfo).toBe("badAlg");
    expect((await openPkiMessage(buildPkiMessage(request({ digest: "sha1" })), options({ allowLegacy: true }))).digest).toBe("sha1");
    expect((await failure(buildPkiMessage(request({ contentEncryption: "des-ede3-cbc" })))).failInfo).toBe("badAlg");
    expect((await openPkiMessage(buildPkiMessage(request({ contentEncryption: "des-ede3-cbc" })), options({ allowLegacy: true }))).contentEncryption).toBe("des-ede3-cbc");
    expect(await failure(buildPkiMessage(request({ digest: "md5" })), { allowLegacy: true })).toMatchObject({ failInfo: "badAlg", message: expect.stringMatching(/MD5/) });
    const oaep = envelopedData({ content: csr, contentType: OID.data, recipient: certFacts(m.ra.der, "the RA certificate") });
    expect(await failure(buildPkiMessage(request({ envelope: oaep })))).toMatchObject({ failInfo: "badAlg", message: expect.stringMatching(/OAEP/) });
  });
});

describe("single DES where an endpoint opts in (allowSingleDes)", () => {
  const desEnvelope = async (name: string) => {
    const out = join(dir, `${name}.der`);
    await ok(["cms", "-encrypt", "-binary", "-des", "-provider", "legacy", "-provider", "default", "-in", join(dir, "client.csr"), "-outform", "DER", "-out", out, m.ra.cert]);
    return read(out);
  };

  it("an envelope made by openssl cms -encrypt -des opens only with allowSingleDes; its partial names the cipher when refused", async () => {
    const msg = buildPkiMessage(request({ envelope: await desEnvelope("ossl-des"), digest: "sha1" }));
    const refused = await failure(msg, { allowLegacy: true });
    expect(refused).toMatchObject({ failInfo: "badAlg", partial: { contentEncryption: "des-cbc", digest: "sha1" } });
    const req = await openPkiMessage(msg, options({ allowLegacy: true, allowSingleDes: true }));
    expect(req).toMatchObject({ digest: "sha1", contentEncryption: "des-cbc" });
    expect(Buffer.from(req.content).equals(Buffer.from(csr))).toBe(true);
    // The opt-in is for DES only: SHA-1 still needs allowLegacy.
    expect((await failure(msg, { allowSingleDes: true })).failInfo).toBe("badAlg");
  });

  it("a wrong DES key is the same badMessageCheck as any other", async () => {
    const env = Uint8Array.from(await desEnvelope("ossl-des-tampered"));
    const ktri = readKeyTrans(env, readEnvelopedData(env, readContentInfo(env).content).recipientInfos[0]);
    env.set(publicEncrypt({ key: new X509Certificate(m.ra.der).publicKey, padding: constants.RSA_PKCS1_PADDING }, randomBytes(8)), Buffer.from(env).indexOf(Buffer.from(ktri.encryptedKey)));
    const e = await failure(buildPkiMessage(request({ envelope: env })), { allowLegacy: true, allowSingleDes: true });
    expect({ failInfo: e.failInfo, message: e.message }).toEqual({ failInfo: "badMessageCheck", message: BAD_MESSAGE_CHECK });
  });

  it("the CertRep to a DES request is DES with the request's SHA-1; OpenSSL (legacy provider) verifies and decrypts it", async () => {
    const req = await openPkiMessage(buildPkiMessage(request({ envelope: await desEnvelope("ossl-des-2"), digest: "sha1" })), options({ allowLegacy: true, allowSingleDes: true }));
    const rep = await buildCertRep({
      status: "SUCCESS", transactionId: req.transactionId, recipientNonce: req.senderNonce, digest: req.digest, contentEncryption: req.contentEncryption,
      recipientCert: req.signerCert, certs: [m.issued.der], raCert: m.ra.der, raSign,
    });
    expect(() => openCertRep(rep, { recipientKey: m.client.privateKey, raCert: m.ra.der })).toThrow(/content cipher/);
    const read1 = openCertRep(rep, { recipientKey: m.client.privateKey, raCert: m.ra.der, singleDes: true });
    expect(read1).toMatchObject({ status: "SUCCESS", digest: "sha1", contentEncryption: "des-cbc" });
    expect(Buffer.from(read1.certs[0]).equals(Buffer.from(m.issued.der))).toBe(true);

    const f = (n: string) => join(dir, n);
    writeFileSync(f("des-rep.der"), rep);
    expect(await ok(["cms", "-verify", "-inform", "DER", "-in", f("des-rep.der"), "-noverify", "-binary", "-out", f("des-rep-env.der")])).toContain("Verification successful");
    expect(await ok(["cms", "-cmsout", "-print", "-inform", "DER", "-in", f("des-rep.der")])).toMatch(/digestAlgorithm:\s+algorithm: sha1/);
    expect(await ok(["cms", "-cmsout", "-print", "-inform", "DER", "-in", f("des-rep-env.der")])).toMatch(/contentEncryptionAlgorithm:\s+algorithm: des-cbc/);
    await ok(["cms", "-decrypt", "-provider", "legacy", "-provider", "default", "-inform", "DER", "-in", f("des-rep-env.der"), "-recip", m.client.cert, "-inkey", m.client.key, "-binary", "-out", f("des-rep-degenerate.der")]);
    expect(await ok(["pkcs7", "-inform", "DER", "-in", f("des-rep-degenerate.der"), "-print_certs", "-noout"])).toMatch(/subject=CN = device\.example\.com/);
  });
});

describe("no oracle: every verification or decryption failure is the same badMessageCheck", () => {
  it("tampered signature, tampered eContent, wrong RA, corrupted encrypted keys", async () => {
    const envelope = pkcsPkiEnvelope(csr, m.ra.der, "aes-256-cbc");
    const input = request({ envelope });
    const good = buildPkiMessage(input);
    const badSig = Uint8Array.from(good);
    badSig[badSig.length - 1] ^= 0x01;
    const badContent = Uint8Array.from(good);
    badContent[Buffer.from(good).indexOf(Buffer.from(envelope)) + envelope.length - 20] ^= 0x01; // in the signed envelope's ciphertext
    const wrongRa = buildPkiMessage(request({ recipientCert: m.otherRa.der }));

    // Envelopes whose encrypted key is wrong, each signed properly so only the key transport is at fault.
    const withKey = (encryptedKey: (k: Buffer) => Uint8Array) => {
      const env = Uint8Array.from(pkcsPkiEnvelope(csr, m.ra.der, "aes-256-cbc"));
      const ktri = readKeyTrans(env, readEnvelopedData(env, readContentInfo(env).content).recipientInfos[0]);
      const at = Buffer.from(env).indexOf(Buffer.from(ktri.encryptedKey));
      env.set(encryptedKey(Buffer.from(ktri.encryptedKey)), at);
      return buildPkiMessage(request({ envelope: env }));
    };
    const raKey = new X509Certificate(m.ra.der).publicKey;
    const flipped = withKey((k) => { const c = Buffer.from(k); c[100] ^= 0x55; return c; }); // padding garbage
    const shortKey = withKey(() => publicEncrypt({ key: raKey, padding: constants.RSA_PKCS1_PADDING }, randomBytes(16))); // valid padding, AES-128 key
    const tooLarge = withKey((k) => Buffer.alloc(k.length, 0xff)); // ≥ the modulus

    const before = decryptCalls;
    const failures = await Promise.all([badSig, badContent, wrongRa, flipped, shortKey, tooLarge].map((d) => failure(d)));
    for (const e of failures) {
      expect({ failInfo: e.failInfo, message: e.message }).toEqual({ failInfo: "badMessageCheck", message: BAD_MESSAGE_CHECK });
      expect(e.partial?.transactionId).toBe(input.transactionId);
      expect(e.partial?.senderNonce?.length).toBe(16);
    }
    expect(decryptCalls - before).toBe(2); // flipped and shortKey reached the RSA operation; a ciphertext ≥ n never does
  });

  it("implicit rejection: a bad padding gives a stable pseudo-random key of the expected length", async () => {
    const pub = new X509Certificate(m.ra.der).publicKey;
    const raw = async (block: Uint8Array) => privateDecrypt({ key: m.ra.privateKey, padding: constants.RSA_NO_PADDING }, block);
    const cek = randomBytes(32);
    const good = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, cek);
    expect(Buffer.from(await unwrapPkcs1v15({ encryptedKey: good, publicKey: pub, keyLength: 32, rawDecrypt: raw })).equals(cek)).toBe(true);
    const wrongLength = await unwrapPkcs1v15({ encryptedKey: good, publicKey: pub, keyLength: 16, rawDecrypt: raw });
    expect(wrongLength.length).toBe(16);
    expect(Buffer.from(cek).includes(Buffer.from(wrongLength))).toBe(false);
    const garbage = randomBytes(256);
    garbage[0] = 0;
    const k1 = await unwrapPkcs1v15({ encryptedKey: garbage, publicKey: pub, keyLength: 24, rawDecrypt: raw });
    const k2 = await unwrapPkcs1v15({ encryptedKey: garbage, publicKey: pub, keyLength: 24, rawDecrypt: raw });
    expect(k1.length).toBe(24);
    expect(Buffer.from(k1).equals(Buffer.from(k2))).toBe(true);
  });
});

describe("malformed input (badRequest)", () => {
  it("garbage, truncation, deep nesting, oversize, trailing data", async () => {
    const good = buildPkiMessage(request());
    const indefinite = new Uint8Array(20_000);
    for (let i = 0; i < indefinite.length; i += 2) [indefinite[i], indefinite[i + 1]] = [0x30, 0x80];
    let deep: Uint8Array = Uint8Array.of(0x05, 0x00);
    for (let i = 0; i < 200; i++) deep = derSequence(deep);
    const inputs: Uint8Array[] = [
      new Uint8Array(0), new Uint8Array(randomBytes(4096)), good.subarray(0, good.length >> 1), good.subarray(0, good.length - 1),
      indefinite, deep, Uint8Array.of(0x30, 0x84, 0x7f, 0xff, 0xff, 0xff), new Uint8Array(300 * 1024).fill(0x30), Buffer.concat([good, Uint8Array.of(0)]),
      derSequence(Uint8Array.of(0x06, 0x01, 0x2a)),
    ];
    for (const d of inputs) {
      const e = await failure(d);
      expect(e.failInfo).toBe("badRequest");
    }
  });
});

describe("inner messageData helpers", () => {
  it("IssuerAndSerialNumber and IssuerAndSubject", () => {
    const cert = new X509Certificate(m.issued.der);
    const ias = parseIssuerAndSerial(certIds(m.issued.der).issuerAndSerial);
    expect(ias.serialHex).toBe("1234");
    const raName = certIds(m.ra.der).issuerAndSerial; // self-signed: its issuer is its subject
    const issuerName = parseIssuerAndSerial(raName).issuer;
    expect(Buffer.from(ias.issuer).equals(Buffer.from(issuerName))).toBe(true);
    expect(cert.issuer).toContain("CN=ra");
    const subjectName = parseIssuerAndSerial(certIds(m.client.der).issuerAndSerial).issuer;
    const both = parseIssuerAndSubject(derSequence(issuerName, subjectName));
    expect(Buffer.from(both.subject).equals(Buffer.from(subjectName))).toBe(true);
    for (const bad of [Uint8Array.of(0x30, 0x00), Uint8Array.of(0x04, 0x01, 0x00), derSequence(issuerName)]) {
      expect(() => parseIssuerAndSerial(bad)).toThrow(ScepFailure);
      expect(() => parseIssuerAndSubject(bad)).toThrow(/malformed/);
    }
  });
});
