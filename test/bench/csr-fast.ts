import { createPublicKey, sign, type KeyObject } from "node:crypto";
import { derSequence, derTlv, derBitString } from "../../src/asn1/der-encode.js";
import { oidDer } from "../../src/asn1/der-values.js";

const ECDSA_SHA256 = derSequence(oidDer("1.2.840.10045.4.3.2"));

/**
 * A PKCS#10 request for one DNS name, encoded by hand so the load generator spends
 * microseconds, not milliseconds, per order (the servers are what is measured).
 */
export function csrForName(key: KeyObject, name: string): Uint8Array {
  const spki = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
  const san = derSequence(derTlv(0x82, Buffer.from(name)));
  const ext = derSequence(oidDer("2.5.29.17"), derTlv(0x04, san));
  const extReq = derSequence(oidDer("1.2.840.113549.1.9.14"), derTlv(0x31, derSequence(ext)));
  const info = derSequence(derTlv(0x02, Uint8Array.of(0)), derSequence(), spki, derTlv(0xa0, extReq));
  const sig = sign("sha256", info, key);
  return derSequence(info, ECDSA_SHA256, derBitString(sig));
}
