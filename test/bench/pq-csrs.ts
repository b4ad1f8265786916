/**
 * PKCS#10 requests for the post-quantum bench, encoded by hand (as csr-fast.ts): one per issuance, each with its own
 * name and bytes, from a handful of subject keys of the case's family (ML-DSA at the CA's level, P-256, RSA-2048).
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { derBitString, derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer } from "../../src/asn1/der-values.js";
import { ML_DSA_OIDS } from "../../src/asn1/algorithms.js";
import type { MlDsaLevel } from "../../src/signers/signer.js";

export type BenchKey = "ml-dsa-44" | "ml-dsa-65" | "ml-dsa-87" | "ec-p256" | "rsa-2048";

interface SubjectKey { privateKey: KeyObject; spki: Uint8Array; sigAlg: Uint8Array; hash: "sha256" | null }

function subjectKey(key: BenchKey): SubjectKey {
  if (key.startsWith("ml-dsa-")) {
    const level = Number(key.slice(7)) as MlDsaLevel;
    const { privateKey, publicKey } = generateKeyPairSync(key as "ml-dsa-44");
    // RFC 9881: the signature AlgorithmIdentifier has no parameters; pure ML-DSA signs the message itself.
    return { privateKey, spki: spkiOf(publicKey), sigAlg: derSequence(oidDer(ML_DSA_OIDS[level])), hash: null };
  }
  if (key === "ec-p256") {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    return { privateKey, spki: spkiOf(publicKey), sigAlg: derSequence(oidDer("1.2.840.10045.4.3.2")), hash: "sha256" };
  }
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { privateKey, spki: spkiOf(publicKey), sigAlg: derSequence(oidDer("1.2.840.113549.1.1.11"), Uint8Array.of(0x05, 0x00)), hash: "sha256" };
}

function spkiOf(k: KeyObject): Uint8Array {
  return new Uint8Array(k.export({ type: "spki", format: "der" }));
}

function csrFor(k: SubjectKey, name: string): Uint8Array {
  const san = derSequence(derTlv(0x82, Buffer.from(name)));
  const extReq = derSequence(oidDer("1.2.840.113549.1.9.14"), derTlv(0x31, derSequence(derSequence(oidDer("2.5.29.17"), derTlv(0x04, san)))));
  const info = derSequence(derTlv(0x02, Uint8Array.of(0)), derSequence(), k.spki, derTlv(0xa0, extReq));
  return derSequence(info, k.sigAlg, derBitString(sign(k.hash, info, k.privateKey)));
}

/** `count` requests for one DNS name each under bench.example.com, made before the clock starts. */
export function csrPool(key: BenchKey, count: number): Uint8Array[] {
  const keys = Array.from({ length: 8 }, () => subjectKey(key));
  return Array.from({ length: count }, (_, i) => csrFor(keys[i % keys.length], `device-${i}.bench.example.com`));
}
