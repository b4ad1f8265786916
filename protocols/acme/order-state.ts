import type { AcmeAuthzRecord, AcmeAuthzStatus, AcmeOrderRecord, AcmeOrderStatus } from "../../src/store/acme-types.js";

/** An authorization's status as of `now`: pending and valid ones lapse into expired. */
export function authzStatus(a: AcmeAuthzRecord, now: string): AcmeAuthzStatus {
  if ((a.status === "pending" || a.status === "valid") && a.expires <= now) return "expired";
  return a.status;
}

/**
 * RFC 8555 §7.1.6: an order is pending until every authorization is valid (then ready),
 * invalid as soon as one fails or the order expires; processing/valid/invalid are stored.
 */
export function orderStatus(o: AcmeOrderRecord, authzs: AcmeAuthzRecord[], now: string): AcmeOrderStatus {
  if (o.status === "processing" || o.status === "valid" || o.status === "invalid") return o.status;
  if (o.expires <= now) return "invalid";
  const states = authzs.map((a) => authzStatus(a, now));
  if (states.length !== o.authzIds.length || states.some((s) => s !== "pending" && s !== "valid")) return "invalid";
  return states.every((s) => s === "valid") ? "ready" : "pending";
}
