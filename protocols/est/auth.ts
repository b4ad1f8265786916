import { createHash, timingSafeEqual, type X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { IncomingMessage } from "node:http";
import { normalizeSerial } from "../../src/ca/serial.js";
import type { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import type { RequesterIdentity } from "../../src/policy/request.js";
import type { CertificateRecord, EnrollmentSecretRecord, Store } from "../../src/store/types.js";
import { presentedChain, verifyChain } from "./client-cert.js";
import type { EstLabel } from "./label.js";

/** Who an EST request comes from, and how that was established. */
export interface EstIdentity {
  requester: RequesterIdentity;
  via: "basic-user" | "enrollment-secret" | "client-certificate";
  /** The TLS client certificate that authenticated (mutual TLS). */
  clientCert?: X509Certificate;
  /** Set when that certificate is one of ours: its inventory record. */
  ownCertificate?: CertificateRecord;
  /** A one-time secret that checked out; the caller consumes it once the request is accepted. */
  secret?: EnrollmentSecretRecord;
}

export type AuthOutcome = { ok: true; identity: EstIdentity } | { ok: false; reason: string };

export interface AuthDeps {
  store: Store;
  secrets: EnrollmentSecrets;
  /** Our issuing CA certificates: a certificate chaining to one is looked up in the inventory. */
  ownAnchors: X509Certificate[];
}

const DAY_MS = 86_400_000;
const digest = (s: string) => createHash("sha256").update(s).digest();

/** A certificate of ours, still in force (or expired within `graceMs`), as its inventory record. */
async function ownRecord(chain: X509Certificate[], deps: AuthDeps, graceMs: number): Promise<{ rec?: CertificateRecord; reason?: string }> {
  const v = verifyChain(chain, deps.ownAnchors, Date.now(), graceMs);
  if (!v) return { reason: "client certificate is not a valid certificate of this gateway" };
  const rec = await deps.store.getCertificate(normalizeSerial(v.leaf.serialNumber));
  if (!rec || rec.stage !== "issued" || !rec.der || !Buffer.from(rec.der).equals(v.leaf.raw)) return { reason: "client certificate is not in the inventory" };
  if (rec.revokedAt) return { reason: `client certificate ${rec.serial} is revoked` };
  return { rec };
}

function certIdentity(c: X509Certificate, own?: CertificateRecord): RequesterIdentity {
  return { kind: "tls-client", id: c.subject.replace(/\n/g, ", "), attributes: { serial: normalizeSerial(c.serialNumber), issuer: c.issuer.replace(/\n/g, ", "), ...(own && { inventory: "own" }) } };
}

/** HTTP Basic: configured users first, then one-time enrollment secrets (user = secret id). */
async function basic(req: IncomingMessage, label: EstLabel, deps: AuthDeps): Promise<AuthOutcome | undefined> {
  const m = /^Basic\s+([A-Za-z0-9+/=]{1,1024})\s*$/i.exec(req.headers.authorization ?? "");
  if (!m) return undefined;
  const text = Buffer.from(m[1], "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 1) return { ok: false, reason: "malformed Basic credentials" };
  const [user, password] = [text.slice(0, colon), text.slice(colon + 1)];
  const known = label.users.get(user);
  if (known) {
    return timingSafeEqual(known, digest(password))
      ? { ok: true, identity: { requester: { kind: "est-user", id: user }, via: "basic-user" } }
      : { ok: false, reason: `wrong password for user ${user}` };
  }
  if (!label.cfg.auth.oneTimeSecrets) return { ok: false, reason: `unknown user ${user}` };
  const secret = await deps.secrets.check(user, password, "est");
  if (!secret) return { ok: false, reason: "unknown user or enrollment secret" };
  if (secret.profile !== label.profile.name) return { ok: false, reason: `enrollment secret ${secret.id} is for profile ${secret.profile}, not ${label.profile.name}` };
  return { ok: true, identity: { requester: { kind: "enrollment-secret", id: secret.id }, via: "enrollment-secret", secret } };
}

/**
 * Authenticates per the label's rules. A valid TLS client certificate wins (ours when
 * `ownCertificates`, or one chaining to the label's trust anchors); otherwise Basic.
 * `reenroll` accepts only a certificate of ours, in force or within the grace period.
 */
export async function authenticate(req: IncomingMessage, label: EstLabel, deps: AuthDeps, reenroll = false): Promise<AuthOutcome> {
  const chain = presentedChain(req.socket as TLSSocket);
  const graceMs = label.cfg.reenrollGraceDays * DAY_MS;
  if (reenroll) {
    if (!chain.length) return { ok: false, reason: "re-enrollment needs the TLS client certificate being renewed" };
    const own = await ownRecord(chain, deps, graceMs);
    if (!own.rec) return { ok: false, reason: own.reason! };
    return { ok: true, identity: { requester: certIdentity(chain[0], own.rec), via: "client-certificate", clientCert: chain[0], ownCertificate: own.rec } };
  }
  let certReason: string | undefined;
  if (chain.length) {
    if (label.cfg.auth.ownCertificates) {
      const own = await ownRecord(chain, deps, 0);
      if (own.rec) return { ok: true, identity: { requester: certIdentity(chain[0], own.rec), via: "client-certificate", clientCert: chain[0], ownCertificate: own.rec } };
      certReason = own.reason;
    }
    if (verifyChain(chain, label.anchors)) return { ok: true, identity: { requester: certIdentity(chain[0]), via: "client-certificate", clientCert: chain[0] } };
    certReason = "client certificate does not chain to a trust anchor of this label";
  }
  const b = label.cfg.auth.basic ? await basic(req, label, deps) : undefined;
  return b ?? { ok: false, reason: certReason ?? "no credentials (client certificate or HTTP Basic)" };
}
