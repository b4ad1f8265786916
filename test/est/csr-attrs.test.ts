import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { derBitString, derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer } from "../../src/asn1/der-values.js";
import { GatewayError } from "../../src/errors.js";
import { csrAttrsFor, encodeCsrAttrs } from "../../protocols/est/csr-attrs.js";
import { readCsrRequestAttributes } from "../../protocols/est/csr-attributes-read.js";
import { opensslAsync, tempDir } from "../helpers/openssl.js";

let dir: string;
beforeAll(() => {
  dir = tempDir("est-csrattrs-");
});

async function ok(args: string[]): Promise<string> {
  const r = await opensslAsync(args);
  expect(r.code, `openssl ${args.join(" ")}\n${r.out}`).toBe(0);
  return r.out;
}

async function asn1parse(name: string, der: Uint8Array): Promise<string> {
  const f = join(dir, `${name}.der`);
  writeFileSync(f, der);
  return ok(["asn1parse", "-inform", "DER", "-in", f]);
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("encodeCsrAttrs (RFC 7030 §4.5.2)", () => {
  it("reproduces the RFC 7030 example, byte for byte (as corrected by RFC 8951 §4)", () => {
    const der = encodeCsrAttrs([
      { oid: "1.2.840.113549.1.9.7" },
      { type: "1.2.840.10045.2.1", values: [oidDer("1.3.132.0.34")] },
      { type: "1.2.840.113549.1.9.14", values: [oidDer("1.3.6.1.1.1.1.22")] },
      { oid: "1.2.840.10045.4.3.3" },
    ]);
    expect(Buffer.from(der).toString("base64")).toBe("MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJBgcrBgEBAQEWBggqhkjOPQQDAw==");
  });

  it("an empty list is an empty SEQUENCE; attribute values are a DER SET OF, sorted", async () => {
    expect(hex(encodeCsrAttrs([]))).toBe("3000");
    const der = encodeCsrAttrs([{ type: "1.2.3.4", values: [derTlv(0x02, Uint8Array.of(5)), derTlv(0x02, Uint8Array.of(1))] }]);
    expect(hex(der)).toBe("300f300d06032a03043106020101020105");
    expect(await asn1parse("sorted", der)).toMatch(/INTEGER\s+:01[\s\S]*INTEGER\s+:05/);
  });

  it("refuses an attribute without values, a malformed OID and a value that is not one DER value", () => {
    expect(() => encodeCsrAttrs([{ type: "1.2.3", values: [] }])).toThrow(/at least one value/);
    expect(() => encodeCsrAttrs([{ oid: "1.2.x" }])).toThrow(/not a dotted OID/);
    expect(() => encodeCsrAttrs([{ oid: "1.40.1" }])).toThrow(/not a dotted OID/);
    expect(() => encodeCsrAttrs([{ type: "1.2.3", values: [Uint8Array.of(0x02, 0x01, 0x01, 0x02, 0x01, 0x01)] }])).toThrow(/not one DER value/);
  });
});

describe("csrAttrsFor: the gateway's wish list", () => {
  it("EC P-256 with challengePassword: OpenSSL sees challengePassword, id-ecPublicKey { prime256v1 } and ecdsa-with-SHA256", async () => {
    const items = csrAttrsFor({ keys: [{ type: "ec", curves: ["P-256", "P-384"] }, { type: "rsa", minBits: 3072 }], challengePassword: true });
    expect(items).toEqual([
      { oid: "1.2.840.113549.1.9.7" },
      { type: "1.2.840.10045.2.1", values: [oidDer("1.2.840.10045.3.1.7")] },
      { oid: "1.2.840.10045.4.3.2" },
    ]);
    const out = await asn1parse("ec256", encodeCsrAttrs(items));
    const objects = [...out.matchAll(/OBJECT\s+:(\S+)/g)].map((m) => m[1]);
    expect(objects).toEqual(["challengePassword", "id-ecPublicKey", "prime256v1", "ecdsa-with-SHA256"]);
    expect(out).toMatch(/d=2\s+hl=2 l=\s*\d+ cons: SET/); // the curve sits in the attribute's SET of values
  });

  it("EC P-384 without challengePassword: secp384r1 and ecdsa-with-SHA384 only", async () => {
    const out = await asn1parse("ec384", encodeCsrAttrs(csrAttrsFor({ keys: [{ type: "ec", curves: ["P-384"] }], challengePassword: false })));
    expect([...out.matchAll(/OBJECT\s+:(\S+)/g)].map((m) => m[1])).toEqual(["id-ecPublicKey", "secp384r1", "ecdsa-with-SHA384"]);
  });

  it("RSA: rsaEncryption { INTEGER minBits } and sha256WithRSAEncryption — RFC 9908's 4096-bit example byte for byte", async () => {
    const der = encodeCsrAttrs(csrAttrsFor({ keys: [{ type: "rsa", minBits: 4096 }], challengePassword: true }));
    expect(hex(der)).toBe("302906092a864886f70d010907301106092a864886f70d010101310402021000" + "06092a864886f70d01010b");
    const out = await asn1parse("rsa", encodeCsrAttrs(csrAttrsFor({ keys: [{ type: "rsa", minBits: 2048 }], challengePassword: false })));
    expect([...out.matchAll(/OBJECT\s+:(\S+)/g)].map((m) => m[1])).toEqual(["rsaEncryption", "sha256WithRSAEncryption"]);
    expect(out).toMatch(/INTEGER\s+:0800/);
  });

  it("no key rule: only what was asked", () => {
    expect(csrAttrsFor({ keys: [], challengePassword: false })).toEqual([]);
    expect(csrAttrsFor({ keys: [], challengePassword: true })).toEqual([{ oid: "1.2.840.113549.1.9.7" }]);
  });
});

/** Attribute { type, SET { value } } as a CSR carries it. */
const attribute = (oid: string, ...values: Uint8Array[]) => derSequence(oidDer(oid), derTlv(0x31, ...values));
const octets = (b: Uint8Array) => derTlv(0x04, b);
const ASYMM = "1.2.840.113549.1.9.16.2.54";
const SYMM = "1.2.840.113549.1.9.16.2.37";
const CHALLENGE = "1.2.840.113549.1.9.7";

/** A real, signed PKCS#10 (ECDSA P-256) with the given attributes, assembled here because OpenSSL cannot add OCTET STRING attributes. */
function csrWith(key: KeyObject, attributes: Uint8Array[]): Uint8Array {
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const subject = derSequence(derTlv(0x31, derSequence(oidDer("2.5.4.3"), derTlv(0x0c, Buffer.from("attrs-test")))));
  const info = derSequence(derTlv(0x02, Uint8Array.of(0)), subject, spki, derTlv(0xa0, ...attributes));
  return derSequence(info, derSequence(oidDer("1.2.840.10045.4.3.2")), derBitString(sign("sha256", info, key)));
}

describe("readCsrRequestAttributes", () => {
  it("reads the challengePassword of a CSR that OpenSSL made from a [req_attributes] config", async () => {
    const cnf = join(dir, "req.cnf");
    writeFileSync(cnf, [
      "[req]", "prompt = no", "distinguished_name = dn", "attributes = req_attributes",
      "[dn]", "CN = pw.example.com",
      "[req_attributes]", "challengePassword = S3cret-Linking_Pass",
    ].join("\n"));
    const csr = join(dir, "pw.csr");
    await ok(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "pw.key"), "-config", cnf, "-outform", "DER", "-out", csr]);
    expect(await ok(["req", "-inform", "DER", "-in", csr, "-noout", "-text"])).toContain("challengePassword");
    expect(readCsrRequestAttributes(new Uint8Array(readFileSync(csr)))).toEqual({ challengePassword: "S3cret-Linking_Pass" });
  });

  it("a CSR without attributes gives nothing", async () => {
    const csr = join(dir, "plain.csr");
    await ok(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "plain.key"), "-subj", "/CN=plain", "-outform", "DER", "-out", csr]);
    expect(readCsrRequestAttributes(new Uint8Array(readFileSync(csr)))).toEqual({});
  });

  it("reads both key identifiers and a UTF8String password from a CSR that OpenSSL verifies", async () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const ski = Buffer.from("00112233445566778899aabbccddeeff01234567", "hex");
    const der = csrWith(key, [
      attribute("1.2.840.113549.1.9.14", derSequence()), // an extensionRequest we skip
      attribute(CHALLENGE, derTlv(0x0c, Buffer.from("pässwörd", "utf8"))),
      attribute(ASYMM, octets(ski)),
      attribute(SYMM, octets(Uint8Array.of(7, 7))),
    ]);
    const f = join(dir, "keyids.csr");
    writeFileSync(f, der);
    expect(await ok(["req", "-inform", "DER", "-in", f, "-verify", "-noout"])).toMatch(/verify OK/i);
    const got = readCsrRequestAttributes(der);
    expect(got.challengePassword).toBe("pässwörd");
    expect(hex(got.asymmetricDecryptKeyId!)).toBe(ski.toString("hex"));
    expect(hex(got.decryptKeyId!)).toBe("0707");
  });

  const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;

  it("takes IA5String and BMPString passwords, and a PrintableString beyond its strict alphabet", () => {
    const read = (v: Uint8Array) => readCsrRequestAttributes(csrWith(key, [attribute(CHALLENGE, v)])).challengePassword;
    expect(read(derTlv(0x16, Buffer.from("ia5@pass")))).toBe("ia5@pass");
    expect(read(derTlv(0x1e, Buffer.from("0062006d0070", "hex")))).toBe("bmp");
    expect(read(derTlv(0x13, Buffer.from("under_score")))).toBe("under_score");
  });

  const refusals: Array<[string, () => Uint8Array, RegExp]> = [
    ["empty input", () => new Uint8Array(0), /empty input/],
    ["random bytes", () => Uint8Array.from({ length: 300 }, (_, i) => (i * 97 + 13) & 0xff), /malformed DER|tag/],
    ["over 64 KiB", () => new Uint8Array(64 * 1024 + 1), /over the 65536-byte limit/],
    ["a lying length", () => Uint8Array.of(0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00), /malformed DER/],
    ["33 attributes", () => csrWith(key, Array.from({ length: 33 }, (_, i) => attribute(`1.2.3.${i}`, derTlv(0x05, new Uint8Array(0))))), /33 attributes, more than 32/],
    ["a repeated challengePassword", () => csrWith(key, [attribute(CHALLENGE, derTlv(0x13, Buffer.from("a"))), attribute(CHALLENGE, derTlv(0x13, Buffer.from("b")))]), /more than once/],
    ["two password values", () => csrWith(key, [attribute(CHALLENGE, derTlv(0x13, Buffer.from("a")), derTlv(0x13, Buffer.from("b")))]), /exactly one value, not 2/],
    ["a TeletexString password", () => csrWith(key, [attribute(CHALLENGE, derTlv(0x14, Buffer.from("a")))]), /string tag 0x14/],
    ["a PrintableString with a non-ASCII byte", () => csrWith(key, [attribute(CHALLENGE, derTlv(0x13, Uint8Array.of(0x61, 0xe9)))]), /PrintableString has non-ASCII bytes/],
    ["bad UTF-8", () => csrWith(key, [attribute(CHALLENGE, derTlv(0x0c, Uint8Array.of(0xc3, 0x28)))]), /not valid text/],
    ["a 256-character password", () => csrWith(key, [attribute(CHALLENGE, derTlv(0x0c, Buffer.from("x".repeat(256))))]), /longer than 255/],
    ["a key id that is not an OCTET STRING", () => csrWith(key, [attribute(ASYMM, derTlv(0x0c, Buffer.from("ab")))]), /must be an OCTET STRING/],
    ["an empty key id", () => csrWith(key, [attribute(SYMM, octets(new Uint8Array(0)))]), /1 to 1024 bytes, not 0/],
    ["an attribute that is not a SEQUENCE", () => csrWith(key, [derTlv(0x31, oidDer(CHALLENGE))]), /Attribute has tag 0x31/],
  ];
  for (const [what, make, why] of refusals) {
    it(`refuses ${what} with a clear Error`, () => {
      const input = make();
      let err: unknown;
      try {
        readCsrRequestAttributes(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as Error).message).toMatch(why);
    });
  }

  it("every single-byte corruption of a real CSR either parses or throws a GatewayError", () => {
    const der = csrWith(key, [attribute(CHALLENGE, derTlv(0x13, Buffer.from("abc"))), attribute(ASYMM, octets(Uint8Array.of(1, 2, 3)))]);
    for (let i = 0; i < der.length; i++) {
      for (const x of [0x01, 0x80, 0xff]) {
        const bad = Uint8Array.from(der);
        bad[i] ^= x;
        try {
          readCsrRequestAttributes(bad);
        } catch (e) {
          expect(e, `byte ${i} ^ ${x}`).toBeInstanceOf(GatewayError);
        }
      }
      try {
        readCsrRequestAttributes(der.subarray(0, i));
      } catch (e) {
        expect(e, `truncated at ${i}`).toBeInstanceOf(GatewayError);
      }
    }
  });
});
