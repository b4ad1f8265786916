import { createHash, randomBytes } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { BasicOCSPResponse, OCSPResponse, OCSPResponseStatus, id_pkix_ocsp_basic, id_pkix_ocsp_nonce } from "@peculiar/asn1-ocsp";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { octetStringDer, oidDer, unsignedIntegerDer } from "../../src/asn1/der-values.js";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import type { Store } from "../../src/store/types.js";

const SHA1 = derSequence(oidDer("1.3.14.3.2.26"), Uint8Array.of(0x05, 0x00));

/** OCSPRequests naming `issuer` (SHA-1 CertIDs); several serials make one request with several CertIDs. */
export function ocspRequest(issuerDer: Uint8Array, serials: string[], nonce?: Uint8Array): Uint8Array {
  const tbs = AsnConvert.parse(issuerDer, Certificate).tbsCertificate;
  const nameHash = createHash("sha1").update(new Uint8Array(AsnConvert.serialize(tbs.subject))).digest();
  const keyHash = createHash("sha1").update(new Uint8Array(tbs.subjectPublicKeyInfo.subjectPublicKey)).digest();
  const list = serials.map((s) => derSequence(derSequence(SHA1, octetStringDer(nameHash), octetStringDer(keyHash), unsignedIntegerDer(Buffer.from(s, "hex")))));
  const ext = nonce ? [derTlv(0xa2, derSequence(derSequence(oidDer(id_pkix_ocsp_nonce), octetStringDer(octetStringDer(nonce)))))] : [];
  return derSequence(derSequence(derSequence(...list), ...ext));
}

export interface Parsed {
  status: OCSPResponseStatus;
  basic?: BasicOCSPResponse;
  /** Per SingleResponse: "good" | "revoked" | "unknown", with the reason when revoked. */
  certs: Array<{ status: string; reason?: number; revokedAt?: Date }>;
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** The echoed nonce extnValue contents, hex. */
  nonceHex?: string;
}

export function parseResponse(der: Uint8Array): Parsed {
  const r = AsnConvert.parse(der, OCSPResponse);
  if (r.responseStatus !== OCSPResponseStatus.successful) return { status: r.responseStatus, certs: [] };
  if (r.responseBytes?.responseType !== id_pkix_ocsp_basic) throw new Error("not a basic response");
  const basic = AsnConvert.parse(r.responseBytes.response, BasicOCSPResponse);
  const singles = basic.tbsResponseData.responses;
  const nonce = basic.tbsResponseData.responseExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  return {
    status: r.responseStatus, basic,
    certs: singles.map((s) => s.certStatus.revoked
      ? { status: "revoked", reason: s.certStatus.revoked.revocationReason?.reason, revokedAt: s.certStatus.revoked.revocationTime }
      : { status: s.certStatus.good !== undefined ? "good" : "unknown" }),
    thisUpdate: singles[0]?.thisUpdate, nextUpdate: singles[0]?.nextUpdate,
    nonceHex: nonce ? Buffer.from(nonce.extnValue.buffer).toString("hex") : undefined,
  };
}

/** A random positive serial, lowercase hex. */
export function newSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) | 0x01;
  return b.toString("hex");
}

/** An issued certificate row of `ca` (OCSP reads only the status columns). */
export async function addIssued(store: Store, ca: string, serial = newSerial()): Promise<string> {
  const now = new Date().toISOString();
  await store.insertCertificateIntent({
    serial, caName: ca, profile: "tls-server", protocol: "admin", requestId: `t-${serial}`, requesterKind: "admin", requesterId: "test",
    subject: `CN=${serial}.example.com`, sans: [`dns:${serial}.example.com`], notBefore: now, notAfter: new Date(Date.now() + 86_400_000).toISOString(),
    keyAlgorithm: "ec-p256", stage: "intent", tbsSha256: serial.padEnd(64, "0"), createdAt: now,
  });
  await store.completeIssuance(serial, Uint8Array.of(0x30, 0x00));
  return serial;
}

/** Counts signatures made by `ca`'s delegated OCSP responder. */
export function countSignatures(ca: CertificateAuthority): { readonly count: number } {
  const signer = ca.ocsp!.signer;
  const sign = signer.sign.bind(signer);
  const counter = { count: 0 };
  Object.defineProperty(signer, "sign", { configurable: true, value: async (data: Uint8Array) => { counter.count++; return sign(data); } });
  return counter;
}
