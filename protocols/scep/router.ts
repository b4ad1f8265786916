import type { IncomingMessage, ServerResponse } from "node:http";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { GatewayError, toGatewayError, uniformHttpStatus } from "../../src/errors.js";
import { noteRefusal } from "../../src/server/request-context.js";
import { bodyParserError, type RequestContext } from "../../src/server/middleware.js";
import { contextOf, isPath, param, queryOf, queryParam, sendLikeExpress } from "../../src/server/plain-http.js";
import { readRequestBody } from "../../src/server/raw-body.js";
import { cachedCertsOnly } from "../../src/cms/signed-data.js";
import type { ScepConfig } from "./config.js";
import type { ScepEndpoint } from "./endpoint.js";
import { nextCaResponse } from "./next-ca.js";
import { pkiOperation, type OperationDeps } from "./operations.js";

/** Paths devices hard-code for the default endpoint (NDES and old Cisco/Windows clients). */
export const LEGACY_PATHS = ["/cgi-bin/pkiclient.exe", "/certsrv/mscep/mscep.dll"];

function caps(ep: ScepEndpoint): string {
  // SHA-384 is verified too; listing it also keeps strongSwan 5.9.8 (Debian 12), which misreads the
  // last line of the list, from concluding that SHA-256 is unsupported.
  const list = ["POSTPKIOperation", "SHA-256", "SHA-384", "SHA-512", "AES", "SCEPStandard", "Renewal"];
  if (ep.nextCaCert) list.push("GetNextCACert");
  // Single DES is never offered: allowSingleDes only tolerates clients that use it whatever the list says.
  if (ep.algorithms.legacy) list.push("SHA-1", "DES3");
  return list.join("\n");
}

function text(req: IncomingMessage, res: ServerResponse, status: number, body: string): void {
  sendLikeExpress(req, res, status, "text/plain; charset=utf-8", `${body}\n`);
}

/** `?message=` of a GET PKIOperation: base64, possibly URL-safe or with spaces where '+' was. */
function messageParam(q: string | undefined): Uint8Array {
  if (typeof q !== "string" || !q.length) throw new GatewayError("RA_ERR_MALFORMED", "PKIOperation over GET needs a base64 message parameter");
  const b64 = q.replace(/ /g, "+").replace(/-/g, "+").replace(/_/g, "/").replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new GatewayError("RA_ERR_MALFORMED", "the message parameter is not base64");
  return new Uint8Array(Buffer.from(b64, "base64"));
}

/**
 * The endpoint a path names: `/scep`, `/scep/<name>` and the legacy paths, matched as express did (case-insensitive,
 * one trailing slash tolerated); null for a malformed percent-encoding, undefined when it is not SCEP's.
 */
export function scepRoute(defaultEndpoint: string, path: string): string | null | undefined {
  if (isPath(path, "/scep")) return defaultEndpoint;
  const name = param(path, "/scep");
  if (name !== undefined) return name;
  return LEGACY_PATHS.some((p) => isPath(path, p)) ? defaultEndpoint : undefined;
}

export type ScepServe = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, endpoint: string | null) => void;

/**
 * SCEP on node's plain req/res (RFC 8894 §4): served ahead of express by the HTTP listener's front, and by the
 * express mount (scepRouter) when the app runs alone. The body is read (lean reader, same cap, same 413; compressed
 * bodies inflated) before the method is checked, as the express route did.
 */
export function scepService(cfg: ScepConfig, endpoints: Map<string, ScepEndpoint>, deps: OperationDeps): ScepServe {
  const handle = async (req: IncomingMessage, res: ServerResponse, name: string, body: Buffer | undefined) => {
    const ep = endpoints.get(name);
    if (!ep) return text(req, res, 404, `no SCEP endpoint ${name}`);
    const query = new URLSearchParams(queryOf(req.url ?? ""));
    const op = queryParam(query, "operation") ?? "";
    switch (op) {
      case "GetCACaps":
        return text(req, res, 200, caps(ep));
      case "GetCACert":
        // With an RA, the RA certificate and the CA chain as a degenerate PKCS#7 (RFC 8894 §4.2.1.2).
        return sendLikeExpress(req, res, 200, "application/x-x509-ca-ra-cert", cachedCertsOnly([ep.ra.certDer, ep.ca.certDer, ...ep.ca.chain]));
      case "GetNextCACert":
        if (!ep.nextCaCert) return text(req, res, 404, "no CA rollover certificate is configured");
        return sendLikeExpress(req, res, 200, "application/x-x509-next-ca-cert", await nextCaResponse(ep));
      case "PKIOperation": {
        const der = req.method === "POST" ? new Uint8Array(body ?? []) : messageParam(queryParam(query, "message"));
        if (!der.length) throw new GatewayError("RA_ERR_MALFORMED", "empty PKIOperation message");
        const answer = await pkiOperation(ep, der, deps, req.method ?? "");
        // No ETag: hashing every answer would serve no SCEP client.
        res.writeHead(200, { "Content-Type": "application/x-pki-message", "Content-Length": answer.byteLength }).end(Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength));
        return;
      }
      default:
        return text(req, res, 400, `unknown SCEP operation "${op.slice(0, 40)}"`);
    }
  };
  const fail = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, err: unknown) => {
    if (res.headersSent) return void res.destroy();
    const e = bodyParserError(err) ?? toGatewayError(err);
    noteRefusal(e.code);
    if (e.kind === "internal") ctx.log.error({ err: err instanceof Error ? err.message : String(err) }, "SCEP request failed");
    if (e.kind === "unavailable" && e.hints?.retryAfterSeconds) res.setHeader("Retry-After", String(e.hints.retryAfterSeconds));
    text(req, res, uniformHttpStatus(e) ?? (e.kind === "internal" ? 500 : e.kind === "unavailable" ? 503 : 400), e.kind === "internal" ? "internal error" : `${e.code}: ${e.message}`);
  };
  return (req, res, ctx, name) => {
    const onError = (e: unknown) => fail(req, res, ctx, e);
    readRequestBody(req, cfg.maxMessageBytes).then((body) => {
      if (req.method !== "GET" && req.method !== "POST" && req.method !== "HEAD") return text(req, res, 405, "SCEP takes GET and POST");
      if (name === null) throw new GatewayError("RA_ERR_MALFORMED", "the endpoint name is not valid percent-encoding");
      return handle(req, res, name, body);
    }).catch(onError);
  };
}

/** The express mount of the same service, for the app used without the listener's front. */
export function scepRouter(defaultEndpoint: string, serve: ScepServe): Router {
  const r = express.Router();
  r.use((req: Request, res: Response, next: NextFunction) => {
    const name = scepRoute(defaultEndpoint, req.path);
    if (name === undefined) return next();
    serve(req, res, contextOf(req), name);
  });
  return r;
}
