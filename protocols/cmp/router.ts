import type { IncomingMessage, ServerResponse } from "node:http";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { GatewayError, toGatewayError, uniformHttpStatus } from "../../src/errors.js";
import { noteRefusal } from "../../src/server/request-context.js";
import { bodyParserError, type RequestContext } from "../../src/server/middleware.js";
import { contextOf, isPath, param, sendLikeExpress } from "../../src/server/plain-http.js";
import { readRequestBody } from "../../src/server/raw-body.js";
import type { CmpConfig } from "./config.js";
import type { CmpDeps } from "./context.js";
import { handleCmp } from "./handler.js";
import type { CmpLabel } from "./label.js";

const BASE = "/.well-known/cmp";

/**
 * The label a path names: `/.well-known/cmp` and `/.well-known/cmp/p/<label>`, matched as express did
 * (case-insensitive, one trailing slash tolerated); null for a malformed percent-encoding, undefined when not CMP's.
 */
export function cmpRoute(defaultLabel: string, path: string): string | null | undefined {
  if (isPath(path, BASE)) return defaultLabel;
  return param(path, `${BASE}/p`);
}

export type CmpServe = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, label: string | null) => void;

const text = (req: IncomingMessage, res: ServerResponse, status: number, body: string) => sendLikeExpress(req, res, status, "text/plain; charset=utf-8", body);

/**
 * RFC 6712 / RFC 9811 HTTP transfer: POST of DER `application/pkixcmp`, answered 200 with a PKIMessage. On node's
 * plain req/res: served ahead of express by the HTTP listener's front, and by the express mount (cmpRouter) when
 * the app runs alone. The body is read (capped, compressed bodies inflated) before any other check, as express.raw did.
 */
export function cmpService(cfg: CmpConfig, labels: Map<string, CmpLabel>, deps: CmpDeps): CmpServe {
  const handle = async (req: IncomingMessage, res: ServerResponse, name: string | null, body: Buffer | undefined) => {
    if (name === null) throw new GatewayError("RA_ERR_MALFORMED", "the label is not valid percent-encoding");
    const label = labels.get(name);
    if (!label) return text(req, res, 404, `no CMP label ${name}\n`);
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      return text(req, res, 405, "CMP takes POST\n");
    }
    const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/pkixcmp") return text(req, res, 415, "Content-Type must be application/pkixcmp\n");
    const answer = await handleCmp(label, new Uint8Array(body ?? []), deps, req.socket.remoteAddress ?? "unknown");
    if (answer.retryAfterSeconds !== undefined) res.setHeader("Retry-After", String(answer.retryAfterSeconds));
    // Straight to node's response: no charset lookup, no ETag hash of the body.
    res.setHeader("Content-Type", "application/pkixcmp");
    res.setHeader("Cache-Control", "no-cache");
    res.setHeader("Content-Length", answer.der.length);
    res.statusCode = 200;
    res.end(answer.der);
  };
  const fail = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, err: unknown) => {
    if (res.headersSent) return void res.destroy();
    const e = bodyParserError(err) ?? toGatewayError(err);
    noteRefusal(e.code);
    if (e.kind === "internal") ctx.log.error({ err: err instanceof Error ? err.message : String(err) }, "CMP request failed");
    text(req, res, uniformHttpStatus(e) ?? (e.kind === "internal" ? 500 : 400), `${e.code}: ${e.kind === "internal" ? "internal error" : e.message}\n`);
  };
  return (req, res, ctx, name) => {
    readRequestBody(req, cfg.maxMessageBytes).then((body) => handle(req, res, name, body)).catch((e: unknown) => fail(req, res, ctx, e));
  };
}

/** The express mount of the same service, for the app used without the listener's front. */
export function cmpRouter(defaultLabel: string, serve: CmpServe): Router {
  const r = express.Router();
  r.use((req: Request, res: Response, next: NextFunction) => {
    const name = cmpRoute(defaultLabel, req.path);
    if (name === undefined) return next();
    serve(req, res, contextOf(req), name);
  });
  return r;
}
