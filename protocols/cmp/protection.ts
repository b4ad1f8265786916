import { timingSafeEqual } from "node:crypto";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { algorithmIdentifier } from "../../src/asn1/algorithms.js";
import { derSequence } from "../../src/asn1/der-encode.js";
import { certFacts, curveHash, type CertFacts } from "../../src/cms/der.js";
import type { SignatureAlgorithmName } from "../../src/signers/signer.js";
import { PKIHeader, type PKIBody } from "./asn1/message.js";
import { encodePkiMessage, toDer, type DecodedMessage } from "./codec.js";
import { macKey, macPlan, macWithKey, responseProtection, type MacCaps, type MacKeySource, type MacSpec } from "./mac.js";
import { CMP_OID } from "./oids.js";
import { verifyAlgSignature } from "./signature.js";

export { DEFAULT_MAC_SPEC, type DeriveKey, type MacCaps, type MacKeySource, type MacSpec } from "./mac.js";

export type ProtectionKind = "pbm" | "pbmac1" | "signature" | "none";
export interface Verdict {
  ok: boolean;
  reason?: string;
}

/** Which protection the header announces; any protectionAlg that is not a known MAC counts as a signature. */
export function macAlgorithmOf(header: PKIHeader): ProtectionKind {
  const oid = header.protectionAlg?.algorithm;
  if (!oid) return "none";
  if (oid === CMP_OID.passwordBasedMac) return "pbm";
  return oid === CMP_OID.pbmac1 ? "pbmac1" : "signature";
}

/**
 * Verifies PasswordBasedMac or PBMAC1 protection with the shared secret. Salt length and iteration count are
 * checked against `caps` (and the hash allow-list applied) before any key derivation, so a hostile
 * iteration count costs nothing; the key comes from `keys` (a cached key, or a derivation off the event loop,
 * cached once the MAC verified); the MAC comparison is constant-time. Rejects only when the derivation does
 * (a busy or closed pool).
 */
export async function verifyMac(decoded: DecodedMessage, secret: Uint8Array, caps: MacCaps, keys: MacKeySource): Promise<Verdict> {
  const alg = decoded.message.header.protectionAlg;
  if (!alg) return { ok: false, reason: "message is not protected (no protectionAlg)" };
  if (!decoded.protection) return { ok: false, reason: "protection is missing" };
  const plan = macPlan(alg, caps);
  if (typeof plan === "string") return { ok: false, reason: plan };
  const k = await macKey(plan, secret, keys);
  const expected = macWithKey(plan, k.key, decoded.protectedPart);
  const ok = expected.length === decoded.protection.length && timingSafeEqual(expected, decoded.protection);
  if (!ok) return { ok, reason: "MAC does not verify" };
  k.keep();
  return { ok };
}

/**
 * A MAC-protected PKIMessage (DER). `like` is the request's protectionAlg, mirrored salt included (its key,
 * verified already, is reused from `keys`' cache) with HMAC-SHA1 upgraded to HMAC-SHA256 (OpenSSL 3.0 only
 * speaks PasswordBasedMac, so a PBM request must get a PBM answer); or a MacSpec with this process's salt;
 * default PBMAC1 HMAC-SHA256, 16-byte salt, 10 000 iterations. Only call it for a secret that authenticated
 * the request: the key is cached. `header` is not modified: the protectionAlg goes into a copy.
 */
export async function macProtect(header: PKIHeader, body: PKIBody, secret: Uint8Array, keys: MacKeySource, like?: AlgorithmIdentifier | MacSpec, extraCerts: Uint8Array[] = []): Promise<Uint8Array> {
  return macProtectDer((protectionAlg) => toDer(new PKIHeader({ ...header, protectionAlg })), toDer(body), secret, keys, like, extraCerts);
}

/** macProtect with the header written by `header` for the protectionAlg chosen (responseHeaderDer) and the body as DER. */
export async function macProtectDer(header: (protectionAlg: AlgorithmIdentifier) => Uint8Array, body: Uint8Array, secret: Uint8Array, keys: MacKeySource, like?: AlgorithmIdentifier | MacSpec, extraCerts: Uint8Array[] = []): Promise<Uint8Array> {
  const { plan, alg } = responseProtection(like);
  const k = await macKey(plan, secret, keys);
  k.keep();
  const h = header(alg);
  return encodePkiMessage(h, body, macWithKey(plan, k.key, derSequence(h, body)), extraCerts);
}

/**
 * Verifies signature protection over the ProtectedPart as received. The protection certificate is the
 * extraCerts entry whose subjectKeyIdentifier equals senderKID, else the first (RFC 9483 §3.3). Only the
 * signature is checked: whether that certificate is trusted is the caller's decision (`signerCert`).
 */
export function verifySignature(decoded: DecodedMessage): Verdict & { signerCert?: Uint8Array } {
  const alg = decoded.message.header.protectionAlg;
  if (!alg) return { ok: false, reason: "message is not protected (no protectionAlg)" };
  if (!decoded.protection) return { ok: false, reason: "protection is missing" };
  if (macAlgorithmOf(decoded.message.header) !== "signature") return { ok: false, reason: "protection is a MAC, not a signature" };
  const facts: CertFacts[] = [];
  for (const der of decoded.extraCerts) {
    try {
      facts.push(certFacts(der, "extraCerts certificate"));
    } catch {
      // An unreadable extra certificate cannot be the signer; others may be.
    }
  }
  const kid = decoded.message.header.senderKID;
  const byKid = kid ? facts.find((f) => f.ski && Buffer.from(f.ski).equals(Buffer.from(kid))) : undefined;
  const signer = byKid ?? (decoded.extraCerts[0] && facts[0]?.der === decoded.extraCerts[0] ? facts[0] : undefined);
  if (!signer) return { ok: false, reason: "no usable protection certificate in extraCerts" };
  const v = verifyAlgSignature(signer.publicKey, alg, decoded.protectedPart, decoded.protection);
  return { ...v, signerCert: signer.der };
}

export interface ProtectionSigner {
  /** The protection certificate (its subject should be the header's sender). */
  cert: Uint8Array;
  /** Further certificates for extraCerts, signer's issuer first. */
  chain: Uint8Array[];
  keyType: "ec" | "rsa";
  /** Signs `data` with `hash`; ECDSA returns DER Ecdsa-Sig-Value, RSA PKCS#1 v1.5 the raw signature. */
  sign: (data: Uint8Array, hash: string) => Promise<Uint8Array>;
}

/**
 * A signature-protected PKIMessage (DER): ECDSA with the curve's hash, or RSA PKCS#1 v1.5 SHA-256. Sets
 * protectionAlg and, when the header has none and the certificate has one, senderKID = subjectKeyIdentifier
 * (RFC 9483 §3.1). extraCerts = [cert, ...chain]. The signature is verified before the message is returned.
 */
export async function signProtect(header: PKIHeader, body: PKIBody | Uint8Array, signer: ProtectionSigner): Promise<Uint8Array> {
  const facts = ownCertFacts(signer.cert);
  const hash = signer.keyType === "ec" ? curveHash(facts.publicKey) : "sha256";
  const name: SignatureAlgorithmName = signer.keyType === "ec" ? `ecdsa-${hash}` : `rsa-pkcs1-${hash}`;
  const protectionAlg = algorithmIdentifier(name);
  const senderKID = header.senderKID ?? (facts.ski ? toArrayBuffer(facts.ski) : undefined);
  const h = toDer(new PKIHeader({ ...header, protectionAlg, senderKID }));
  const b = body instanceof Uint8Array ? body : toDer(body);
  const protectedPart = derSequence(h, b);
  const signature = await signer.sign(protectedPart, hash);
  const check = verifyAlgSignature(facts.publicKey, protectionAlg, protectedPart, signature);
  if (!check.ok) throw new Error(`CMP protection signature does not verify with the protection certificate: ${check.reason}`);
  return encodePkiMessage(h, b, signature, [signer.cert, ...signer.chain]);
}

/** Our protection certificate's facts and key, read once per certificate object (the responder's never changes). */
const ownFacts = new WeakMap<Uint8Array, CertFacts>();
function ownCertFacts(cert: Uint8Array): CertFacts {
  let f = ownFacts.get(cert);
  if (!f) ownFacts.set(cert, (f = certFacts(cert, "protection certificate")));
  return f;
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
