import { describe, expect, it } from "vitest";
import { AsnConvert } from "@peculiar/asn1-schema";
import { GeneralName, SubjectAlternativeName } from "@peculiar/asn1-x509";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer, oidText } from "../../src/asn1/der-values.js";
import { readTlv } from "../../src/asn1/der-walk.js";
import { generalNamesDerToSans, generalNamesToSans } from "../../src/asn1/general-names.js";

const schemaPath = (der: Uint8Array) => generalNamesToSans(AsnConvert.parse(der, SubjectAlternativeName));

describe("hand-walked CSR reading gives what the schema parser gives", () => {
  it("reads the ordinary name forms exactly as the schema path does", () => {
    const ip6 = Buffer.from("20010db8000000000000000000000001", "hex");
    const der = derSequence(
      derTlv(0x82, Buffer.from("Host.EXAMPLE.com")), derTlv(0x82, Buffer.from([0x61, 0xe9, 0x2e, 0x63, 0x6f])), // upper case, a non-ASCII octet
      derTlv(0x87, Uint8Array.of(10, 0, 0, 1)), derTlv(0x87, ip6), derTlv(0x87, Buffer.from("00000000000000000000ffff0a000001", "hex")),
      derTlv(0x81, Buffer.from("Ops@Example.com")), derTlv(0x86, Buffer.from("spiffe://example.org/a")),
    );
    const fast = generalNamesDerToSans(der);
    expect(fast).toBeDefined();
    expect(fast).toEqual(schemaPath(der));
  });

  it("leaves anything unusual to the schema parser", () => {
    const other = new Uint8Array(AsnConvert.serialize(new SubjectAlternativeName([new GeneralName({ registeredID: "1.2.3.4" })])));
    expect(generalNamesDerToSans(other)).toBeUndefined();
    expect(generalNamesDerToSans(derSequence(derTlv(0x87, Uint8Array.of(10, 0, 0, 0, 255, 0, 0, 0))))).toBeUndefined(); // address + mask
    expect(generalNamesDerToSans(derSequence())).toBeUndefined();
    expect(generalNamesDerToSans(Uint8Array.of(0x30, 0x05, 0x82, 0x01, 0x61))).toBeUndefined(); // lying length
    expect(generalNamesDerToSans(Uint8Array.of(0x30, 0x81, 0x03, 0x82, 0x01, 0x61))).toBeUndefined(); // non-minimal length
    expect(generalNamesDerToSans(Uint8Array.of(0x30, 0x03, 0x82, 0x01, 0x61, 0x00))).toBeUndefined(); // trailing data
  });

  it("decodes OIDs as the schema does and refuses non-minimal ones", () => {
    for (const oid of ["2.5.29.17", "1.2.840.113549.1.9.14", "0.9.2342.19200300.100.1.25", "2.999.3", "1.3.6.1.4.1.311.21.7", "0.0"]) {
      const d = oidDer(oid);
      expect(oidText(d.subarray(2))).toBe(oid);
    }
    expect(oidText(Uint8Array.of(0x2a, 0x80, 0x01))).toBeUndefined();
    expect(oidText(Uint8Array.of(0x2a, 0x86))).toBeUndefined();
    expect(oidText(new Uint8Array(0))).toBeUndefined();
  });

  it("readTlv takes minimal definite lengths within the limit only", () => {
    expect(readTlv(Uint8Array.of(0x04, 0x01, 0x00), 0, 3)).toEqual({ tag: 4, contentStart: 2, end: 3 });
    const long = new Uint8Array(3 + 200);
    long.set([0x04, 0x81, 200]);
    expect(readTlv(long, 0, long.length)).toEqual({ tag: 4, contentStart: 3, end: 203 });
    expect(readTlv(Uint8Array.of(0x04, 0x80), 0, 2)).toBeUndefined();
    expect(readTlv(Uint8Array.of(0x1f, 0x01, 0x00), 0, 3)).toBeUndefined();
  });
});
