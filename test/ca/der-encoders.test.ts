import { describe, expect, it } from "vitest";
import { AsnConvert } from "@peculiar/asn1-schema";
import { SubjectAlternativeName } from "@peculiar/asn1-x509";
import { sansToGeneralNames } from "../../src/asn1/general-names.js";
import { buildName, nameDer } from "../../src/asn1/name.js";
import { oidDer, timeDer } from "../../src/asn1/der-values.js";
import { generalNamesDer } from "../../src/ca/template.js";
import { normalizeSerial, serialHex } from "../../src/ca/serial.js";
import { openssl, tempDir } from "../helpers/openssl.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

// The issuance hot path encodes DER by hand; each encoder must give the schema classes' bytes.
describe("hand-written DER encoders match the ASN.1 schema classes", () => {
  it("names", () => {
    const cases: Array<Array<[string, string]>> = [
      [["CN", "www.example.com"]],
      [["C", "DE"], ["O", "Example, Inc."], ["OU", "Ünïcode"], ["CN", "a+b=c"]],
      [["serialNumber", "ABC123"], ["E", "ops@example.com"], ["DC", "example"], ["2.5.4.97", "VATDE-123"]],
      [],
    ];
    for (const rdns of cases) expect(Buffer.from(nameDer(rdns))).toEqual(Buffer.from(AsnConvert.serialize(buildName(rdns))));
  });

  it("general names", () => {
    const sans = { dns: ["a.example.com", "b.example.com"], ip: ["10.1.2.3", "2001:db8::1"], email: ["x@example.com"], uri: ["urn:dev:serial:9"] };
    expect(Buffer.from(generalNamesDer(sans))).toEqual(Buffer.from(AsnConvert.serialize(new SubjectAlternativeName(sansToGeneralNames(sans)))));
  });

  it("OIDs and times, checked with openssl asn1parse", () => {
    const dir = tempDir();
    const oid = oidDer("1.2.840.113549.1.9.14");
    writeFileSync(join(dir, "oid.der"), oid);
    expect(openssl(["asn1parse", "-inform", "DER", "-in", join(dir, "oid.der")])).toContain("Extension Request");
    writeFileSync(join(dir, "utc.der"), timeDer(new Date("2049-12-31T23:59:59Z")));
    expect(openssl(["asn1parse", "-inform", "DER", "-in", join(dir, "utc.der")])).toContain("UTCTIME           :491231235959Z");
    writeFileSync(join(dir, "gen.der"), timeDer(new Date("2050-01-01T00:00:00Z")));
    expect(openssl(["asn1parse", "-inform", "DER", "-in", join(dir, "gen.der")])).toContain("GENERALIZEDTIME   :20500101000000Z");
  });
});

describe("serial spelling", () => {
  it("maps every operator spelling of a serial whose first octet is below 0x10 to the stored form", () => {
    const stored = serialHex(Uint8Array.from([0x0f, 0xab, 0x01]));
    expect(stored).toBe("0fab01");
    for (const s of ["0fab01", "0F:AB:01", "fab01", "0x0fab01", "000fab01"]) expect(normalizeSerial(s)).toBe(stored);
  });
  it("rejects text that is not hex", () => {
    expect(() => normalizeSerial("12zz")).toThrow(/hex/);
    expect(() => normalizeSerial("")).toThrow(/hex/);
  });
});
