import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import express, { Router } from "express";
import { readSecret } from "../config/load.js";
import { GatewayError } from "../errors.js";
import type { Gateway } from "../gateway.js";
import { enforce, parseEnforcementOrder } from "../lifecycle/enforcement.js";
import { jsonErrors } from "./middleware.js";

const MAX_BODY = 16 * 1024;

/**
 * POST /hooks/enforcement: the same orders as the admin API's /enforcement, from an MDM, an EDR or an
 * identity provider that learns a device or a user became a risk. Authenticated by an HMAC over
 * `timestamp + "." + body` (X-Gateway-Timestamp, X-Gateway-Signature: sha256=<hex>), within a
 * tolerance window, and each signature accepted once.
 */
export function enforcementHookRouter(gw: Gateway): Router {
  const r = Router();
  const cfg = gw.config.enforcement.webhook;
  const key = cfg ? Buffer.from(readSecret(cfg.hmacSecret, "enforcement.webhook.hmacSecret")) : undefined;
  r.post("/hooks/enforcement", express.raw({ type: () => true, limit: MAX_BODY }), async (req, res) => {
    if (!cfg || !key) throw new GatewayError("RA_ERR_NOT_FOUND", "the enforcement webhook is not configured");
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const ts = req.header("x-gateway-timestamp") ?? "";
    const sig = /^sha256=([0-9a-f]{64})$/i.exec(req.header("x-gateway-signature") ?? "")?.[1];
    const fresh = /^\d{1,12}$/.test(ts) && Math.abs(Date.now() / 1000 - Number(ts)) <= cfg.toleranceSeconds;
    const expected = createHmac("sha256", key).update(`${ts}.`).update(body).digest();
    const given = sig ? Buffer.from(sig, "hex") : Buffer.alloc(0);
    if (!fresh || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      await gw.audit.record({ type: "enforcement.webhook_refused", actor: "webhook:enforcement", data: { reason: fresh ? "bad signature" : "missing or stale timestamp", from: req.socket.remoteAddress } });
      throw new GatewayError("RA_ERR_UNAUTHORIZED", "the enforcement webhook needs a fresh timestamp and a valid signature");
    }
    if (!(await gw.store.markChallengeUsed(createHash("sha256").update(expected).digest("hex"), "enforcement-webhook", new Date().toISOString()))) {
      throw new GatewayError("RA_ERR_UNAUTHORIZED", "this signed request was already used");
    }
    let order: unknown;
    try {
      order = JSON.parse(body.toString("utf8"));
    } catch {
      throw new GatewayError("RA_ERR_MALFORMED", "the body must be JSON");
    }
    res.json(await enforce(gw, parseEnforcementOrder(order), "webhook:enforcement", "webhook"));
  });
  r.use(jsonErrors);
  return r;
}
