import { X509Certificate } from "node:crypto";
import { derToPem } from "../../src/ca/authority.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import { checkDer, DEFAULT_DER_LIMITS } from "../../src/asn1/der-limits.js";
import { GatewayError } from "../../src/errors.js";
import type { CertificateRecord } from "../../src/store/types.js";
import type { AcmeContext, AcmeUrls } from "./context.js";
import { sameKey } from "./jwk.js";
import type { AcmeReply } from "./reply.js";
import { accountOf, objectPayload, type SignedRequest } from "./signed-request.js";

/** Reasons a subscriber may give (RFC 8555 §7.6 defers to RFC 5280; hold and CA-side reasons are not theirs). */
const SUBSCRIBER_REASONS = new Set([0, 1, 3, 4, 5]);

/**
 * The certificate with its chain (§7.4.2). Chain 0 stops below the root (what servers send);
 * alternate 1 also carries the root, for clients that want the full path.
 */
export async function downloadCertificate(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest, serialText: string, alternate: number): Promise<AcmeReply> {
  const rec = await ctx.gw.store.getCertificate(normalizeSerial(serialText));
  if (!rec?.der || rec.stage !== "issued" || rec.protocol !== "acme" || rec.requesterId !== accountOf(r).id) {
    throw new GatewayError("RA_ERR_NOT_FOUND", "no such certificate for this account");
  }
  if (alternate !== 0 && alternate !== 1) throw new GatewayError("RA_ERR_NOT_FOUND", "no such alternate chain");
  const ca = ctx.gw.cas.get(rec.caName);
  const pem = derToPem(rec.der) + chainPem(ca, alternate);
  const links = alternate === 0 && ca.chain.length ? [{ url: urls.certificate(rec.serial, 1), rel: "alternate" }] : alternate === 1 ? [{ url: urls.certificate(rec.serial), rel: "alternate" }] : [];
  return { body: pem, contentType: "application/pem-certificate-chain", links };
}

type Ca = { certDer: Uint8Array; chain: Uint8Array[] };
/** The PEM above the certificate, per CA and alternate: the same for every download, so encoded once. */
const chainPems = new WeakMap<Ca, { certDer: Uint8Array; chain: Uint8Array[]; pems: string[] }>();

function chainPem(ca: Ca, alternate: 0 | 1): string {
  let c = chainPems.get(ca);
  if (!c || c.certDer !== ca.certDer || c.chain !== ca.chain) {
    const pem = (ders: Uint8Array[]) => ders.map((d) => derToPem(d)).join("");
    c = { certDer: ca.certDer, chain: ca.chain, pems: [pem([ca.certDer, ...ca.chain.slice(0, -1)]), pem([ca.certDer, ...ca.chain])] };
    chainPems.set(ca, c);
  }
  return c.pems[alternate];
}

/**
 * revokeCert (§7.6): by the account that ordered it, by an account holding valid
 * authorizations for all its names, or signed with the certificate's own key (jwk).
 */
export async function revokeCert(ctx: AcmeContext, r: SignedRequest): Promise<AcmeReply> {
  const p = objectPayload(r);
  if (typeof p.certificate !== "string" || !/^[A-Za-z0-9_-]+$/.test(p.certificate)) throw new GatewayError("RA_ERR_MALFORMED", "certificate must be base64url DER");
  const der = new Uint8Array(Buffer.from(p.certificate, "base64url"));
  checkDer(der, { ...DEFAULT_DER_LIMITS, maxBytes: 16 * 1024 });
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw new GatewayError("RA_ERR_MALFORMED", "certificate is not a valid X.509 certificate");
  }
  const rec = await ctx.gw.store.getCertificate(normalizeSerial(cert.serialNumber));
  // Byte equality proves the certificate is the one we issued, not a look-alike with our serial.
  if (!rec?.der || !Buffer.from(rec.der).equals(Buffer.from(der))) throw new GatewayError("RA_ERR_NOT_FOUND", "this certificate was not issued here");
  const reason = p.reason === undefined ? 0 : p.reason;
  if (typeof reason !== "number" || !SUBSCRIBER_REASONS.has(reason)) {
    throw new GatewayError("RA_ERR_BAD_REVOCATION_REASON", "reason must be 0 (unspecified), 1, 3, 4 or 5");
  }
  let actor: string;
  if (r.auth.via === "jwk") {
    if (!sameKey(r.auth.key.key, cert.publicKey)) throw new GatewayError("RA_ERR_UNAUTHORIZED", "the JWS key is not the certificate's key");
    actor = "acme-certificate-key";
  } else {
    const account = r.auth.account;
    if (!(await ownsOrControls(ctx, account.id, rec))) throw new GatewayError("RA_ERR_UNAUTHORIZED", "this account neither ordered the certificate nor holds authorizations for all its names");
    actor = `acme-account:${account.id}`;
  }
  await ctx.gw.revocation.revoke(rec.serial, reason, actor);
  return { status: 200 };
}

async function ownsOrControls(ctx: AcmeContext, accountId: string, rec: CertificateRecord): Promise<boolean> {
  if (rec.requesterKind === "acme-account" && rec.requesterId === accountId) return true;
  const held = new Set((await ctx.store.validAuthzIdentifiers(accountId, new Date().toISOString())).map((i) => `${i.type}:${i.value}`));
  return rec.sans.length > 0 && rec.sans.every((s) => held.has(s.toLowerCase()));
}
