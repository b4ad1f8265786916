import type { DecodedMessage } from "./codec.js";
import { CmpFailure, type Authenticated, type CmpDeps } from "./context.js";
import type { CmpLabel } from "./label.js";
import { MacPoolBusy } from "./mac-pool.js";
import { verifyMac, type Verdict } from "./protection.js";
import type { OpenTransaction } from "./transactions.js";

/** Stands in for the secret of an unknown senderKID, so an unknown KID costs the same derivation as a known one. */
const NO_SECRET = new Uint8Array(32);

/** The MAC secret for a senderKID: configured, the one of this open transaction, or a one-time secret not used yet. */
async function macSecretFor(kid: string, label: CmpLabel, deps: CmpDeps, open: OpenTransaction | undefined): Promise<{ secret: Uint8Array; oneTime?: { id: string; subject?: string } } | undefined> {
  const configured = label.macSecrets.get(kid);
  if (configured) return { secret: configured };
  if (!label.cfg.oneTimeSecrets) return undefined;
  if (open?.protection.kind === "mac" && open.protection.kid === kid) {
    const found = await deps.secrets.macSecret(kid, "cmp", undefined, true);
    return found && found.rec.profile === label.profile.name ? { secret: found.secret } : undefined;
  }
  const found = await deps.secrets.macSecret(kid, "cmp");
  if (!found || found.rec.profile !== label.profile.name) return undefined;
  return { secret: found.secret, oneTime: { id: kid, subject: found.rec.subject } };
}

/**
 * Authenticates a PasswordBasedMac or PBMAC1 message. In order, all before any key derivation: the sender's
 * throttle (senderKID and source address), the secret, the parameter caps; then the key is taken from the
 * cache of keys that verified before, or derived in the bounded pool. A failed MAC counts against both throttles, and the failure that starts a refusal is audited.
 */
export async function authenticateMac(d: DecodedMessage, label: CmpLabel, deps: CmpDeps, open: OpenTransaction | undefined, peer: string): Promise<Authenticated> {
  const h = d.message.header;
  const kid = h.senderKID ? Buffer.from(h.senderKID).toString("utf8") : "";
  const { pool, cache, throttle, metrics } = deps.mac;
  const cfg = deps.gw.config.cmp;
  const stop = throttle.check(kid, peer);
  if (stop) {
    metrics.refused.inc({ reason: "throttled" });
    throw new CmpFailure(["systemUnavail"], `too many failed MAC protections from this ${stop.scope}; retry after ${stop.retryAfterSeconds} s`,
      { retryAfterSeconds: stop.retryAfterSeconds, unaudited: true });
  }
  const found = await macSecretFor(kid, label, deps, open);
  let v: Verdict;
  try {
    v = await verifyMac(d, found?.secret ?? NO_SECRET, cfg, { derive: (plan, secret) => pool.derive(plan, secret), cache });
  } catch (e) {
    if (!(e instanceof MacPoolBusy)) throw e;
    metrics.refused.inc({ reason: "busy" });
    throw new CmpFailure(["systemUnavail"], "too many MAC verifications in progress; retry later", { retryAfterSeconds: 1, unaudited: true });
  }
  if (!found || !v.ok) {
    for (const t of throttle.failed(kid, peer)) {
      const failures = t.scope === "senderKID" ? cfg.macFailures.perKid : cfg.macFailures.perAddress;
      await deps.gw.audit.record({ type: "cmp.mac.throttled", actor: "cmp:unauthenticated", target: t.key, data: {
        label: label.cfg.name, scope: t.scope, failures, windowSeconds: cfg.macFailures.windowSeconds, retryAfterSeconds: t.retryAfterSeconds,
      } });
    }
    throw new CmpFailure(["badMessageCheck"], found ? v.reason ?? "MAC does not verify" : "unknown senderKID or wrong MAC");
  }
  const requester = found.oneTime ? { kind: "enrollment-secret", id: kid } : { kind: "cmp-kid", id: kid };
  return { protection: { kind: "mac", kid, secret: found.secret }, requester, trustedRa: false, oneTime: found.oneTime };
}
