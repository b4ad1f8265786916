import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import { GatewayError } from "../../src/errors.js";
import type { Gateway } from "../../src/gateway.js";
import { actor, adminAuth } from "../../src/server/admin-api.js";
import { jsonErrors } from "../../src/server/middleware.js";

async function mintFor(gw: Gateway, secrets: EnrollmentSecrets, req: Request, o: { endpoint?: string; subject?: string; ttlMinutes?: number }) {
  const name = o.endpoint ?? gw.config.scep.defaultEndpoint;
  const ep = gw.config.scep.endpoints.find((e) => e.name === name);
  if (!ep) throw new GatewayError("RA_ERR_NOT_FOUND", `no SCEP endpoint ${name}`);
  if (!ep.challenge.oneTimeSecrets) throw new GatewayError("RA_ERR_PROFILE_NOT_ALLOWED", `SCEP endpoint ${name} does not take one-time challenges`);
  const m = await secrets.mint({ profile: ep.profile, subject: o.subject, protocols: ["scep"], ttlMinutes: o.ttlMinutes ?? gw.config.scep.challengeTtlMinutes }, actor(req));
  return { endpoint: name, challenge: m.secret, id: m.id, profile: m.profile, subject: m.subject, expiresAt: m.expiresAt };
}

const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * One-time SCEP challenges for operators and MDM connectors, behind an admin token:
 * `POST /admin/api/v1/scep/challenges` (JSON) and the NDES-style page `GET /certsrv/mscep_admin/`
 * (HTML with "The enrollment challenge password is:", which existing NDES scripts scrape; Basic auth
 * with the admin token as password works too). Each challenge is shown once and stored hashed.
 */
export function scepChallengeAdmin(gw: Gateway, secrets: EnrollmentSecrets): Router {
  const r = express.Router();
  const auth = adminAuth(gw);
  r.post("/admin/api/v1/scep/challenges", auth, express.json({ limit: 4096 }), async (req: Request, res: Response, next: NextFunction) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
    try {
      res.status(201).json(await mintFor(gw, secrets, req, { endpoint: str(b.endpoint), subject: str(b.subject), ttlMinutes: b.ttlMinutes !== undefined ? Number(b.ttlMinutes) : undefined }));
    } catch (e) {
      next(e);
    }
  });
  r.get(["/certsrv/mscep_admin", "/certsrv/mscep_admin/"], auth, async (req: Request, res: Response, next: NextFunction) => {
    const q = req.query;
    let c: Awaited<ReturnType<typeof mintFor>>;
    try {
      c = await mintFor(gw, secrets, req, { endpoint: typeof q.endpoint === "string" ? q.endpoint : undefined, subject: typeof q.subject === "string" ? q.subject : undefined });
    } catch (e) {
      next(e);
      return;
    }
    res.set("Cache-Control", "no-store").type("text/html; charset=utf-8").send(
      `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>SCEP enrollment challenge</title></head><body>` +
      `<p>The enrollment challenge password is: <B> ${html(c.challenge)} </B></p>` +
      `<p>Endpoint ${html(c.endpoint)}, profile ${html(c.profile)}${c.subject ? `, subject ${html(c.subject)}` : ""}. It can be used once and expires at ${html(c.expiresAt)}.</p></body></html>\n`,
    );
  });
  r.use(["/admin/api/v1/scep", "/certsrv/mscep_admin"], jsonErrors);
  return r;
}
