import type { Router } from "express";
import { normalizeSerial } from "../ca/serial.js";
import { GatewayError } from "../errors.js";
import type { Gateway } from "../gateway.js";
import { exportAudit } from "../lifecycle/audit-export.js";
import { enforce, parseEnforcementOrder } from "../lifecycle/enforcement.js";
import { MAX_LISTED } from "../lifecycle/monitor.js";
import { CRITICALITIES } from "../policy/profile.js";
import type { Classification } from "../store/types.js";
import { actor, certJson, str } from "./admin-helpers.js";

const FIELDS = ["owner", "application", "environment", "criticality"] as const;

/** `{owner, application, environment, criticality}`: strings set a field, null clears it. */
function classificationPatch(body: unknown): { [K in keyof Classification]?: Classification[K] | null } {
  const b = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const out: Record<string, string | null> = {};
  for (const k of FIELDS) {
    const v = b[k];
    if (v === undefined) continue;
    if (v !== null && (typeof v !== "string" || !v || v.length > 200)) throw new GatewayError("RA_ERR_MALFORMED", `${k} must be a string of 1 to 200 characters, or null`);
    if (k === "criticality" && v !== null && !(CRITICALITIES as readonly string[]).includes(v as string)) throw new GatewayError("RA_ERR_MALFORMED", `criticality must be one of ${CRITICALITIES.join(", ")}`);
    out[k] = v as string | null;
  }
  if (!Object.keys(out).length) throw new GatewayError("RA_ERR_MALFORMED", `set at least one of ${FIELDS.join(", ")}`);
  return out as { [K in keyof Classification]?: Classification[K] | null };
}

/** Admin API: classification, renewal monitoring, live enforcement, audit evidence export. */
export function mountLifecycleRoutes(r: Router, gw: Gateway): void {
  r.patch("/certificates/:serial/classification", async (req, res) => {
    const serial = normalizeSerial(String(req.params.serial));
    const patch = classificationPatch(req.body);
    if (!(await gw.store.classify(serial, patch))) throw new GatewayError("RA_ERR_NOT_FOUND", "no such certificate");
    await gw.audit.record({ type: "certificate.classified", actor: actor(req), target: serial, data: patch });
    res.json({ certificate: certJson((await gw.store.getCertificate(serial))!) });
  });

  r.get("/lifecycle/renewals", async (req, res) => {
    const s = await gw.lifecycle.state(new Date(), { profile: str(req.query.profile), owner: typeof req.query.owner === "string" ? req.query.owner : undefined });
    const state = str(req.query.state);
    if (state && state !== "due" && state !== "missed") throw new GatewayError("RA_ERR_MALFORMED", "state must be due or missed");
    res.json({
      ...(state !== "missed" ? { due: s.due.map(certJson) } : {}),
      ...(state !== "due" ? { missed: s.missed.map(certJson) } : {}),
      // Never silent: a list that stopped at its bound says so.
      ...(s.truncated ? { truncated: true, maxListed: MAX_LISTED } : {}),
    });
  });
  r.post("/lifecycle/scan", async (_req, res) => {
    res.json(await gw.lifecycle.scan());
  });

  r.post("/enforcement", async (req, res) => {
    res.json(await enforce(gw, parseEnforcementOrder(req.body), actor(req), "admin"));
  });

  r.get("/audit/export", async (req, res) => {
    const out = await exportAudit(gw.store, gw.audit, { from: str(req.query.from), to: str(req.query.to) });
    await gw.audit.record({ type: "audit.exported", actor: actor(req), data: { period: out.period, events: out.segment.count, verified: out.segment.verified && out.chain.ok } });
    res.setHeader("Content-Disposition", `attachment; filename="audit-${out.segment.firstSeq ?? 0}-${out.segment.lastSeq ?? 0}.json"`);
    res.json(out);
  });
}
