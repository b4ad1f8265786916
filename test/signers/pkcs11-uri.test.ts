import { describe, it, expect } from "vitest";
import { formatPkcs11Uri, parsePkcs11Uri } from "../../src/signers/pkcs11-uri.js";

describe("parsePkcs11Uri", () => {
  it("parses path attributes with percent-encoded bytes in id and UTF-8 in labels", () => {
    const u = parsePkcs11Uri("pkcs11:token=gateway%20ca;object=issuing%2Dkey;id=%01%02%ff%00;type=private;serial=abc123;slot-id=7");
    expect(u.token).toBe("gateway ca");
    expect(u.object).toBe("issuing-key");
    expect(u.id).toEqual(Buffer.from([1, 2, 0xff, 0]));
    expect(u.type).toBe("private");
    expect(u.serial).toBe("abc123");
    expect(u.slotId).toBe(7);
    expect(parsePkcs11Uri("pkcs11:object=caf%C3%A9").object).toBe("café");
    expect(parsePkcs11Uri("pkcs11:id=AB").id).toEqual(Buffer.from("AB"));
  });

  it("parses query attributes: pin-source as path or file: URI, pin-value, module-path", () => {
    expect(parsePkcs11Uri("pkcs11:token=t?pin-source=/run/secrets/pin").pinSource).toBe("/run/secrets/pin");
    expect(parsePkcs11Uri("pkcs11:token=t?pin-source=file:/run/pin").pinSource).toBe("/run/pin");
    expect(parsePkcs11Uri("pkcs11:token=t?pin-source=file:///run/my%20pin").pinSource).toBe("/run/my pin");
    expect(parsePkcs11Uri("pkcs11:token=t?pin-source=file://localhost/run/pin").pinSource).toBe("/run/pin");
    const u = parsePkcs11Uri("pkcs11:token=t;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=12%2634&x-vendor=1");
    expect(u.modulePath).toBe("/usr/lib/softhsm/libsofthsm2.so");
    expect(u.pinValue).toBe("12&34");
    expect(parsePkcs11Uri("pkcs11:").token).toBeUndefined();
  });

  it("keeps other standard path attributes without using them", () => {
    expect(parsePkcs11Uri("pkcs11:manufacturer=SoftHSM%20project;token=t").other).toEqual({ manufacturer: "SoftHSM project" });
  });

  it.each([
    ["http://example.com/", /must start with "pkcs11:"/],
    ["pkcs12:token=x", /must start with "pkcs11:"/],
    ["token=x", /must start with "pkcs11:"/],
    ["pkcs11:token=a;token=b", /duplicate path attribute "token"/],
    ["pkcs11:token", /malformed path attribute/],
    ["pkcs11:id=%zz", /malformed percent-encoding/],
    ["pkcs11:id=%4", /malformed percent-encoding/],
    ["pkcs11:object=a b", /invalid character/],
    ["pkcs11:object=%ff", /not valid UTF-8/],
    ["pkcs11:type=secret", /unknown type/],
    ["pkcs11:slot-id=-1", /slot-id must be a decimal/],
    ["pkcs11:x-vendor=1", /unsupported path attribute "x-vendor"/],
    ["pkcs11:token=t?pin-value=1&pin-source=/f", /mutually exclusive/],
    ["pkcs11:token=t?pin-source=file://host/f", /must be local/],
  ])("rejects %s", (input, message) => {
    expect(() => parsePkcs11Uri(input)).toThrow(message);
  });
});

describe("formatPkcs11Uri", () => {
  it("round-trips and never writes the PIN", () => {
    const text = "pkcs11:token=gateway%20ca;object=root;id=%00%A1;type=private?module-path=/usr/lib/x.so&pin-value=s3cr3t-PIN";
    const u = parsePkcs11Uri(text);
    const out = formatPkcs11Uri(u);
    expect(out).not.toContain("s3cr3t-PIN");
    expect(out).not.toContain("pin-value");
    expect(out).toBe("pkcs11:token=gateway%20ca;object=root;id=%00%A1;type=private?module-path=/usr/lib/x.so");
    const back = parsePkcs11Uri(out);
    expect(back.token).toBe("gateway ca");
    expect(back.id).toEqual(Buffer.from([0, 0xa1]));
    expect(formatPkcs11Uri(u, { query: false })).toBe("pkcs11:token=gateway%20ca;object=root;id=%00%A1;type=private");
  });

  it("encodes every id byte and reserved characters in labels", () => {
    const out = formatPkcs11Uri({ token: "a;b?c", object: "x=y&z", id: Buffer.from("0a", "hex"), slotId: 3, pinSource: "/run/pin" });
    expect(out).toBe("pkcs11:token=a%3Bb%3Fc;slot-id=3;object=x%3Dy%26z;id=%0A?pin-source=/run/pin");
    const back = parsePkcs11Uri(out);
    expect([back.token, back.object, back.slotId, back.pinSource]).toEqual(["a;b?c", "x=y&z", 3, "/run/pin"]);
  });
});
