import { X509Certificate } from "node:crypto";
import type { CertificateRecord, Store } from "../store/types.js";
import type { CaRegistry } from "./authority.js";
import { normalizeSerial } from "./serial.js";

/**
 * A certificate this gateway issued that is still in force: signed by one of our issuing CAs, the same
 * bytes as the inventory's, not revoked, within its validity (plus `graceMs` after notAfter). Its record,
 * or undefined. Front-ends use it to authenticate renewals and revocations by the certificate itself.
 */
export async function ownValidCertificate(store: Store, cas: CaRegistry, certDer: Uint8Array, graceMs = 0, now = Date.now()): Promise<CertificateRecord | undefined> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certDer);
  } catch {
    return undefined;
  }
  const ca = cas.issuing.find((a) => cert.checkIssued(a.cert) && cert.verify(a.cert.publicKey));
  if (!ca) return undefined;
  const rec = await store.getCertificate(normalizeSerial(cert.serialNumber));
  if (!rec?.der || rec.stage !== "issued" || rec.revokedAt || rec.caName !== ca.name || !Buffer.from(rec.der).equals(cert.raw)) return undefined;
  return Date.parse(rec.notBefore) <= now && now <= Date.parse(rec.notAfter) + graceMs ? rec : undefined;
}
