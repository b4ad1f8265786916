import { createHash, generateKeyPairSync, verify, X509Certificate, type KeyObject } from "node:crypto";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { AsnConvert } from "@peculiar/asn1-schema";
import { BasicConstraints, Certificate, SubjectAlternativeName, type Extension } from "@peculiar/asn1-x509";
import { decode } from "cborg";
import { beforeAll, describe, expect, it } from "vitest";
import { opensslStatus, tempDir } from "../../helpers/openssl.js";
import { createAttestationPkis, rawAttObj, type AttestationPkis, type TestPki } from "./fixtures.js";

/** Self-test of the fixtures: the objects must be what the real devices send, checked without the verifiers under test. */

// The options the gateway decodes with: the fixtures must pass its strict decoder.
const STRICT = { useMaps: true, rejectDuplicateMapKeys: true, allowUndefined: false, allowBigInt: false } as const;
const sha256 = (d: Uint8Array | string) => createHash("sha256").update(d).digest();
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("hex") : undefined);

function statement(attObj: Buffer, fmt: string): Map<string, unknown> {
  const top = decode(attObj, STRICT) as Map<string, unknown>;
  expect([...top.keys()].sort()).toEqual(["attStmt", "authData", "fmt"]);
  expect(top.get("fmt")).toBe(fmt);
  expect(top.get("authData")).toEqual(new Uint8Array(0));
  return top.get("attStmt") as Map<string, unknown>;
}
const bytesOf = (st: Map<string, unknown>, k: string) => Buffer.from(st.get(k) as Uint8Array);
const x5c = (st: Map<string, unknown>) => (st.get("x5c") as Uint8Array[]).map((d) => new X509Certificate(d));
const extensions = (c: X509Certificate): Extension[] => AsnConvert.parse(c.raw, Certificate).tbsCertificate.extensions ?? [];
const extOf = (c: X509Certificate, id: string) => extensions(c).find((e) => e.extnID === id);
const extValue = (c: X509Certificate, id: string) => {
  const e = extOf(c, id);
  return e ? Buffer.from(e.extnValue.buffer) : undefined;
};
const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" });
/** node reports no subject at all for an empty Name, so read it from the DER. */
const subjectRdns = (c: X509Certificate) => AsnConvert.parse(c.raw, Certificate).tbsCertificate.subject.length;
/** basicConstraints cA as written (node's `ca` also wants keyCertSign, which the AK never has). */
const bcCa = (c: X509Certificate) => {
  const e = extOf(c, "2.5.29.19");
  return e ? AsnConvert.parse(e.extnValue, BasicConstraints).cA : undefined;
};

/** `openssl verify -CAfile root -untrusted intermediate leaf`. */
function opensslVerify(pki: TestPki, [leaf, inter]: X509Certificate[]) {
  const dir = tempDir("attest-fx-");
  const file = (n: string, pem: string) => (writeFileSync(join(dir, n), pem), join(dir, n));
  return opensslStatus(["verify", "-CAfile", file("root.pem", pki.rootPem), "-untrusted", file("inter.pem", inter.toString()), file("leaf.pem", leaf.toString())]);
}
/** The same links checked by node (what the gateway's path validation uses). */
function nodeChainOk(pki: TestPki, [leaf, inter]: X509Certificate[]): boolean {
  const root = new X509Certificate(pki.rootDer);
  return leaf.checkIssued(inter) && leaf.verify(inter.publicKey) && inter.checkIssued(root) && inter.verify(root.publicKey) && root.verify(root.publicKey);
}

let pkis: AttestationPkis;
beforeAll(async () => {
  pkis = await createAttestationPkis();
});

const ec256 = () => generateKeyPairSync("ec", { namedCurve: "P-256" });

describe("apple fixture", () => {
  it("chains to the test root and carries the raw nonce, serial, UDID and sepOS extensions", () => {
    const key = ec256();
    const st = statement(pkis.apple.attObj({ publicKey: key.publicKey, token: "tok-123", serial: "C02XL0GQJGH5", udid: "00008030-001A2D" }), "apple");
    const chain = x5c(st);
    expect(chain).toHaveLength(2);
    expect(opensslVerify(pkis.apple, chain).out).toMatch(/leaf\.pem: OK/);
    expect(nodeChainOk(pkis.apple, chain)).toBe(true);
    const [leaf, inter] = chain;
    expect(spki(leaf.publicKey)).toEqual(spki(key.publicKey));
    expect(leaf.subject).toMatch(/^CN=[0-9a-f]{64}\nOU=AAA Certification\nO=Apple Inc\.\nST=California$/);
    expect(inter.subject).toContain("CN=Apple Enterprise Attestation Sub CA 1");
    expect(new X509Certificate(pkis.apple.rootDer).subject).toContain("CN=Apple Enterprise Attestation Root CA");
    expect(leaf.ca).toBe(false);
    expect(extOf(leaf, "2.5.29.19")?.critical).toBe(true);
    expect(extValue(leaf, "1.2.840.113635.100.8.11.1")).toEqual(sha256("tok-123"));
    expect(extValue(leaf, "1.2.840.113635.100.8.9.1")?.toString()).toBe("C02XL0GQJGH5");
    expect(extValue(leaf, "1.2.840.113635.100.8.9.2")?.toString()).toBe("00008030-001A2D");
    expect(extValue(leaf, "1.2.840.113635.100.8.10.2")?.toString()).toBe("15.5");
    expect(new X509Certificate(pkis.apple.rootDer).publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
  });

  it("honours nonce, serial/udid omission, other key types and expiry", () => {
    const key = ec256();
    const absent = x5c(statement(pkis.apple.attObj({ publicKey: key.publicKey, token: "t", nonce: "absent" }), "apple"))[0];
    expect(extValue(absent, "1.2.840.113635.100.8.11.1")).toBeUndefined();
    expect(extValue(absent, "1.2.840.113635.100.8.9.1")).toBeUndefined();
    expect(extValue(absent, "1.2.840.113635.100.8.9.2")).toBeUndefined();
    const given = Buffer.alloc(32, 7);
    expect(extValue(x5c(statement(pkis.apple.attObj({ publicKey: key.publicKey, token: "t", nonce: given }), "apple"))[0], "1.2.840.113635.100.8.11.1")).toEqual(given);
    for (const other of [generateKeyPairSync("ec", { namedCurve: "P-384" }), generateKeyPairSync("rsa", { modulusLength: 2048 })]) {
      const chain = x5c(statement(pkis.apple.attObj({ publicKey: other.publicKey, token: "t" }), "apple"));
      expect(spki(chain[0].publicKey)).toEqual(spki(other.publicKey));
      expect(nodeChainOk(pkis.apple, chain)).toBe(true);
    }
    const expired = x5c(statement(pkis.apple.attObj({ publicKey: key.publicKey, token: "t", expired: true }), "apple"));
    expect(Date.parse(expired[0].validTo)).toBeLessThan(Date.now());
    const r = opensslVerify(pkis.apple, expired);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/certificate has expired/);
  });
});

describe("step (YubiKey PIV) fixture", () => {
  const cases = [
    { name: "EC P-256", keys: ec256, alg: -7, hash: "sha256" },
    { name: "RSA 2048", keys: () => generateKeyPairSync("rsa", { modulusLength: 2048 }), alg: -257, hash: "sha256" },
    { name: "Ed25519", keys: () => generateKeyPairSync("ed25519"), alg: -8, hash: null },
  ] as const;
  for (const c of cases) {
    it(`${c.name}: chain verifies, sig is CBOR inside the byte string and signs the key authorization`, () => {
      const key = c.keys();
      const st = statement(pkis.yubico.attObj({ privateKey: key.privateKey, keyAuthorization: "tok.thumb", serial: 15732500 }), "step");
      expect(st.get("alg")).toBe(c.alg);
      const chain = x5c(st);
      expect(opensslVerify(pkis.yubico, chain).out).toMatch(/leaf\.pem: OK/);
      expect(nodeChainOk(pkis.yubico, chain)).toBe(true);
      expect(spki(chain[0].publicKey)).toEqual(spki(key.publicKey));
      const raw = decode(st.get("sig") as Uint8Array, STRICT) as Uint8Array;
      expect(raw).toBeInstanceOf(Uint8Array);
      expect(verify(c.hash, Buffer.from("tok.thumb"), key.publicKey, raw)).toBe(true);
    });
  }

  it("slot and F9 certificates look like a YubiKey's; tamperSig and omitSerial work", () => {
    const key = ec256();
    const st = statement(pkis.yubico.attObj({ privateKey: key.privateKey, keyAuthorization: "k.a", serial: 15732500, tamperSig: true }), "step");
    const [slot, f9] = x5c(st);
    expect(slot.subject).toBe("CN=YubiKey PIV Attestation 9a");
    expect(f9.subject).toBe("CN=Yubico PIV Attestation");
    expect(new X509Certificate(pkis.yubico.rootDer).subject).toBe("CN=Yubico PIV Root CA Serial 263751");
    expect(extOf(slot, "2.5.29.19")).toBeUndefined();
    expect(hex(extValue(slot, "1.3.6.1.4.1.41482.3.7"))).toBe("020400f00f14");
    expect(hex(extValue(slot, "1.3.6.1.4.1.41482.3.3"))).toBe("050403");
    expect(hex(extValue(slot, "1.3.6.1.4.1.41482.3.8"))).toBe("0101");
    expect(hex(extValue(slot, "1.3.6.1.4.1.41482.3.9"))).toBe("01");
    const bc = extOf(f9, "2.5.29.19")!;
    expect(bc.critical).toBe(true);
    expect(AsnConvert.parse(bc.extnValue, BasicConstraints)).toMatchObject({ cA: true, pathLenConstraint: 0 });
    expect(hex(extValue(f9, "1.3.6.1.4.1.41482.3.3"))).toBe("050403");
    expect(f9.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(slot.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    const raw = decode(st.get("sig") as Uint8Array, STRICT) as Uint8Array;
    expect(verify("sha256", Buffer.from("k.a"), key.publicKey, raw)).toBe(false);
    const noSerial = x5c(statement(pkis.yubico.attObj({ privateKey: key.privateKey, keyAuthorization: "k.a", serial: 1, omitSerial: true, alg: -257 }), "step"));
    expect(extValue(noSerial[0], "1.3.6.1.4.1.41482.3.7")).toBeUndefined();
  });
});

/** TPMS_ATTEST fields the verifiers check. */
function readCertInfo(b: Buffer) {
  let at = 0;
  const take = (n: number) => b.subarray(at, (at += n));
  const tpm2b = () => take(b.readUInt16BE((at += 2) - 2));
  const magic = b.readUInt32BE(0);
  const type = b.readUInt16BE(4);
  at = 6;
  tpm2b(); // qualifiedSigner
  const extraData = tpm2b();
  take(17 + 8); // clockInfo, firmwareVersion
  const name = tpm2b();
  tpm2b(); // qualifiedName
  expect(at).toBe(b.length);
  return { magic, type, extraData, name };
}

describe("tpm fixture", () => {
  const ka = "tok.thumb";
  const rsaKey = generateKeyPairSync("rsa", { modulusLength: 2048 });

  it("AK chain verifies and the AK certificate has the TCG shape", () => {
    const st = statement(pkis.tpm.attObj({ publicKey: rsaKey.publicKey, keyAuthorization: ka, permanentIdentifier: { value: "EK123", assigner: "1.2.3.4" } }), "tpm");
    expect(st.get("ver")).toBe("2.0");
    expect(st.get("alg")).toBe(-257);
    const chain = x5c(st);
    expect(nodeChainOk(pkis.tpm, chain)).toBe(true);
    expect(opensslVerify(pkis.tpm, chain).out).toMatch(/leaf\.pem: OK/);
    const [ak, inter] = chain;
    expect(subjectRdns(ak)).toBe(0);
    expect(bcCa(ak)).toBe(false);
    expect(extOf(ak, "2.5.29.19")?.critical).toBe(true);
    expect(ak.keyUsage).toEqual(["2.23.133.8.3"]);
    expect(inter.subject).toMatch(/^CN=EUS-NTC-KEYID-[0-9A-F]{40}$/);
    expect(inter.ca).toBe(true);
    expect(new X509Certificate(pkis.tpm.rootDer).subject).toContain("CN=Microsoft TPM Root Certificate Authority 2014");
    const sanExt = extOf(ak, "2.5.29.17")!;
    expect(sanExt.critical).toBe(true);
    const san = AsnConvert.parse(sanExt.extnValue, SubjectAlternativeName);
    const dir = san.find((g) => g.directoryName)!.directoryName!;
    expect(dir).toHaveLength(1);
    expect(dir[0].map((a) => [a.type, a.value.utf8String]).sort()).toEqual([
      ["2.23.133.2.1", "id:4E544300"], ["2.23.133.2.2", "NPCT75x"], ["2.23.133.2.3", "id:00070002"],
    ]);
    const other = san.find((g) => g.otherName)!.otherName!;
    expect(other.typeId).toBe("1.3.6.1.5.5.7.8.3");
    expect(hex(new Uint8Array(other.value))).toBe("300c0c05454b313233" + "06032a0304"); // SEQUENCE { UTF8String "EK123", OID 1.2.3.4 }
    // type-id, then the value under [0] EXPLICIT, inside the otherName's [0]
    expect(hex(Buffer.from(sanExt.extnValue.buffer))).toMatch(/a01a06082b06010505070803a00e300c0c05454b31323306032a0304/);
  });

  it("pubArea, certInfo and sig (RSA AK, raw and TPMT forms, SHA-1 and SHA-256)", () => {
    for (const [alg, hash, form] of [[-257, "sha256", "raw"], [-257, "sha256", "tpmt"], [-65535, "sha1", "tpmt"], [-65535, "sha1", "raw"]] as const) {
      const st = statement(pkis.tpm.attObj({ publicKey: rsaKey.publicKey, keyAuthorization: ka, alg, sigForm: form }), "tpm");
      const pubArea = bytesOf(st, "pubArea");
      const n = Buffer.from(rsaKey.publicKey.export({ format: "jwk" }).n!, "base64url");
      expect(hex(pubArea.subarray(0, 22))).toBe(["0001", "000b", "00050072", "0000", "0010", "0010", "0800", "00000000", "0100"].join(""));
      expect(pubArea.subarray(22)).toEqual(n);
      const certInfo = bytesOf(st, "certInfo");
      const ci = readCertInfo(certInfo);
      expect(ci).toMatchObject({ magic: 0xff544347, type: 0x8017 });
      expect(ci.extraData).toEqual(sha256(ka));
      expect(ci.name).toEqual(Buffer.concat([Buffer.from([0, 0x0b]), sha256(pubArea)]));
      let sig = bytesOf(st, "sig");
      if (form === "tpmt") {
        expect(sig.readUInt16BE(0)).toBe(0x0014);
        expect(sig.readUInt16BE(2)).toBe(hash === "sha1" ? 0x0004 : 0x000b);
        expect(sig.readUInt16BE(4)).toBe(sig.length - 6);
        sig = sig.subarray(6);
      }
      expect(verify(hash, certInfo, x5c(st)[0].publicKey, sig)).toBe(true);
    }
  });

  it("EC AK and EC attested key: TPMT ECDSA (default) and raw DER", () => {
    const key = ec256();
    for (const form of [undefined, "raw"] as const) {
      const st = statement(pkis.tpm.attObj({ publicKey: key.publicKey, keyAuthorization: ka, akAlg: "ec", sigForm: form }), "tpm");
      expect(st.get("alg")).toBe(-7);
      const chain = x5c(st);
      expect(chain[0].publicKey.asymmetricKeyType).toBe("ec");
      expect(nodeChainOk(pkis.tpm, chain)).toBe(true);
      const jwk = key.publicKey.export({ format: "jwk" });
      const pubArea = bytesOf(st, "pubArea");
      expect(hex(pubArea.subarray(0, 20))).toBe(["0023", "000b", "00050072", "0000", "0010", "0010", "0003", "0010", "0020"].join(""));
      expect(pubArea.subarray(20)).toEqual(Buffer.concat([Buffer.from(jwk.x!, "base64url"), Buffer.from([0, 32]), Buffer.from(jwk.y!, "base64url")]));
      const certInfo = bytesOf(st, "certInfo");
      const sig = bytesOf(st, "sig");
      if (form === "raw") {
        expect(verify("sha256", certInfo, chain[0].publicKey, sig)).toBe(true);
      } else {
        expect(hex(sig.subarray(0, 6))).toBe("0018000b0020");
        expect(sig.readUInt16BE(38)).toBe(32);
        expect(sig).toHaveLength(72);
        const rs = Buffer.concat([sig.subarray(6, 38), sig.subarray(40)]);
        expect(verify("sha256", certInfo, { key: chain[0].publicKey, dsaEncoding: "ieee-p1363" }, rs)).toBe(true);
      }
    }
    expect(() => pkis.tpm.attObj({ publicKey: key.publicKey, keyAuthorization: ka, akAlg: "ec", alg: -257 })).toThrow(/does not fit/);
  });

  it("tampered certInfo is still signed by the AK", () => {
    const expected = { magic: 0xff544347, type: 0x8017 };
    for (const t of ["magic", "type", "extraData", "name"] as const) {
      const st = statement(pkis.tpm.attObj({ publicKey: rsaKey.publicKey, keyAuthorization: ka, tamperCertInfo: t }), "tpm");
      const certInfo = bytesOf(st, "certInfo");
      const ci = readCertInfo(certInfo);
      expect(ci.magic === expected.magic).toBe(t !== "magic");
      expect(ci.type).toBe(t === "type" ? 0x8018 : 0x8017);
      expect(ci.extraData.equals(sha256(ka))).toBe(t !== "extraData");
      expect(ci.name.subarray(2).equals(sha256(bytesOf(st, "pubArea")))).toBe(t !== "name");
      expect(verify("sha256", certInfo, x5c(st)[0].publicKey, bytesOf(st, "sig"))).toBe(true);
    }
  });

  it("akShape variants", () => {
    const ak = (akShape: "subject" | "ca" | "noEku" | "noSan") => x5c(statement(pkis.tpm.attObj({ publicKey: rsaKey.publicKey, keyAuthorization: ka, akShape }), "tpm"))[0];
    expect(ak("subject").subject).toBe("CN=ak");
    expect(bcCa(ak("ca"))).toBe(true);
    expect(extOf(ak("noEku"), "2.5.29.37")).toBeUndefined();
    expect(extOf(ak("noSan"), "2.5.29.17")).toBeUndefined();
    const plain = ak("noEku");
    expect(subjectRdns(plain)).toBe(0);
    expect(extOf(plain, "2.5.29.17")?.critical).toBe(true);
  });
});

describe("rawAttObj", () => {
  it("encodes whatever it is given and leaves out undefined fmt/attStmt", () => {
    const top = decode(rawAttObj(7, new Map<unknown, unknown>([[1, "x"]]), new Uint8Array([1, 2])), STRICT) as Map<string, unknown>;
    expect(top.get("fmt")).toBe(7);
    expect(top.get("attStmt")).toEqual(new Map([[1, "x"]]));
    expect(top.get("authData")).toEqual(new Uint8Array([1, 2]));
    expect([...(decode(rawAttObj(undefined, undefined), STRICT) as Map<string, unknown>).keys()]).toEqual(["authData"]);
  });
});
