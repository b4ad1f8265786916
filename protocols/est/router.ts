import type { IncomingMessage, ServerResponse } from "node:http";
import express, { type Request, type Response, type Router } from "express";
import { GatewayError } from "../../src/errors.js";
import { bodyParserError, type RequestContext } from "../../src/server/middleware.js";
import { cachedCertsOnly } from "../../src/cms/signed-data.js";
import type { EstConfig } from "./config.js";
import { csrAttrsFor, encodeCsrAttrs } from "./csr-attrs.js";
import { handleEnroll, type EnrollDeps, type EnrollOp } from "./enroll.js";
import type { EstLabel } from "./label.js";
import { contextOf } from "../../src/server/plain-http.js";
import { readRequestBody } from "../../src/server/raw-body.js";
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

/** Serves one EST request; `path` is the part below /.well-known/est ("/" for the base itself). */
export type EstServe = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, path: string) => void;

/**
 * `/.well-known/est/<op>` and `/.well-known/est/<label>/<op>` (RFC 7030 §3.2.2) on node's plain req/res: served
 * ahead of express by the HTTPS listener's front, and by the express mount (estRouter) when the app runs alone.
 * The path is split here and the body read only for the POST operations.
 */
export function estService(cfg: EstConfig, labels: Map<string, EstLabel>, deps: EnrollDeps): EstServe {
  const handle = async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, path: string, labelName: string, op: string, body?: Buffer) => {
    const label = labels.get(labelName);
    const method = Object.hasOwn(METHOD, op) ? METHOD[op] : undefined;
    if (!label || !method) return sendText(res, 404, `no EST resource ${path}`);
    if (req.method !== method && !(method === "GET" && req.method === "HEAD")) {
      res.setHeader("Allow", method);
      return sendError(res, new GatewayError("RA_ERR_METHOD_NOT_ALLOWED", `${op} takes ${method}`));
    }
    switch (op) {
      case "cacerts":
        return sendBase64(res, "application/pkcs7-mime", cachedCertsOnly([label.ca.certDer, ...label.ca.chain]));
      case "csrattrs":
        if (!label.cfg.csrAttrs) return void res.writeHead(204).end();
        return sendBase64(res, "application/csrattrs", encodeCsrAttrs(csrAttrsFor({ keys: label.profile.keys, challengePassword: label.cfg.popLinking })));
      case "fullcmc":
        return sendText(res, 501, "RA_ERR_NOT_SUPPORTED: /fullcmc (RFC 7030 §4.3) is not implemented; use simpleenroll", { "X-Error-Code": "RA_ERR_NOT_SUPPORTED" });
      default:
        if (op === "serverkeygen" && !label.cfg.serverKeyGen) return sendText(res, 501, "RA_ERR_NOT_SUPPORTED: server-side key generation is off for this label", { "X-Error-Code": "RA_ERR_NOT_SUPPORTED" });
        return handleEnroll(op as EnrollOp, label, req, body, res, ctx, deps);
    }
  };
  // Oversized or undecodable bodies and anything unexpected: plain text, never a crash.
  const fail = (res: ServerResponse, ctx: RequestContext, err: unknown) => {
    if (res.headersSent) return void res.destroy();
    const e = sendError(res, bodyParserError(err) ?? err);
    if (e.kind === "internal") ctx.log.error({ err: err instanceof Error ? err.message : String(err) }, "EST request failed");
  };
  return (req, res, ctx, path) => {
    const at = splitPath(path);
    if (!at) return sendText(res, 404, `no EST resource ${path}`);
    const label = at.label ?? cfg.defaultLabel;
    const onError = (e: unknown) => fail(res, ctx, e);
    // The body is read for what may enroll (before any other check, as ever); GET operations never wait for one.
    if (req.method === "POST" && Object.hasOwn(METHOD, at.op) && METHOD[at.op] === "POST") {
      readRequestBody(req, cfg.maxBodyBytes).then((body) => handle(req, res, ctx, path, label, at.op, body)).catch(onError);
      return;
    }
    handle(req, res, ctx, path, label, at.op).catch(onError);
  };
}

/** The express mount of the same service, for the app used without the listener's front. */
export function estRouter(serve: EstServe): Router {
  const r = express.Router();
  r.use((req: Request, res: Response) => serve(req, res, contextOf(req), req.path));
  return r;
}
