import { execFileSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { derBitString, derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer, printableDer, utf8Der } from "../../src/asn1/der-values.js";

const SHA256_WITH_RSA = derSequence(oidDer("1.2.840.113549.1.1.11"), Uint8Array.of(0x05, 0x00));
const CN = oidDer("2.5.4.3");
const SAN = oidDer("2.5.29.17");
const CHALLENGE_PASSWORD = oidDer("1.2.840.113549.1.9.7");
const EXTENSION_REQUEST = oidDer("1.2.840.113549.1.9.14");

/** The one SCEP client identity of a run: an RSA-2048 key and the self-signed certificate that signs its messages. */
export interface ScepClientIdentity {
  key: KeyObject;
  spki: Uint8Array;
  /** DER; RFC 8894 §2.3: a PKCSReq is signed with the key being certified, under a self-signed certificate. */
  signerCert: Uint8Array;
}

/** Made once per run, before any timing: key generation is not what the bench measures. */
export function makeClientIdentity(dir: string): ScepClientIdentity {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPath = join(dir, "client-key.pem");
  writeFileSync(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  const certPath = join(dir, "client-signer.pem");
  execFileSync("openssl", ["req", "-x509", "-new", "-key", keyPath, "-subj", "/CN=scep bench client signer", "-days", "2", "-out", certPath], { stdio: "pipe" });
  return {
    key: privateKey,
    spki: new Uint8Array(createPublicKey(privateKey).export({ type: "spki", format: "der" })),
    signerCert: new Uint8Array(new X509Certificate(readFileSync(certPath)).raw),
  };
}

/**
 * A PKCS#10 request for the identity's key with `CN=<name>`, the same name as its one DNS SAN and the
 * challengePassword (PrintableString, as scepclient and sscep write it), encoded by hand so the pool costs
 * one RSA signature per request and nothing else.
 */
export function scepCsr(id: ScepClientIdentity, name: string, challenge: string): Uint8Array {
  const subject = derSequence(derTlv(0x31, derSequence(CN, utf8Der(name))));
  const ext = derSequence(SAN, derTlv(0x04, derSequence(derTlv(0x82, Buffer.from(name)))));
  const attrs = [
    derSequence(CHALLENGE_PASSWORD, derTlv(0x31, printableDer(challenge))),
    derSequence(EXTENSION_REQUEST, derTlv(0x31, derSequence(ext))),
  ].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))); // SET OF in DER order (X.690 §11.6)
  const info = derSequence(derTlv(0x02, Uint8Array.of(0)), subject, id.spki, derTlv(0xa0, ...attrs));
  return derSequence(info, SHA256_WITH_RSA, derBitString(sign("sha256", info, id.key)));
}

/** The DNS name of enrollment `i` of pool `tag`: distinct per enrollment, under example.com (the device profile's suffix). */
export const enrollmentName = (tag: string, i: number) => `s${i}-${tag}.scep.bench.example.com`;

/** A growing pool of distinct CSRs for one key, made before timing; each server takes every CSR at most once. */
export class CsrPool {
  private readonly csrs: Uint8Array[] = [];

  constructor(private readonly id: ScepClientIdentity, private readonly tag: string, private readonly challenge: string) {}

  get size(): number {
    return this.csrs.length;
  }

  /** Grows the pool to `count` CSRs; returns the milliseconds it took. */
  fill(count: number): number {
    const t0 = performance.now();
    while (this.csrs.length < count) this.csrs.push(scepCsr(this.id, enrollmentName(this.tag, this.csrs.length), this.challenge));
    return performance.now() - t0;
  }

  at(i: number): Uint8Array | undefined {
    return this.csrs[i];
  }
}
