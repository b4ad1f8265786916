import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { GatewayError } from "../../src/errors.js";
import { bodyParserError } from "../../src/server/middleware.js";
import { cachedCertsOnly } from "../../src/cms/signed-data.js";
import type { EstConfig } from "./config.js";
import { csrAttrsFor, encodeCsrAttrs } from "./csr-attrs.js";
import { handleEnroll, type EnrollDeps, type EnrollOp } from "./enroll.js";
import type { EstLabel } from "./label.js";
import { rawBody } from "./read-body.js";
import { sendBase64, sendError, sendText } from "./render.js";

const METHOD: Record<string, "GET" | "POST"> = {
  cacerts: "GET", csrattrs: "GET", simpleenroll: "POST", simplereenroll: "POST", serverkeygen: "POST", fullcmc: "POST",
};

/** `/<op>` or `/<label>/<op>` (one trailing slash tolerated), URL-decoded; undefined for any other shape. */
function splitPath(path: string): { label?: string; op: string } | undefined {
  const parts = (path.endsWith("/") && path.length > 1 ? path.slice(0, -1) : path).split("/");
  if (parts[0] !== "" || parts.length < 2 || parts.length > 3 || parts.slice(1).some((p) => !p)) return undefined;
  try {
    const [a, b] = parts.slice(1).map(decodeURIComponent);
    return b === undefined ? { op: a } : { label: a, op: b };
  } catch {
    return undefined; // malformed percent-encoding
  }
}

/**
 * `/.well-known/est/<op>` and `/.well-known/est/<label>/<op>` (RFC 7030 §3.2.2). One handler splits the path
 * itself and reads the body only for the POST operations (rawBody): express's per-route matching and body
 * parser were a visible share of a simpleenroll's CPU.
 */
export function estRouter(cfg: EstConfig, labels: Map<string, EstLabel>, deps: EnrollDeps): Router {
  const r = express.Router();
  const body = rawBody(cfg.maxBodyBytes);

  const handle = async (req: Request, res: Response, labelName: string, op: string) => {
    const label = labels.get(labelName);
    const method = Object.hasOwn(METHOD, op) ? METHOD[op] : undefined;
    if (!label || !method) return sendText(res, 404, `no EST resource ${req.path}`);
    if (req.method !== method && !(method === "GET" && req.method === "HEAD")) {
      res.set("Allow", method);
      return sendError(res, new GatewayError("RA_ERR_METHOD_NOT_ALLOWED", `${op} takes ${method}`));
    }
    switch (op) {
      case "cacerts":
        return sendBase64(res, "application/pkcs7-mime", cachedCertsOnly([label.ca.certDer, ...label.ca.chain]));
      case "csrattrs":
        if (!label.cfg.csrAttrs) return void res.status(204).end();
        return sendBase64(res, "application/csrattrs", encodeCsrAttrs(csrAttrsFor({ keys: label.profile.keys, challengePassword: label.cfg.popLinking })));
      case "serverkeygen":
        if (!label.cfg.serverKeyGen) return sendText(res, 501, "RA_ERR_NOT_SUPPORTED: server-side key generation is off for this label", { "X-Error-Code": "RA_ERR_NOT_SUPPORTED" });
        return handleEnroll("serverkeygen", label, req, res, deps);
      case "fullcmc":
        return sendText(res, 501, "RA_ERR_NOT_SUPPORTED: /fullcmc (RFC 7030 §4.3) is not implemented; use simpleenroll", { "X-Error-Code": "RA_ERR_NOT_SUPPORTED" });
      default:
        return handleEnroll(op as EnrollOp, label, req, res, deps);
    }
  };

  r.use((req: Request, res: Response, next: NextFunction) => {
    const at = splitPath(req.path);
    if (!at) return sendText(res, 404, `no EST resource ${req.path}`);
    const run = () => handle(req, res, at.label ?? cfg.defaultLabel, at.op).catch(next);
    // The body is read for what may enroll; GET operations and refusals never wait for one.
    if (req.method === "POST" && Object.hasOwn(METHOD, at.op) && METHOD[at.op] === "POST") return body(req, res, (err?: unknown) => (err ? next(err) : void run()));
    void run();
  });
  // Body-parser failures (oversized body) and anything unexpected: plain text, never a crash.
  r.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = sendError(res, bodyParserError(err) ?? err);
    if (e.kind === "internal") req.log.error({ err: err instanceof Error ? err.message : String(err) }, "EST request failed");
  });
  return r;
}
