import { GatewayError } from "../errors.js";
import type { Gateway } from "../gateway.js";
import { parseReason, reasonName } from "../revocation/reasons.js";
import { MAX_PAGE_SIZE, type CertificateQuery, type CertificateRecord } from "../store/types.js";

const MAX_CERTIFICATES = 10_000;
const HOLD = 6;

/** Who loses their certificates: an identity ("kind:id", as the inventory records requesters) or a device name. */
export interface EnforcementOrder {
  identity?: string;
  /** A SAN entry ("permanentId:UDID", "dns:host.example.com") or a bare value matched in any name form. */
  device?: string;
  action: "revoke" | "hold" | "release";
  /** CRL reason for "revoke" (default keyCompromise); "hold" always uses certificateHold. */
  reason?: string;
  comment?: string;
}

export interface EnforcementResult {
  action: EnforcementOrder["action"];
  matched: number;
  changed: string[];
  reason?: string;
}

/** Validates an order from JSON (admin API, inbound webhook). */
export function parseEnforcementOrder(body: unknown): EnforcementOrder {
  const b = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const str = (k: string) => (typeof b[k] === "string" && (b[k] as string).length > 0 && (b[k] as string).length <= 512 ? (b[k] as string) : undefined);
  const action = b.action ?? "revoke";
  if (action !== "revoke" && action !== "hold" && action !== "release") throw new GatewayError("RA_ERR_MALFORMED", "action must be revoke, hold or release");
  const identity = str("identity");
  const device = str("device");
  if (!identity === !device) throw new GatewayError("RA_ERR_MALFORMED", "name exactly one of identity (kind:id) or device (a certificate name)");
  if (identity && !/^[^:]+:.+$/.test(identity)) throw new GatewayError("RA_ERR_MALFORMED", "identity must be kind:id, as the inventory records requesters");
  if (action === "revoke") parseReason(str("reason") ?? "keyCompromise");
  return { identity, device, action, reason: str("reason"), comment: str("comment") };
}

/** Every certificate the query matches, walked page by page: an order covers all of an identity's certificates, however many. */
async function allMatching(gw: Gateway, q: CertificateQuery): Promise<CertificateRecord[]> {
  const out: CertificateRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await gw.store.pageCertificates(q, { limit: MAX_PAGE_SIZE, cursor });
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

async function targets(gw: Gateway, o: EnforcementOrder): Promise<CertificateRecord[]> {
  const now = new Date().toISOString();
  if (o.action === "release") {
    if (!o.identity) return gw.store.findHeldByName(o.device!, now, MAX_CERTIFICATES);
    return (await allMatching(gw, { requester: o.identity, status: "revoked" })).filter((c) => c.revocationReason === HOLD && c.notAfter > now);
  }
  // A device's certificates come from the names index (certificate_names), at most MAX_CERTIFICATES of them.
  return o.identity ? allMatching(gw, { requester: o.identity, status: "valid" }) : gw.store.findValidByName(o.device!, now, MAX_CERTIFICATES);
}

/**
 * Live enforcement: revokes (or puts on hold, or releases from hold) every valid certificate of an
 * identity or a device at once; one audit event for the order besides one per certificate. OCSP
 * answers the new status at once; the CRLs of the CAs concerned follow within crl.rebuildDelaySeconds.
 */
export async function enforce(gw: Gateway, o: EnforcementOrder, actor: string, source: "admin" | "webhook"): Promise<EnforcementResult> {
  const list = await targets(gw, o);
  const changed: string[] = [];
  let reason: string | undefined;
  if (o.action === "release") {
    changed.push(...(await gw.revocation.releaseHolds(list, actor)));
  } else {
    const code = o.action === "hold" ? HOLD : parseReason(o.reason ?? "keyCompromise");
    reason = reasonName(code);
    changed.push(...(await gw.revocation.revokeMany(list.map((c) => c.serial), code, actor)));
  }
  await gw.audit.record({
    type: "enforcement.applied", actor, target: o.identity ?? o.device,
    data: { source, action: o.action, selector: o.identity ? { identity: o.identity } : { device: o.device }, reason, comment: o.comment, matched: list.length, changed: changed.length, serials: changed.slice(0, 100) },
  });
  return { action: o.action, matched: list.length, changed, reason };
}
