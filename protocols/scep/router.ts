import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { GatewayError, toGatewayError, uniformHttpStatus } from "../../src/errors.js";
import { bodyParserError } from "../../src/server/middleware.js";
import { rawBody } from "../est/read-body.js";
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

function text(res: Response, status: number, body: string): void {
  res.status(status).type("text/plain; charset=utf-8").send(`${body}\n`);
}

/** `?message=` of a GET PKIOperation: base64, possibly URL-safe or with spaces where '+' was. */
function messageParam(q: unknown): Uint8Array {
  if (typeof q !== "string" || !q.length) throw new GatewayError("RA_ERR_MALFORMED", "PKIOperation over GET needs a base64 message parameter");
  const b64 = q.replace(/ /g, "+").replace(/-/g, "+").replace(/_/g, "/").replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new GatewayError("RA_ERR_MALFORMED", "the message parameter is not base64");
  return new Uint8Array(Buffer.from(b64, "base64"));
}

/** `/scep`, `/scep/<name>` and the legacy paths, on the plain HTTP listener (RFC 8894 §4). */
export function scepRouter(cfg: ScepConfig, endpoints: Map<string, ScepEndpoint>, deps: OperationDeps): Router {
  const r = express.Router();
  // Only SCEP paths read their body here: the OCSP routes on the same listener parse their own. The lean reader
  // (same cap, same 413) instead of express.raw: its media-type and stream plumbing showed in PKCSReq profiles.
  const raw = rawBody(cfg.maxMessageBytes);

  const handle = async (req: Request, res: Response, name: string) => {
    const ep = endpoints.get(name);
    if (!ep) return text(res, 404, `no SCEP endpoint ${name}`);
    const op = String(req.query.operation ?? "");
    switch (op) {
      case "GetCACaps":
        return text(res, 200, caps(ep));
      case "GetCACert":
        // With an RA, the RA certificate and the CA chain as a degenerate PKCS#7 (RFC 8894 §4.2.1.2).
        res.status(200).type("application/x-x509-ca-ra-cert").send(Buffer.from(cachedCertsOnly([ep.ra.certDer, ep.ca.certDer, ...ep.ca.chain])));
        return;
      case "GetNextCACert":
        if (!ep.nextCaCert) return text(res, 404, "no CA rollover certificate is configured");
        res.status(200).type("application/x-x509-next-ca-cert").send(Buffer.from(await nextCaResponse(ep)));
        return;
      case "PKIOperation": {
        const der = req.method === "POST" ? new Uint8Array(req.body as Buffer) : messageParam(req.query.message);
        if (!der.length) throw new GatewayError("RA_ERR_MALFORMED", "empty PKIOperation message");
        const answer = await pkiOperation(ep, der, deps, req.method);
        // Node's writeHead: express's send would hash every answer for an ETag no SCEP client uses.
        res.writeHead(200, { "Content-Type": "application/x-pki-message", "Content-Length": answer.byteLength }).end(Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength));
        return;
      }
      default:
        return text(res, 400, `unknown SCEP operation "${op.slice(0, 40)}"`);
    }
  };

  const route = (name: (req: Request) => string) => (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== "GET" && req.method !== "POST" && req.method !== "HEAD") return text(res, 405, "SCEP takes GET and POST");
    handle(req, res, name(req)).catch(next);
  };
  r.all("/scep", raw, route(() => cfg.defaultEndpoint));
  r.all("/scep/:name", raw, route((req) => String(req.params.name)));
  for (const p of LEGACY_PATHS) r.all(p, raw, route(() => cfg.defaultEndpoint));
  r.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!req.path.startsWith("/scep") && !LEGACY_PATHS.includes(req.path)) return next(err);
    const e = bodyParserError(err) ?? toGatewayError(err);
    if (e.kind === "internal") req.log.error({ err: err instanceof Error ? err.message : String(err) }, "SCEP request failed");
    text(res, uniformHttpStatus(e) ?? (e.kind === "internal" ? 500 : 400), e.kind === "internal" ? "internal error" : `${e.code}: ${e.message}`);
  });
  return r;
}
