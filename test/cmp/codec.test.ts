import { normalizeSerial } from "../../src/ca/serial.js";
import { constants, randomBytes, sign, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate, Extension, Extensions, Name, SubjectAlternativeName, id_ce_subjectAltName } from "@peculiar/asn1-x509";
import { algorithmIdentifier } from "../../src/asn1/algorithms.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { decodeDer } from "../../protocols/cmp/asn1/der-codec.js";
import { encodeDer } from "../../protocols/cmp/asn1/der-encoder.js";
import { PKIBody, PKIHeader } from "../../protocols/cmp/asn1/message.js";
import { CmpDecodeError, decodePkiMessage, encodePkiMessage } from "../../protocols/cmp/codec.js";
import { CMP_OID } from "../../protocols/cmp/oids.js";
import { macAlgorithmOf, verifySignature } from "../../protocols/cmp/protection.js";
import { certRequests, genmInfos, p10Request, revDetails } from "../../protocols/cmp/requests.js";
import { commonNameOf, templateRequest } from "../../protocols/cmp/template.js";
import { cmp, CmpStub, makePki, ok, type CmpPki, type Party } from "./codec-helpers.js";

/*
 * Requests as `openssl cmp` 3.0 sends them, captured by an in-test HTTP server that answers 500, then
 * decoded and read. Protection (MAC) has its own file; signatures are checked here with the captures.
 */

let pki: CmpPki;
let stub: CmpStub;
const cap: Record<string, Uint8Array> = {};
const SECRET = "cmp-Codec-secret-1";
const recipient = ["-recipient", "/O=CMP Test/CN=CMP Test CA"];
const mac = ["-ref", "client1", "-secret", `pass:${SECRET}`, ...recipient];
const subject = ["-subject", "/CN=device.example.com"];

async function capture(name: string, args: string[]): Promise<void> {
  stub.reset();
  const r = await cmp(stub, args);
  if (stub.requests.length !== 1) throw new Error(`${name}: no request captured\n${r.out}`);
  cap[name] = stub.requests[0];
}

beforeAll(async () => {
  pki = await makePki();
  stub = await CmpStub.start();
  await ok(["req", "-new", "-key", pki.newKey, "-subj", "/CN=device.example.com", "-outform", "DER", "-out", join(pki.dir, "p10.csr")]);
  const newKey = ["-newkey", pki.newKey, "-certout", join(pki.dir, "never.pem")];
  // Sequential: one capture server, one request at a time.
  await capture("ir", ["-cmd", "ir", ...mac, ...newKey, ...subject]);
  await capture("cr", ["-cmd", "cr", ...mac, "-mac", "hmacWithSHA256", ...newKey, ...subject, "-days", "10", "-sans", "a.example.com 10.1.2.3", "-implicit_confirm"]);
  await capture("raVerified", ["-cmd", "cr", ...mac, ...newKey, ...subject, "-popo", "0"]);
  await capture("noPop", ["-cmd", "cr", ...mac, ...newKey, ...subject, "-popo", "-1"]);
  await capture("p10cr", ["-cmd", "p10cr", ...mac, "-csr", join(pki.dir, "p10.csr"), "-certout", join(pki.dir, "never.pem")]);
  await capture("kur", ["-cmd", "kur", "-cert", pki.client.cert, "-key", pki.client.key, ...recipient, ...newKey]);
  await capture("rsa", ["-cmd", "ir", "-cert", pki.rsaClient.cert, "-key", pki.rsaClient.key, ...recipient, ...newKey, ...subject]);
  await capture("rr", ["-cmd", "rr", ...mac, "-oldcert", pki.issued.cert, "-revreason", "1"]);
  await capture("genm", ["-cmd", "genm", ...mac, "-infotype", "signKeyPairTypes"]);
});
afterAll(async () => {
  await stub?.close();
});

const nameDer = (der: Uint8Array, which: "subject" | "issuer") => new Uint8Array(AsnConvert.serialize(AsnConvert.parse(der, Certificate).tbsCertificate[which]));
const flipped = (der: Uint8Array, at: number) => {
  const c = Uint8Array.from(der);
  c[at] ^= 0x01;
  return c;
};
const lastIndexOf = (der: Uint8Array, text: string) => Buffer.from(der).lastIndexOf(Buffer.from(text, "latin1"));

describe("decodePkiMessage on openssl cmp requests", () => {
  it("decodes every capture, with the ProtectedPart built from the received header and body", () => {
    const types: Record<string, string> = { ir: "ir", cr: "cr", raVerified: "cr", noPop: "cr", p10cr: "p10cr", kur: "kur", rsa: "ir", rr: "rr", genm: "genm" };
    for (const [name, der] of Object.entries(cap)) {
      const d = decodePkiMessage(der);
      expect(d.bodyType, name).toBe(types[name]);
      const h = d.message.header;
      expect(h.pvno, name).toBe(2); // OpenSSL 3.0 always sends cmp2000
      expect(h.transactionID?.byteLength, name).toBe(16);
      expect(h.senderNonce?.byteLength, name).toBe(16);
      expect(h.sender.directoryName, name).toBeDefined();
      expect(Math.abs(d.messageTime!.getTime() - Date.now()), name).toBeLessThan(60_000);
      // SEQUENCE { header, body } around the exact received bytes (they are contiguous after the outer header).
      const at = Buffer.from(der).indexOf(Buffer.from(d.header));
      expect(Buffer.from(d.protectedPart).equals(derSequence(der.subarray(at, at + d.header.length + d.body.length))), name).toBe(true);
      expect(d.protection?.length, name).toBeGreaterThan(0);
    }
  });

  it("re-encodes header and body to the received bytes, and agrees with @peculiar/asn1-schema", () => {
    for (const [name, der] of Object.entries(cap)) {
      const d = decodePkiMessage(der);
      expect(Buffer.from(encodeDer(d.message.header)).equals(d.header), name).toBe(true);
      expect(Buffer.from(encodeDer(d.message.body)).equals(d.body), name).toBe(true);
      expect(Buffer.from(AsnConvert.serialize(d.message.header)).equals(d.header), name).toBe(true);
      expect(Buffer.from(AsnConvert.serialize(d.message.body)).equals(d.body), name).toBe(true);
      expect(Buffer.from(encodeDer(AsnConvert.parse(d.body, PKIBody))).equals(d.body), name).toBe(true);
      expect(Buffer.from(encodePkiMessage(d.header, d.body, d.protection, d.extraCerts)).equals(der), name).toBe(true);
    }
  });

  it("reads the protection kind openssl uses: PBM for -secret, the key's signature for -cert", () => {
    expect(["ir", "cr", "p10cr", "rr", "genm"].map((n) => macAlgorithmOf(decodePkiMessage(cap[n]).message.header))).toEqual(["pbm", "pbm", "pbm", "pbm", "pbm"]);
    expect(["kur", "rsa"].map((n) => decodePkiMessage(cap[n]).message.header.protectionAlg?.algorithm)).toEqual(["1.2.840.10045.4.3.2", "1.2.840.113549.1.1.11"]);
  });

  it("verifies signature protection (ECDSA, RSA PKCS#1, and re-signed: RSA-PSS, Ed25519) and names the signer certificate", () => {
    // openssl cmp 3.0 cannot protect with Ed25519 ("unsupported key type"): re-sign its kur ourselves.
    cap.ed = resign(cap.kur, pki.edClient, "1.3.101.112");
    cap.pss = resign(cap.kur, pki.rsaClient, "1.2.840.113549.1.1.10");
    for (const [name, party] of [["kur", pki.client], ["rsa", pki.rsaClient], ["ed", pki.edClient], ["pss", pki.rsaClient]] as const) {
      const d = decodePkiMessage(cap[name]);
      const v = verifySignature(d);
      expect(v, name).toMatchObject({ ok: true });
      expect(v.signerCert, name).toEqual(party.der);
      expect(d.extraCerts[0], name).toEqual(party.der);
      const at = Buffer.from(cap[name]).indexOf(Buffer.from(d.protection!));
      expect(at, name).toBeGreaterThan(0);
      const bad = decodePkiMessage(flipped(cap[name], at + 5));
      expect(verifySignature(bad).ok, name).toBe(false);
    }
    expect(verifySignature(decodePkiMessage(cap.ir))).toMatchObject({ ok: false, reason: "protection is a MAC, not a signature" });
  });
});

/** The same message with protectionAlg `oid`, signed by `party`, extraCerts [party]. */
function resign(der: Uint8Array, party: Party, oid: string): Uint8Array {
  const d = decodePkiMessage(der);
  const pss = oid === "1.2.840.113549.1.1.10";
  const header = new PKIHeader({ ...d.message.header, protectionAlg: pss ? algorithmIdentifier("rsa-pss-sha256") : new AlgorithmIdentifier({ algorithm: oid }) });
  const h = encodeDer(header);
  const pp = derSequence(h, d.body);
  const sig = pss
    ? sign("sha256", pp, { key: party.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
    : sign(null, pp, party.privateKey);
  return encodePkiMessage(h, d.body, sig, [party.der]);
}

describe("request readers", () => {
  it("ir: template subject and key, signature POP that verifies", () => {
    const [r] = certRequests(decodePkiMessage(cap.ir).message.body);
    expect(r.certReqId).toBe(0n);
    expect(r.template.subject).toEqual(nameDer(pki.issued.der, "subject"));
    expect(r.template.publicKey).toEqual(pki.newKeySpki);
    expect(r.popo.kind).toBe("signature");
    expect(r.popo.verify()).toBe(true);
  });

  it("POP fails when the CertRequest or the signature is tampered with", () => {
    const cn = lastIndexOf(cap.ir, "device.example.com"); // the template's, not the sender's
    const tampered = decodePkiMessage(flipped(cap.ir, cn + 2)).message.body;
    expect(certRequests(tampered)[0].popo.verify()).toBe(false);
    const d = decodePkiMessage(cap.ir);
    const popSig = d.message.body.ir![0].popo!.signature!.signature;
    const sigAt = Buffer.from(cap.ir).indexOf(Buffer.from(popSig.value));
    expect(certRequests(decodePkiMessage(flipped(cap.ir, sigAt + 20)).message.body)[0].popo.verify()).toBe(false);
  });

  it("cr: validity, SAN extension and the implicitConfirm request in generalInfo", () => {
    const d = decodePkiMessage(cap.cr);
    const [r] = certRequests(d.message.body);
    const days = (r.template.validity!.notAfter!.getTime() - r.template.validity!.notBefore!.getTime()) / 86_400_000;
    expect(days).toBe(10);
    const exts = AsnConvert.parse(r.template.extensions!, Extensions);
    const san = AsnConvert.parse(exts.find((e) => e.extnID === id_ce_subjectAltName)!.extnValue, SubjectAlternativeName);
    expect(san.map((n) => n.dNSName ?? n.iPAddress)).toEqual(["a.example.com", "10.1.2.3"]);
    expect(d.message.header.generalInfo?.map((g) => [g.infoType, g.infoValue])).toEqual([[CMP_OID.implicitConfirm, null]]);
  });

  it("template fields are the received DER (cut from the CertRequest), equal to their re-encoding; the CN is read from the decoded Name", () => {
    for (const name of ["ir", "cr", "kur"]) {
      const msg = decodePkiMessage(cap[name]).message.body;
      const t = (msg.ir ?? msg.cr ?? msg.kur)![0].certReq.certTemplate;
      const [r] = certRequests(msg);
      expect(r.template.subject).toEqual(t.subject && encodeDer(t.subject));
      expect(r.template.issuer).toEqual(t.issuer && encodeDer(t.issuer));
      expect(r.template.publicKey).toEqual(t.publicKey && encodeDer(t.publicKey));
      expect(r.template.extensions).toEqual(t.extensions && encodeDer(new Extensions(t.extensions)));
      expect(r.template.commonName).toBe(commonNameOf(r.template.subject));
      expect(templateRequest(r.template).commonName).toBe(commonNameOf(r.template.subject));
    }
    expect(certRequests(decodePkiMessage(cap.cr).message.body)[0].template.extensions).toBeDefined();
  });

  it("cr: raVerified and absent POP are reported as such", () => {
    expect(certRequests(decodePkiMessage(cap.raVerified).message.body)[0].popo.kind).toBe("raVerified");
    const none = certRequests(decodePkiMessage(cap.noPop).message.body)[0].popo;
    expect([none.kind, none.verify()]).toEqual(["none", false]);
  });

  it("p10cr: the CSR as sent", () => {
    expect(p10Request(decodePkiMessage(cap.p10cr).message.body)).toEqual(new Uint8Array(readFileSync(join(pki.dir, "p10.csr"))));
  });

  it("kur: oldCertID control names the client certificate; POP verifies", () => {
    const [r] = certRequests(decodePkiMessage(cap.kur).message.body);
    const client = new X509Certificate(readFileSync(pki.client.cert));
    expect(normalizeSerial(r.oldCertId!.serialHex)).toBe(normalizeSerial(client.serialNumber));
    expect(r.oldCertId?.issuer).toEqual(new Uint8Array(derTlv(0xa4, nameDer(pki.client.der, "issuer")))); // GeneralName directoryName
    expect(r.popo.verify()).toBe(true);
  });

  it("rr: issuer, serial and reason of the certificate to revoke", () => {
    const [r] = revDetails(decodePkiMessage(cap.rr).message.body);
    expect(r.issuer).toEqual(nameDer(pki.issued.der, "issuer"));
    expect(normalizeSerial(r.serialHex!)).toBe(normalizeSerial(new X509Certificate(readFileSync(pki.issued.cert)).serialNumber));
    expect(r.reason).toBe(1);
  });

  it("genm: the InfoType asked for", () => {
    expect(genmInfos(decodePkiMessage(cap.genm).message.body)).toEqual([{ oid: "1.3.6.1.5.5.7.4.2", value: undefined }]);
  });
});

describe("hostile input fails with CmpDecodeError", () => {
  // Limits on bytes, depth and nodes bound the work; speed belongs in benchmarks, not in assertions.
  const fails = (der: Uint8Array) => {
    try {
      decodePkiMessage(der);
    } catch (e) {
      return e;
    }
    return undefined;
  };

  it("garbage, lying lengths, BER, nesting bombs, oversize", () => {
    const bomb = new Uint8Array(4000).map((_, i) => (i % 2 ? 0x80 : 0x30));
    const deep = Buffer.concat([...Array(200)].map(() => Buffer.from([0x30, 0x81, 0xff])));
    for (const der of [
      new Uint8Array(0), Uint8Array.of(0x30), Uint8Array.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0x30, 0x80, 0x00, 0x00),
      bomb, deep, new Uint8Array(300_000).fill(0x30), Uint8Array.of(0x02, 0x01, 0x00),
    ]) {
      expect(fails(der)).toBeInstanceOf(CmpDecodeError);
    }
    for (let i = 0; i < 300; i++) expect(fails(new Uint8Array(randomBytes(1 + (i % 600))))).toBeInstanceOf(CmpDecodeError);
  });

  it("every truncation and every single-bit flip of a real ir either decodes or throws CmpDecodeError", () => {
    const ir = cap.kur; // the largest capture (extraCerts)
    for (let n = 0; n < ir.length; n++) expect(fails(ir.subarray(0, n))).toBeInstanceOf(CmpDecodeError);
    for (let i = 0; i < ir.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const c = Uint8Array.from(ir);
        c[i] ^= bit;
        const e = fails(c);
        if (e !== undefined) expect(e, `byte ${i} bit ${bit}`).toBeInstanceOf(CmpDecodeError);
      }
    }
  });

  it("non-DER and unknown fields are refused, not skipped", () => {
    const d = decodePkiMessage(cap.ir);
    const hdrKids = (extra: Uint8Array) => derSequence(d.header.subarray(3), extra);
    // An extra [9] field at the end of PKIHeader.
    expect(fails(encodePkiMessage(hdrKids(derTlv(0xa9, Uint8Array.of(0x05, 0x00))), d.body))).toBeInstanceOf(CmpDecodeError);
    // Extension with critical FALSE spelled out (a DEFAULT value must be absent in DER).
    const oid = Uint8Array.of(0x06, 0x03, 0x55, 0x1d, 0x11);
    const value = Uint8Array.of(0x04, 0x02, 0x30, 0x00);
    expect(decodeDer(Extension, derSequence(oid, value)).critical).toBe(false);
    expect(() => decodeDer(Extension, derSequence(oid, Uint8Array.of(0x01, 0x01, 0x00), value))).toThrow(/DEFAULT/);
    expect(() => decodeDer(Extension, derSequence(oid, Uint8Array.of(0x01, 0x01, 0xff), value, Uint8Array.of(0x05, 0x00)))).toThrow(/unexpected fields/);
    // Unsorted SET OF in a Name.
    const twoAttrs = derSequence(derTlv(0x31, derSequence(Uint8Array.of(0x06, 0x03, 0x55, 0x04, 0x0a), Uint8Array.of(0x0c, 0x01, 0x62)),
      derSequence(Uint8Array.of(0x06, 0x03, 0x55, 0x04, 0x03), Uint8Array.of(0x0c, 0x01, 0x61))));
    expect(() => decodeDer(Name, twoAttrs)).toThrow(/not sorted/);
  });
});
