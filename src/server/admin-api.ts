import { normalizeSerial } from "../ca/serial.js";
import express, { type NextFunction, type Request, type Response, Router } from "express";
import { derToPem, pemToDer } from "../ca/authority.js";
import type { EnrollmentSecrets } from "../enrollment/secrets.js";
import { EabKeys } from "../../protocols/acme/eab.js";
import type { AcmeEabKeyRecord } from "../store/acme-types.js";
import { EnrollmentService } from "../enrollment/service.js";
import { GatewayError } from "../errors.js";
import type { Gateway } from "../gateway.js";
import { hashToken } from "../gateway.js";
import type { CertificateQuery, RequestStatus } from "../store/types.js";
import { actor, certJson, pageParams, str } from "./admin-helpers.js";
import { mountConsoleRoutes, requestSummary } from "./admin-console.js";
import { mountEventRoutes } from "./admin-events.js";
import type { ConsoleSessions } from "./console-session.js";
import { mountLifecycleRoutes } from "./admin-lifecycle.js";
import { mountReportRoutes } from "./admin-reports.js";
import { jsonErrors } from "./middleware.js";

const REQUEST_STATUSES: RequestStatus[] = ["pending", "approved", "rejected", "issued", "failed"];

declare module "express-serve-static-core" {
  interface Request {
    admin?: { id: string; name: string };
  }
}

/** The admin token from `Authorization: Bearer <token>`, or from Basic with the token as password (scripts written for NDES). */
function presentedToken(header: string): string | undefined {
  const b = /^Bearer\s+(\S+)$/i.exec(header);
  if (b) return b[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]{1,1024})$/i.exec(header);
  if (!basic) return undefined;
  const text = Buffer.from(basic[1], "base64").toString("utf8");
  return text.includes(":") ? text.slice(text.indexOf(":") + 1) : undefined;
}

/** Bearer (or Basic) admin tokens; with `sessions`, also the console's session cookie plus its CSRF token. */
export function adminAuth(gw: Gateway, sessions?: ConsoleSessions) {
  // Async: store look-ups are; a failure (store down) is passed on to the error handler, never left unhandled.
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    let session: Awaited<ReturnType<ConsoleSessions["fromRequest"]>>;
    let found: { id: string; name: string } | undefined;
    try {
      session = !req.header("authorization") ? await sessions?.fromRequest(req) : undefined;
      if (session) sessions!.checkCsrf(req, session);
      const token = session ? undefined : presentedToken(req.header("authorization") ?? "");
      // Tokens are stored as SHA-256; looking up the hash leaks no timing about the token.
      found = token ? await gw.store.findAdminTokenByHash(hashToken(token)) : undefined;
    } catch (e) {
      next(e);
      return;
    }
    if (session) {
      req.admin = session.admin;
      next();
      return;
    }
    if (!found) {
      res.setHeader("WWW-Authenticate", 'Bearer realm="gateway-admin"');
      next(new GatewayError("RA_ERR_UNAUTHORIZED", "a valid admin bearer token is required"));
      return;
    }
    req.admin = found;
    next();
  };
}

export { actor } from "./admin-helpers.js";


/** Parses a CSR given as PEM or base64 DER. */
export function csrBytes(input: unknown): Uint8Array {
  if (typeof input !== "string" || !input.trim()) throw new GatewayError("RA_ERR_MALFORMED", "csr is required (PEM or base64 DER)");
  try {
    return input.includes("-----BEGIN") ? pemToDer(input) : new Uint8Array(Buffer.from(input.replace(/\s+/g, ""), "base64"));
  } catch {
    throw new GatewayError("RA_ERR_MALFORMED", "csr is neither PEM nor base64 DER");
  }
}

export function adminRouter(gw: Gateway, secrets: EnrollmentSecrets, sessions?: ConsoleSessions): Router {
  const r = Router();
  r.use(adminAuth(gw, sessions));
  // Every body is read as JSON whatever its Content-Type, so the cap holds for all of them.
  r.use(express.json({ limit: gw.config.limits.maxBodyBytes, type: () => true }));

  r.get("/certificates", async (req, res) => {
    const q: CertificateQuery = {
      status: str(req.query.status) as CertificateQuery["status"], profile: str(req.query.profile), protocol: str(req.query.protocol),
      caName: str(req.query.ca), name: str(req.query.name),
      expiringBefore: str(req.query.expiringBefore)
        ?? (req.query.expiringWithinDays ? new Date(Date.now() + Number(req.query.expiringWithinDays) * 86_400_000).toISOString() : undefined),
      owner: str(req.query.owner), application: str(req.query.application), environment: str(req.query.environment),
      criticality: str(req.query.criticality), requester: str(req.query.requester),
    };
    if (q.status && !["valid", "revoked", "expired", "intent", "failed"].includes(q.status)) throw new GatewayError("RA_ERR_MALFORMED", "status must be valid, revoked, expired, intent or failed");
    const page = pageParams(req);
    if (req.query.offset !== undefined) {
      // Offset paging stays for callers that jump to a page number; it may skip or repeat rows while certificates are issued.
      const offset = Number(req.query.offset);
      if (page.cursor || !Number.isInteger(offset) || offset < 0) throw new GatewayError("RA_ERR_MALFORMED", "offset must be a non-negative integer, and not given with cursor");
      res.json({ certificates: (await gw.store.findCertificates({ ...q, limit: page.limit, offset })).map(certJson) });
      return;
    }
    const out = await gw.store.pageCertificates(q, page);
    res.json({ certificates: out.items.map(certJson), next: out.next });
  });

  r.get("/certificates/:serial", async (req, res) => {
    const rec = await gw.store.getCertificate(normalizeSerial(String(req.params.serial)));
    if (!rec) throw new GatewayError("RA_ERR_NOT_FOUND", "no such certificate");
    const format = str(req.query.format) ?? "json";
    if (format === "json") {
      res.json({ certificate: certJson(rec), pem: rec.der ? derToPem(rec.der) : undefined });
      return;
    }
    if (!rec.der) throw new GatewayError("RA_ERR_NOT_FOUND", "the certificate was never signed");
    if (format === "der") res.type("application/pkix-cert").send(Buffer.from(rec.der));
    else if (format === "pem") res.type("application/x-pem-file").send(derToPem(rec.der));
    else throw new GatewayError("RA_ERR_MALFORMED", "format must be json, pem or der");
  });

  r.post("/certificates/:serial/revoke", async (req, res) => {
    const out = await gw.revocation.revoke(String(req.params.serial), req.body?.reason, actor(req));
    res.json(out);
  });

  r.post("/enroll", async (req, res) => {
    const body = req.body ?? {};
    const days = body.validityDays !== undefined ? Number(body.validityDays) : undefined;
    const notBefore = new Date(Date.now() - 60_000);
    const outcome = await gw.enrollment.enroll({
      requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: req.admin?.name ?? "unknown" },
      profile: str(body.profile), csr: csrBytes(body.csr),
      validity: days ? { notBefore, notAfter: new Date(notBefore.getTime() + days * 86_400_000) } : undefined,
    });
    if (outcome.status === "pending") {
      res.status(202).json({ status: "pending", requestId: outcome.requestId, reason: outcome.reason });
      return;
    }
    const c = outcome.certificate;
    res.status(201).json({ status: "issued", requestId: outcome.requestId, serial: c.serial, certificate: derToPem(c.der), chain: c.chain.map((d) => derToPem(d)) });
  });

  r.get("/approvals", async (req, res) => {
    const status = str(req.query.status) ?? "pending";
    if (status !== "all" && !REQUEST_STATUSES.includes(status as RequestStatus)) throw new GatewayError("RA_ERR_MALFORMED", `status must be all or one of ${REQUEST_STATUSES.join(", ")}`);
    const out = await gw.store.pageRequests(status === "all" ? undefined : status as RequestStatus, pageParams(req));
    res.json({ approvals: out.items.map(({ payload, ...rest }) => ({ ...rest, summary: requestSummary(payload) })), next: out.next });
  });
  r.get("/approvals/:id", async (req, res) => {
    const rec = await gw.store.getRequest(String(req.params.id));
    if (!rec) throw new GatewayError("RA_ERR_NOT_FOUND", "no such request");
    const { payload: _p, ...rest } = rec;
    res.json({ approval: rest });
  });
  r.post("/approvals/:id/approve", async (req, res) => {
    const c = await gw.enrollment.approve(String(req.params.id), actor(req), str(req.body?.comment));
    res.json({ status: "issued", serial: c.serial, certificate: derToPem(c.der) });
  });
  r.post("/approvals/:id/reject", async (req, res) => {
    await gw.enrollment.reject(String(req.params.id), actor(req), str(req.body?.reason) ?? "rejected by an administrator");
    res.json({ status: "rejected" });
  });

  r.get("/audit", async (req, res) => {
    // `after=<seq>` and `cursor=<next>` are the same position: the sequence number of the last event seen.
    // `order=desc` lists newest first (the console's default); its pages follow `cursor` only ("after" would mislead).
    const order = str(req.query.order) ?? "asc";
    if (order !== "asc" && order !== "desc") throw new GatewayError("RA_ERR_MALFORMED", "order must be asc or desc");
    if (order === "desc" && req.query.after !== undefined) throw new GatewayError("RA_ERR_MALFORMED", "with order=desc, page with cursor (the next value of the previous page), not after");
    const page = pageParams(req, req.query.cursor === undefined ? "after" : "cursor");
    const out = await gw.store.pageAudit({ type: str(req.query.type), target: str(req.query.target), order }, page);
    res.json({ events: out.items, next: out.next });
  });
  r.get("/audit/verify", async (_req, res) => {
    res.json(await gw.audit.verify());
  });

  r.post("/enrollment-secrets", async (req, res) => {
    const b = req.body ?? {};
    if (!str(b.profile)) throw new GatewayError("RA_ERR_MALFORMED", "profile is required");
    const protocols = Array.isArray(b.protocols) ? b.protocols.map(String) : undefined;
    res.status(201).json(await secrets.mint({ profile: b.profile, subject: str(b.subject), protocols, ttlMinutes: b.ttlMinutes !== undefined ? Number(b.ttlMinutes) : undefined }, actor(req)));
  });

  // ACME external account binding keys: the MAC key is shown once, in the creation answer.
  const eab = new EabKeys(gw.store.acme, gw.profiles, gw.audit);
  r.post("/acme/eab-keys", async (req, res) => {
    const b = req.body ?? {};
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === "string" ? v.split(",").filter(Boolean) : undefined);
    const profiles = list(b.profiles) ?? (str(b.profile) ? [str(b.profile)!] : undefined);
    if (!profiles?.length) throw new GatewayError("RA_ERR_MALFORMED", "profiles is required");
    const k = await eab.create({ profiles, nameSuffixes: list(b.nameSuffixes), endpoint: str(b.endpoint), ttlHours: b.ttlHours !== undefined ? Number(b.ttlHours) : undefined, createdBy: actor(req) });
    res.status(201).json({ kid: k.kid, hmacKey: k.hmacKey, ...eabJson(k.record) });
  });
  r.get("/acme/eab-keys", async (_req, res) => {
    res.json({ keys: (await gw.store.acme.listEabKeys()).map(eabJson) });
  });
  r.delete("/acme/eab-keys/:kid", async (req, res) => {
    if (!(await gw.store.acme.deleteEabKey(String(req.params.kid)))) throw new GatewayError("RA_ERR_NOT_FOUND", "no such EAB key");
    await gw.audit.record({ type: "acme.eab.deleted", actor: actor(req), target: String(req.params.kid) });
    res.status(204).end();
  });

  r.get("/cas", (_req, res) => {
    res.json({
      cas: gw.cas.all.map((c) => ({
        name: c.name, role: c.role, subject: c.cert.subject.split("\n").join(", "), notAfter: new Date(c.cert.validTo).toISOString(), signer: c.signer.id, algorithm: c.signer.algorithm,
        certificate: derToPem(c.certDer), crl: `${gw.urls.http}/crl/${c.name}.crl`,
      })),
    });
  });
  r.post("/cas/:name/crl", async (req, res) => {
    const ca = gw.cas.find(String(req.params.name));
    if (!ca) throw new GatewayError("RA_ERR_NOT_FOUND", "no such CA");
    const crl = await gw.crls.publish(ca);
    res.json({ ca: ca.name, number: crl.number, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate });
  });

  r.get("/profiles", (_req, res) => {
    res.json({ profiles: gw.profiles.all().map((p) => ({ name: p.name, description: p.description, issuer: p.issuer, protocols: p.protocols, approval: p.approval })) });
  });

  mountReportRoutes(r, gw);
  mountEventRoutes(r, gw);
  mountLifecycleRoutes(r, gw);
  mountConsoleRoutes(r, gw);
  r.use(jsonErrors);
  return r;
}

/** An EAB key as listed: never the MAC key. */
export function eabJson(k: AcmeEabKeyRecord): Record<string, unknown> {
  return { kid: k.id, profiles: k.profiles, nameSuffixes: k.nameSuffixes, endpoint: k.endpoint, createdBy: k.createdBy, createdAt: k.createdAt, expiresAt: k.expiresAt, boundAccount: k.accountId };
}
