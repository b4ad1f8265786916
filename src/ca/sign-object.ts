import { AsnConvert } from "@peculiar/asn1-schema";
import type { TBSCertList, TBSCertificate } from "@peculiar/asn1-x509";
import { derBitString, derSequence } from "../asn1/der-encode.js";
import { algorithmIdentifier, verifyParamsFor, verifySignature, type VerifyParams } from "../asn1/algorithms.js";
import { GatewayError } from "../errors.js";
import type { SignatureAlgorithmName, Signer } from "../signers/signer.js";

/**
 * Signs DER `tbs` once; for a signer whose output is checked (Signer.verifyAfterSign, PKCS#11), verifies the
 * result with the signer's public key before anyone sees it.
 */
export async function signAndVerify(signer: Signer, tbs: Uint8Array): Promise<Buffer> {
  const o = observers.get(signer);
  const t0 = o ? performance.now() : 0;
  let sig: Buffer;
  try {
    sig = await signer.sign(tbs);
  } catch (e) {
    o?.failed();
    throw new GatewayError("RA_ERR_SIGNER_FAILED", "the signer failed", { signer: signer.id, cause: (e as Error).message });
  }
  if (signer.verifyAfterSign !== false) {
    const params = paramsFor(signer.algorithm);
    if (!params || !verifySignature(signer.publicKey, params, tbs, sig)) {
      o?.failed();
      throw new GatewayError("RA_ERR_SIGNER_FAILED", "the signer produced a signature that does not verify", { signer: signer.id });
    }
  }
  o?.signed((performance.now() - t0) / 1000);
  return sig;
}

/** Told about every signature of one signer made through signAndVerify (the gateway's metrics). */
export interface SignerObserver {
  /** A signature made (and verified where the signer asks for it), in seconds. */
  signed(seconds: number): void;
  /** The signer failed or its signature did not verify. */
  failed(): void;
}

/** Per signer object, so every caller (engine, CRLs, OCSP) is measured without being handed the metrics. */
const observers = new WeakMap<Signer, SignerObserver>();

export function observeSigner(signer: Signer, observer: SignerObserver): void {
  observers.set(signer, observer);
}

/** Verification parameters by algorithm name: fixed per algorithm, so derived once. */
const verifyParams = new Map<SignatureAlgorithmName, VerifyParams | undefined>();
function paramsFor(alg: SignatureAlgorithmName): VerifyParams | undefined {
  if (!verifyParams.has(alg)) verifyParams.set(alg, verifyParamsFor(algorithmIdentifier(alg)));
  return verifyParams.get(alg);
}

export async function signCertificate(signer: Signer, tbs: TBSCertificate): Promise<{ der: Uint8Array; tbsDer: Uint8Array }> {
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const sig = await signAndVerify(signer, tbsDer);
  return { der: derSequence(tbsDer, new Uint8Array(AsnConvert.serialize(tbs.signature)), derBitString(sig)), tbsDer };
}

export async function signCrl(signer: Signer, tbs: TBSCertList): Promise<Uint8Array> {
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const sig = await signAndVerify(signer, tbsDer);
  return derSequence(tbsDer, new Uint8Array(AsnConvert.serialize(tbs.signature)), derBitString(sig));
}

export function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
