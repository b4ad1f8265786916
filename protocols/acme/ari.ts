import { serialHex } from "../../src/ca/serial.js";
import { GatewayError } from "../../src/errors.js";
import type { Gateway } from "../../src/gateway.js";
import type { CertificateRecord } from "../../src/store/types.js";
import type { AcmeReply } from "./reply.js";

/**
 * RFC 9773 certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial DER
 * content octets). Returns the stored record when the AKI is one of our issuing CAs'.
 */
export async function certificateForCertId(gw: Gateway, certId: unknown): Promise<CertificateRecord> {
  if (typeof certId !== "string" || !/^[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{1,64}$/.test(certId)) {
    throw new GatewayError("RA_ERR_MALFORMED", "a certificate identifier is base64url(AKI).base64url(serial)");
  }
  const [aki, serial] = certId.split(".");
  const keyId = Buffer.from(aki, "base64url");
  const ca = gw.cas.issuing.find((c) => Buffer.from(c.keyId).equals(keyId));
  const rec = ca ? await gw.store.getCertificate(serialHex(Buffer.from(serial, "base64url"))) : undefined;
  if (!ca || !rec || rec.caName !== ca.name || rec.stage !== "issued") throw new GatewayError("RA_ERR_NOT_FOUND", "no certificate of ours has this identifier");
  return rec;
}

/** The suggested renewal window: the profile's renewal window before expiry, at once when revoked. */
export async function renewalInfo(gw: Gateway, certId: string, explanationUrl?: string): Promise<AcmeReply> {
  const rec = await certificateForCertId(gw, certId);
  const notAfter = new Date(rec.notAfter).getTime();
  const windowMs = (gw.profiles.has(rec.profile) ? gw.profiles.get(rec.profile).renewal.windowDays : 30) * 86_400_000;
  const lifetime = notAfter - new Date(rec.notBefore).getTime();
  // Never suggest renewing before a third of the lifetime has passed, for short-lived certificates.
  let start = notAfter - Math.min(windowMs, (lifetime * 2) / 3);
  let end = start + (notAfter - start) / 2;
  if (rec.revokedAt) {
    const now = Date.now();
    start = now - 86_400_000;
    end = now - 3_600_000;
  }
  return {
    json: { suggestedWindow: { start: new Date(start).toISOString(), end: new Date(end).toISOString() }, ...(explanationUrl ? { explanationURL: explanationUrl } : {}) },
    retryAfterSeconds: 6 * 3600,
  };
}
