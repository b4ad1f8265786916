import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { derBitString, derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer, utf8Der } from "../../src/asn1/der-values.js";

const ECDSA_SHA256 = derSequence(oidDer("1.2.840.10045.4.3.2"));
const CN = oidDer("2.5.4.3");
const SAN = oidDer("2.5.29.17");
const EXTENSION_REQUEST = oidDer("1.2.840.113549.1.9.14");

/**
 * A P-256 PKCS#10 request with `CN=<name>` and the same name as its one DNS SAN, encoded by hand
 * (as csr-fast.ts does) so making thousands costs the load generator well under a second.
 */
export function csrWithCn(key: KeyObject, spki: Uint8Array, name: string): Uint8Array {
  const subject = derSequence(derTlv(0x31, derSequence(CN, utf8Der(name))));
  const ext = derSequence(SAN, derTlv(0x04, derSequence(derTlv(0x82, Buffer.from(name)))));
  const attrs = derTlv(0xa0, derSequence(EXTENSION_REQUEST, derTlv(0x31, derSequence(ext))));
  const info = derSequence(derTlv(0x02, Uint8Array.of(0)), subject, spki, attrs);
  return derSequence(info, ECDSA_SHA256, derBitString(sign("sha256", info, key)));
}

/**
 * `count` distinct CSRs (distinct names, so the gateway never answers one from its record of an
 * earlier identical request), over `keys` P-256 keys used in turn. `tag` keeps pools of one run apart.
 */
export function makeCsrPool(count: number, tag: string, keys = 64): Uint8Array[] {
  const pairs = Array.from({ length: Math.min(keys, count) }, () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    return { key: privateKey, spki: new Uint8Array(createPublicKey(privateKey).export({ type: "spki", format: "der" })) };
  });
  return Array.from({ length: count }, (_, i) => {
    const p = pairs[i % pairs.length];
    return csrWithCn(p.key, p.spki, `d${i}-${tag}.bench.example.com`);
  });
}
