import { describe, expect, it } from "vitest";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { importSpki } from "../../src/asn1/spki-import.js";

describe("importSpki gives the same key as OpenSSL's DER decoder", () => {
  const cases: Array<[string, () => { publicKey: import("node:crypto").KeyObject }]> = [
    ["P-256", () => generateKeyPairSync("ec", { namedCurve: "prime256v1" })],
    ["P-384", () => generateKeyPairSync("ec", { namedCurve: "secp384r1" })],
    ["P-521", () => generateKeyPairSync("ec", { namedCurve: "secp521r1" })],
    ["RSA-2048", () => generateKeyPairSync("rsa", { modulusLength: 2048 })],
    ["RSA-3072 e=3", () => generateKeyPairSync("rsa", { modulusLength: 3072, publicExponent: 3 })],
    ["Ed25519 (fallback)", () => generateKeyPairSync("ed25519")],
  ];
  it.each(cases)("%s", (_name, gen) => {
    for (let i = 0; i < 5; i++) {
      const { publicKey } = gen();
      const der = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
      expect(importSpki(der).equals(createPublicKey({ key: Buffer.from(der), format: "der", type: "spki" }))).toBe(true);
    }
  });

  it("compressed EC points fall back to the DER decoder", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const jwk = publicKey.export({ format: "jwk" });
    const x = Buffer.from(jwk.x!, "base64url");
    const y = Buffer.from(jwk.y!, "base64url");
    const prefix = Buffer.from("3039301306072a8648ce3d020106082a8648ce3d030107032200", "hex");
    const compressed = Buffer.concat([prefix, Buffer.from([y[31] & 1 ? 0x03 : 0x02]), x]);
    expect(importSpki(compressed).equals(publicKey)).toBe(true);
  });

  it("a point off the curve is refused", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const der = Buffer.from(publicKey.export({ type: "spki", format: "der" }));
    der[der.length - 1] ^= 1;
    expect(() => importSpki(der)).toThrow();
  });
});
